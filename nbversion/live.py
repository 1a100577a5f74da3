"""Live models: commit the weights of an in-memory framework model, check a version out into one.

This joins an adapter (which reads and writes named tensors of a Keras, PyTorch or NumPy model)
to the repository (which stores and finds versions); the magics, the panel bridge and the widgets
all go through it. Checkout validates every tensor against the live model before touching it; if
anything fails after that, the model's previous values are put back.

Checkout and status skip work with *fingerprints*: after a commit or a checkout, each live
tensor's fingerprint (the XXH3-128 of the XXH3-128s of its 256 KiB pieces, about 25 GB/s) and
the CID of the same bytes are remembered. A later checkout whose tensor has that CID, and whose
live bytes still have that fingerprint, already holds the version's values: nothing is read for
it. The pieces are the leaves a file is cut into, so a checkout takes the fingerprint of what it
read from the store's checksums of those blocks (each checked as it was read) instead of hashing
the tensor again; the live bytes are always hashed, so a change made in any way (an optimizer,
``tensor.data``, a NumPy view) is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .adapters import Adapter, Plan, adapter_for, adapter_named, check_compatible, signature
from .errors import NbversionError, UnknownRefError
from .formats.tensors import as_tensor, max_abs_difference, same_bytes, tensor_bytes
from .formats.unixfs import CHUNK_SIZE, combine_fingerprint
from .formats.unixfs import fingerprint as file_fingerprint
from .repo import CID, Repo, TensorEntry, Version, tensor_cid

OPTIMIZER_PREFIX = "optimizer/"

#: live tensor name -> (XXH3-128 of its bytes, the CID of those bytes), as of a commit or checkout
Fingerprints = Dict[str, Tuple[bytes, CID]]


class NotAModelError(NbversionError, TypeError):
    """The object is not something any adapter can read weights from."""


def require_adapter(obj: Any, name: str) -> Adapter:
    adapter = adapter_for(obj)
    if adapter is None:
        raise NotAModelError(
            f"{name!r} is a {type(obj).__name__}, not a model nbversion can read: use a Keras model, "
            "a torch.nn.Module, or a dict/list of NumPy arrays."
        )
    return adapter


def metrics_from(value: Any) -> Dict[str, float]:
    """Metrics from a dict of numbers, a dict of per-epoch lists (Keras ``History.history``, last
    value taken) or a Keras ``History`` object."""
    if hasattr(value, "history") and isinstance(value.history, dict):
        value = value.history
    if not isinstance(value, Mapping):
        raise NbversionError(f"Metrics must come from a dict (or a Keras History), not a {type(value).__name__}.")
    out: Dict[str, float] = {}
    for name, v in value.items():
        if isinstance(v, (list, tuple)):
            if not v:
                continue
            v = v[-1]
        out[str(name)] = float(v) if not isinstance(v, (int, float)) else v
    return out


def fingerprint(name: str, array: np.ndarray) -> bytes:
    """The fingerprint of the bytes a commit would store for ``array``: the XXH3-128 of the
    XXH3-128s of its 256 KiB pieces (the leaves of its file)."""
    return file_fingerprint(tensor_bytes(as_tensor(name, array)))


@dataclass
class CommitReport:
    """What a live commit did (``nbversion.present`` renders it)."""

    version: Version
    parent: Optional[Version]
    model: str
    fingerprints: Fingerprints = field(default_factory=dict, repr=False)


@dataclass
class CheckoutReport:
    """What a live checkout did: the version now in the model and what changed."""

    version: Version
    model: str
    replaced: int
    unchanged: int
    max_abs_change: Optional[float]  # the largest change of any value, when asked for (measure_change)
    by_position: bool = False
    optimizer: bool = False
    fingerprints: Fingerprints = field(default_factory=dict, repr=False)


def commit_model(
    repo: Repo,
    obj: Any,
    name: str,
    message: str = "",
    metrics: Optional[Mapping[str, float]] = None,
    *,
    parent: Union[CID, str, None] = None,
    branch: Optional[str] = None,
    tag: Optional[str] = None,
    context: Optional[Mapping[str, Any]] = None,
    optimizer: Any = None,
    allow_empty: bool = False,
    code: Optional[Tuple[bytes, str]] = None,
    environment: Optional[Mapping[str, Any]] = None,
    data: Optional[Mapping[str, Union[str, CID]]] = None,
) -> CommitReport:
    """Commit the live weights of ``obj`` as a new version of model ``name`` (tagged ``tag``, in
    the same transaction).

    ``parent``: the version the model is at (default: the model's HEAD). ``optimizer``: True for
    the model's own optimizer (Keras), or an optimizer object (PyTorch), to store its state too.
    ``allow_empty``: commit even when the weights equal the parent's (refused otherwise).
    ``code`` (the notebook's JSON bytes and the committing cell's id) and ``environment`` are
    recorded with the version (see :meth:`nbversion.Repo.commit`), and ``data`` (role -> data
    version ref) links the data versions it was trained or evaluated on.
    """
    adapter = require_adapter(obj, name)
    weights = adapter.read(obj)
    tensors = dict(weights)
    if optimizer is not None and optimizer is not False:
        tensors.update(adapter.read_optimizer(obj, None if optimizer is True else optimizer))
    architecture = adapter.architecture(obj)
    version = repo.commit(
        tensors, model=name, message=message, metrics=metrics, parents=[parent] if parent is not None else None,
        branch=branch, tag=tag, framework=adapter.name, software=adapter.versions(),
        architecture=architecture, context=context, allow_empty=allow_empty, code=code, environment=environment,
        data=data,
    )  # fmt: skip
    # The commit fingerprinted every tensor it was given (the same fingerprints as ours).
    committed = repo.committed_fingerprints(version.cid)
    if committed is None:
        stored = repo.manifest(version).by_name()
        committed = {n: (fingerprint(n, a), stored[n].data) for n, a in weights.items()}
    prints = {n: committed[n] for n in weights}
    parent_version = repo.version(version.parents[0]) if version.parents else None
    return CommitReport(version, parent_version, name, prints)


def checkout_model(
    repo: Repo,
    ref: Union[str, CID, Version],
    obj: Any,
    name: str,
    *,
    optimizer: Any = None,
    move_head: bool = True,
    known: Optional[Fingerprints] = None,
    remote: Optional[str] = None,
    measure_change: bool = False,
) -> CheckoutReport:
    """Load the version ``ref`` into the live model ``obj``, in place, all or nothing.

    A CID that is not here is loaded from ``remote`` (default: the repository's remote when it
    has one; see :mod:`nbversion.repo.fetch`), fetching only the tensors the model lacks.

    ``known``: the fingerprints of the last commit or checkout of this model; tensors that still
    match them and already hold the version's CID are neither read nor written.

    ``measure_change``: also find the largest change of any value (the report's
    ``max_abs_change``); it reads the old and new values once more, about a third of a
    checkout's time, so it is left out unless asked for (``Repo.diff`` says more, per tensor).
    """
    adapter = require_adapter(obj, name)
    version = ref if isinstance(ref, Version) and ref.cid is not None else _locate(repo, ref, name, remote)
    manifest = repo.manifest(version)
    entries = manifest.by_name()
    weights = {n: e for n, e in entries.items() if not n.startswith(OPTIMIZER_PREFIX)}
    live = adapter.read(obj)
    plan: Plan = check_compatible(signature(live), {n: (e.shape, e.dtype) for n, e in weights.items()})
    opt_plan: Optional[Plan] = None
    if optimizer is not None and optimizer is not False:
        stored_opt = {n: (e.shape, e.dtype) for n, e in entries.items() if n.startswith(OPTIMIZER_PREFIX)}
        if not stored_opt:
            raise NbversionError(f"{version.label} of {name!r} was committed without optimizer state.")
        live_opt = adapter.read_optimizer(obj, None if optimizer is True else optimizer)
        opt_plan = check_compatible(signature(live_opt), stored_opt)
    # Everything fits. Tensors known to hold the version's bytes are skipped; the rest are read
    # (hash-checked) before the model is touched.
    targets = {live_name: weights[stored_name] for live_name, stored_name in plan.pairs.items()}
    prints = _still_matching(live, targets, known or {})
    to_read = [n for n in targets if n not in prints]
    # The store's checksum of each block read is noted: they make the new fingerprints.
    blocks = _BlockNotes({n: targets[n] for n in to_read})
    stored = repo.read_tensors([targets[n] for n in to_read], after=blocks.note)
    new = {n: stored[targets[n].name] for n in to_read}
    del stored
    # Tensors whose bytes differ are written; the comparison stops at the first differing MiB.
    changed = {n: v for n, v in new.items() if not same_bytes(live[n], v)}
    kept = adapter.reads_kept(obj, changed)  # their live arrays stay the old values: no copy needed
    backup = {n: live[n] if n in kept else np.array(live[n], copy=True) for n in changed}
    try:
        adapter.write_donated(obj, changed)  # the arrays were read for this alone: the model may keep them
        if opt_plan is not None:
            opt_stored = repo.read_tensors([entries[s] for s in opt_plan.pairs.values()])
            adapter.write_optimizer(
                obj, {ln: opt_stored[sn] for ln, sn in opt_plan.pairs.items()}, None if optimizer is True else optimizer
            )
    except BaseException:
        adapter.write(obj, backup)  # put back what was there
        raise
    # The largest change, one tensor after another: this is bound by memory traffic, which
    # threads share rather than add to.
    max_abs = (
        max((max_abs_difference(backup[n], v, 1 << 18) for n, v in changed.items() if v.size), default=0.0)
        if measure_change
        else None
    )
    prints.update({n: (blocks.fingerprint(n, v), targets[n].data) for n, v in new.items()})
    # What the model holds now, by stored name: the model's next commit hashes only what changes.
    repo.remember_fingerprints(version, {plan.pairs[n]: p for n, p in prints.items() if n in plan.pairs}, name,
                               entries=manifest.tensors)  # fmt: skip
    if move_head:
        repo.checkout(version)
    return CheckoutReport(
        version, name, len(changed), len(targets) - len(changed), max_abs, plan.by_position, opt_plan is not None, prints
    )


class _BlockNotes:
    """The store's checksum of each block a checkout reads (``note`` runs on the reading
    threads): put together per tensor, they give its fingerprint without hashing it again."""

    def __init__(self, entries: Mapping[str, TensorEntry]) -> None:
        self.by_name = {e.name: n for n, e in entries.items()}
        self.sizes = {n: e.size for n, e in entries.items()}
        self.notes: Dict[str, Dict[int, Tuple[int, bytes]]] = {n: {} for n in entries}  # offset -> (length, checksum)

    def note(self, stored_name: str, offset: int, data: memoryview, blocks: Sequence[Tuple[int, bytes]]) -> None:
        notes = self.notes[self.by_name[stored_name]]  # (a read tried again writes the same)
        for length, checksum in blocks:
            notes[offset] = (length, checksum)
            offset += length

    def fingerprint(self, name: str, array: np.ndarray) -> bytes:
        """The fingerprint of the tensor read as ``array``: from the blocks' checksums when its
        blocks are the 256 KiB pieces a fingerprint hashes, else by hashing it."""
        notes, size = self.notes[name], self.sizes[name]
        pieces = [notes.get(offset) for offset in range(0, size, CHUNK_SIZE)]
        if len(notes) == len(pieces) and all(
            p is not None and p[0] == min(CHUNK_SIZE, size - i * CHUNK_SIZE) for i, p in enumerate(pieces)
        ):
            return combine_fingerprint([p[1] for p in pieces])  # type: ignore[index]
        return fingerprint(name, array)



def _locate(repo: Repo, ref: Union[str, CID], name: str, remote: Optional[str]) -> Version:
    """The version ``ref`` names, fetched from ``remote`` (else the repository's remote) if only there."""
    try:
        return repo.locate(ref, name, remote=remote)
    except UnknownRefError:
        fallback = None if remote else repo.default_remote()
        if fallback is None:
            raise
        return repo.locate(ref, name, remote=fallback)


def _still_matching(live: Mapping[str, np.ndarray], targets: Mapping[str, TensorEntry], known: Fingerprints) -> Fingerprints:
    """The known fingerprints of live tensors that hold exactly their target's bytes (only tensors
    whose remembered CID is the target's are hashed)."""
    out: Fingerprints = {}
    for n, entry in targets.items():
        seen = known.get(n)
        if seen is not None and seen[1] == entry.data and fingerprint(n, live[n]) == seen[0]:
            out[n] = seen
    return out


def open_model(repo: Repo, ref: Union[str, CID], model: Optional[str] = None) -> Any:
    """A new live model rebuilt from a version's recorded architecture, holding its weights.

    Keras only: its architecture is recorded as Keras's own serialized config (data, not code).
    """
    version = repo.show(ref, model)
    obj = adapter_named(version.framework).rebuild(version.architecture)
    checkout_model(repo, version, obj, version.model, move_head=False)
    return obj


def live_matches(repo: Repo, obj: Any, name: str, ref: Union[str, CID], known: Optional[Fingerprints] = None) -> bool:
    """Whether the live weights are bit-for-bit those of version ``ref`` (compared by CID; no
    tensor is read from disk, and tensors matching ``known`` fingerprints are not even hashed)."""
    adapter = require_adapter(obj, name)
    stored = {n: e for n, e in repo.manifest(ref, name).by_name().items() if not n.startswith(OPTIMIZER_PREFIX)}
    live = adapter.read(obj)
    if set(stored) != set(live):
        return False
    matching = _still_matching(live, stored, known or {})
    return all(n in matching or tensor_cid(n, array) == stored[n].data for n, array in live.items())


@dataclass(frozen=True)
class ModelStatus:
    """Where one live model stands: the version it is at, its branch, whether its weights still equal it."""

    name: str
    version: Optional[Version] = None  # None: not committed or checked out in this session
    branch: Optional[str] = None  # None: detached
    live_equal: Optional[bool] = None  # None: the variable is gone


_NOT_MODELS = {"In", "Out", "exit", "quit", "get_ipython"}


def is_model(value: Any) -> bool:
    """Whether ``value`` is a model an adapter handles (a plain dict of arrays does not count)."""
    adapter = adapter_for(value)
    return adapter is not None and adapter.model_like


def models_in(namespace: Mapping[str, Any]) -> Dict[str, Any]:
    """The variables of a namespace that hold models (private names and IPython's own skipped)."""
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_") and name not in _NOT_MODELS and is_model(value)
    }
