"""What a model's last commit stored, remembered so that its next commit hashes only what changed.

A commit of weights hashes every tensor (SHA-256, about 2 GB/s) and encodes a manifest entry for
each. Between two commits of a model in one process most tensors usually keep their values (a
fine-tuned head, one layer unfrozen, a model of many small tensors of which one moved). So each
commit leaves behind, per tensor, its manifest entry and its *fingerprint*
(:func:`nbversion.formats.unixfs.fingerprint`: XXH3-128 over its 256 KiB chunks, about 25 GB/s,
a few hundred nanoseconds for a small tensor), and the leaves its manifest was cut into. The
model's next commit fingerprints each tensor: one whose name, dtype, shape and fingerprint are
the remembered ones takes the remembered entry, so it is neither hashed nor looked up in the
store, and each manifest leaf whose entries were all taken that way is not encoded again.

A checkout is remembered the same way (:func:`remember_fingerprints`: the fingerprints of what it
read, from the store's checksums, or of what the model already held), so a kernel that checks a
version out, tunes a layer and commits hashes that layer alone.

What is remembered was stored or read (and checked) by this process and is compared with this
process's own values, so a fingerprint (not a cryptographic hash) is enough to tell them apart:
two different tensors match by chance once in 2**128. It is used only while its version is in the
repository's index (gc keeps every block of an indexed version, so the entries taken name blocks
that are there), and kept per :class:`~nbversion.repo.Repo` object for the :data:`MODELS` models
committed or checked out last.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

from ..formats.cid import CID
from ..formats.manifests import Leaves
from ..formats.records import TensorEntry, Version

if TYPE_CHECKING:
    from . import Repo

MODELS = 8  #: models whose last commit a Repo object remembers


@dataclass(frozen=True)
class Recent:
    """A model's last commit, as its next commit uses it: each tensor's entry and fingerprint
    (in manifest order) and the manifest's leaves (None: it was one block)."""

    version: Optional[CID]
    entries: Tuple[TensorEntry, ...]
    fingerprints: Tuple[bytes, ...]
    leaves: Optional[Leaves]

    @cached_property
    def _positions(self) -> Dict[str, int]:
        return {e.name: i for i, e in enumerate(self.entries)}

    def taken(self, names: Sequence[str], dtypes: Sequence[str], shapes: Sequence[Tuple[int, ...]],
              fingerprints: Sequence[bytes]) -> List[Optional[TensorEntry]]:  # fmt: skip
        """For each tensor given, the remembered entry if it holds the same bytes, else None."""
        at = self._positions
        out: List[Optional[TensorEntry]] = []
        for name, dtype, shape, print_ in zip(names, dtypes, shapes, fingerprints):
            i = at.get(name)
            if i is None or self.fingerprints[i] != print_:
                out.append(None)
                continue
            entry = self.entries[i]
            out.append(entry if entry.shape == shape and entry.dtype == dtype else None)
        return out


def recall(repo: "Repo", model: str) -> Optional[Recent]:
    """The last commit of ``model`` made through ``repo``, if its version is still indexed."""
    recent: Optional[Recent] = repo._recent.get(model)
    if recent is None or recent.version is None or not repo.index.has_version(recent.version):
        return None
    return recent


def remember(repo: "Repo", model: str, recent: Recent) -> None:
    """Keep ``recent`` as the last commit of ``model`` (forgetting the model committed longest ago)."""
    memory: Dict[str, Recent] = repo._recent
    memory.pop(model, None)
    memory[model] = recent
    while len(memory) > MODELS:
        memory.pop(next(iter(memory)))


def fingerprints(repo: "Repo", version: CID) -> Optional[Dict[str, Tuple[bytes, CID]]]:
    """Each tensor's fingerprint and CID as the commit that made ``version`` through ``repo``
    found them (None if that is not the last commit of its model this Repo object made)."""
    for recent in repo._recent.values():
        if recent.version == version:
            return {e.name: (p, e.data) for e, p in zip(recent.entries, recent.fingerprints)}
    return None


def remember_fingerprints(
    repo: "Repo",
    version: Version,
    fingerprints: Mapping[str, Tuple[bytes, CID]],
    model: Optional[str] = None,
    *,
    entries: Optional[Sequence[TensorEntry]] = None,
) -> None:
    """Remember what a checkout of ``version`` into ``model`` (default: its own) found, as if it
    were that model's last commit:
    ``fingerprints`` maps tensor names to the fingerprint (:func:`~nbversion.formats.unixfs.fingerprint`)
    of the bytes of their entry's CID, as the checkout read them (checked) or knew them. A name
    whose CID is not its entry's in ``version`` is left out. ``entries``: the version's manifest
    entries, when the caller has read them. The model's next commit (a kernel that checked a
    version out, changed a layer, and commits) then hashes only what changed."""
    if version.cid is None or not repo.index.has_version(version.cid):
        return
    if entries is None:  # (a caller that has read the manifest passes its entries)
        entries = repo.manifest(version).tensors
    prints = tuple(
        seen[0] if (seen := fingerprints.get(e.name)) is not None and seen[1] == e.data else b"" for e in entries
    )
    remember(repo, model or version.model, Recent(version.cid, tuple(entries), prints, None))
