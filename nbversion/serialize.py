"""JSON views of versions and repositories, shared by the CLI, the server routes and the panel bridge.

One place decides what a version looks like as JSON, so the shell, REST and the comm protocol agree.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .repo import Repo, TensorDiff
from .version import Manifest, Version

PROTOCOL = 1


def version_json(v: Version) -> Dict[str, Any]:
    """A version as JSON data (CIDs as base32 text)."""
    return {
        "cid": str(v.cid),
        "model": v.model,
        "seq": v.seq,
        "label": v.label,
        "parents": [str(p) for p in v.parents],
        "manifest": str(v.manifest),
        "message": v.message,
        "metrics": v.metrics,
        "time": v.time,
        "author": v.author,
        "framework": v.framework,
        "software": v.software,
        "architecture": v.architecture,
        "context": v.context,
        "tags": list(v.tags),
    }


def version_detail_json(v: Version, manifest: Manifest) -> Dict[str, Any]:
    """A version with its tensors' names, dtypes, shapes, sizes and CIDs."""
    out = version_json(v)
    out["tensors"] = [
        {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "size": t.size, "cid": str(t.data)}
        for t in manifest.tensors
    ]
    return out


def diff_json(d: TensorDiff) -> Dict[str, Any]:
    return {
        "name": d.name,
        "status": d.status,
        "shape_a": list(d.shape_a) if d.shape_a is not None else None,
        "shape_b": list(d.shape_b) if d.shape_b is not None else None,
        "l2": d.l2,
        "max_abs": d.max_abs,
    }


def history_json(repo: Optional[Repo]) -> Dict[str, Any]:
    """Every version of every model, newest first, with each model's HEAD, branches and the tags.

    The architecture (which can be large) is left out of the listing; ``version_detail_json`` has it.
    """
    if repo is None or not repo.exists:
        return {"protocol": PROTOCOL, "repo": str(repo.path) if repo else None, "models": {}, "tags": {}, "versions": []}
    models: Dict[str, Any] = {}
    for model in repo.models():
        branch, head = repo.head(model)
        models[model] = {
            "head": str(head) if head else None,
            "branch": branch,
            "branches": {name.split("/", 1)[1]: str(cid) for name, cid in repo.branches(model).items()},
        }
    versions = []
    for v in repo.log():
        item = version_json(v)
        del item["architecture"]
        versions.append(item)
    return {
        "protocol": PROTOCOL,
        "repo": str(repo.path),
        "models": models,
        "tags": {name: str(cid) for name, cid in repo.tags().items()},
        "versions": versions,
        "fingerprint": repo.fingerprint(),
    }
