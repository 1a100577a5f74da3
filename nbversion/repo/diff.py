"""``diff``: how two versions differ, tensor by tensor.

Tensors with the same CID are equal without reading a byte, and so are the shards of large
manifests (:mod:`nbversion.formats.manifests`); only changed tensors are read, and
their difference is computed in float64 slices (see :func:`nbversion.formats.tensors.difference`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

from ..formats.cid import CID
from ..formats.tensors import difference
from ..formats.records import DATA
from .fetch import locate
from .read import manifest_tree, read_tensors

if TYPE_CHECKING:
    from . import Repo


@dataclass(frozen=True)
class TensorDiff:
    """How one tensor differs between two versions."""

    name: str
    status: str  # 'unchanged', 'changed', 'added', 'removed', 'retyped' (shape or dtype changed)
    shape_a: Optional[Tuple[int, ...]]
    shape_b: Optional[Tuple[int, ...]]
    l2: Optional[float] = None  # L2 norm of (b - a)
    max_abs: Optional[float] = None  # max |b - a|


def diff(
    repo: "Repo", a: Union[str, CID], b: Union[str, CID], model: Optional[str] = None, unchanged: bool = True
) -> List[TensorDiff]:
    """Per tensor, how version ``b`` differs from version ``a``, in name order (only the tensors that
    differ if not ``unchanged``).

    Shards the two manifests share (the same CID: the same entries) are decoded once, and not at
    all if ``unchanged`` is False; so two versions of a large model that differ in a few tensors
    are compared by reading the few shards that hold them. Two data versions are compared item
    by item (:func:`.data.diff_data`)."""
    va, vb = locate(repo, a, model), locate(repo, b, model)
    if va.kind == vb.kind == DATA:
        from .data import diff_data  # (data builds on read, as this module does)

        return diff_data(repo, va, vb, unchanged)
    ta, tb = manifest_tree(repo, va, model), manifest_tree(repo, vb, model)
    sa, sb = ta.shards(), tb.shards()
    shared = {s.cid for s in sa} & {s.cid for s in sb}
    ma = {e.name: e for s in sa if s.cid not in shared for e in ta.entries(s)}
    mb = {e.name: e for s in sb if s.cid not in shared for e in tb.entries(s)}
    out: List[TensorDiff] = []
    for name in set(ma) | set(mb):
        ea, eb = ma.get(name), mb.get(name)
        if ea is None or eb is None:
            status = "added" if ea is None else "removed"
            out.append(TensorDiff(name, status, ea and ea.shape, eb and eb.shape))
        elif ea.data == eb.data and ea.dtype == eb.dtype and ea.shape == eb.shape:
            if unchanged:
                out.append(TensorDiff(name, "unchanged", ea.shape, eb.shape, 0.0, 0.0))
        elif ea.shape != eb.shape or ea.dtype != eb.dtype:
            out.append(TensorDiff(name, "retyped", ea.shape, eb.shape))
        else:
            l2, max_abs = difference(read_tensors(repo, [ea])[name], read_tensors(repo, [eb])[name])
            out.append(TensorDiff(name, "changed", ea.shape, eb.shape, l2, max_abs))
    if unchanged:
        out.extend(
            TensorDiff(e.name, "unchanged", e.shape, e.shape, 0.0, 0.0)
            for s in sa
            if s.cid in shared
            for e in ta.entries(s)
        )
    return sorted(out, key=lambda d: d.name)
