"""Fuzzing every reader of a stranger's bytes: CAR files (and their import), dag-pb/UnixFS,
dag-cbor, version and manifest records, and the refs people type.

One property everywhere: for any input, a reader returns a well-formed result or raises an
:class:`nbversion.NbversionError` subclass (which also inherits ValueError, KeyError, ...). Any
other exception (IndexError, struct.error, OverflowError, RecursionError, MemoryError,
TypeError, UnicodeDecodeError, a bare AssertionError inside nbversion) is a bug, and so is a hang:
inputs are bounded in size, and each example runs under a time limit (:data:`TIME_LIMIT`) that
turns a hang into a failure. An import that fails must leave the repository exactly as it was;
one that succeeds must leave only verified blocks, and versions that load.

Inputs come from hypothesis (https://hypothesis.readthedocs.io): random bytes, structured
generation (protobuf fields, dag-cbor trees, UnixFS DAGs, records field by field) and mutations of
what the project itself writes (a CAR exported by ``Repo.export_car``, its blocks). Mutations are
printed as lists of :class:`Edit` against that sample, so a failure shows a short literal. Each
test also always runs its seed corpus (``@example``): inputs that once broke a reader.

CI runs a fixed seed (derandomized: the same cases every run, a few thousand in all, in well under
a minute; ``--hypothesis-show-statistics`` prints the count and time per test). By hand, run longer:

    NBVERSION_FUZZ_EXAMPLES=50 .venv/bin/python -m pytest tests/test_fuzz.py --hypothesis-show-statistics

``NBVERSION_FUZZ_EXAMPLES`` multiplies every test's number of examples (default 1; fractions work);
``NBVERSION_FUZZ_SEED=N`` draws other cases from seed N instead of the fixed one.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import signal
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import pytest
from hypothesis import Phase, event, example, given, note, seed, settings
from hypothesis import strategies as st

import nbversion
from nbversion.errors import BlockNotFoundError, FormatError, NbversionError
from nbversion.formats import dagcbor, unixfs_dir
from nbversion.formats.car import MAX_SECTION, read_car, write_car
from nbversion.formats.cid import CID, DAG_CBOR, DAG_PB, RAW, read_varint, varint
from nbversion.formats.records import (
    KINDS,
    MANIFEST_FORMAT,
    VERSION_FORMAT,
    Manifest,
    Version,
    decode_manifest,
    decode_version,
)
from nbversion.formats.tensors import ML_DTYPES, NUMPY_DTYPES
from nbversion.formats.unixfs import CHUNK_SIZE, FileLink, PBNode, decode_node, encode_file_node, file_cid, file_leaves

SCALE = float(os.environ.get("NBVERSION_FUZZ_EXAMPLES", "1"))
SEED = os.environ.get("NBVERSION_FUZZ_SEED")
TIME_LIMIT = 5.0  # seconds per example; our inputs are a few hundred KB at most, so anything longer hangs


def fuzz(examples: int) -> Callable:
    """Hypothesis settings for a fuzz test: ``examples`` cases (times NBVERSION_FUZZ_EXAMPLES),
    a fixed seed unless NBVERSION_FUZZ_SEED is set, no deadline (the time limit guards hangs),
    no example database (a run never depends on an earlier one) and no explain phase."""

    def wrap(test: Callable) -> Callable:
        test = settings(
            max_examples=max(1, round(examples * SCALE)),
            deadline=None,
            derandomize=SEED is None,
            database=None,
            print_blob=False,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],  # "explain" reruns slow failures for long
        )(test)
        return seed(int(SEED))(test) if SEED is not None else test

    return wrap


class Hang(Exception):
    """An example ran past :data:`TIME_LIMIT`: a reader that does not stop is a bug too."""


class TooMuchWork(Exception):
    """A reader fetched far more blocks than the DAG holds: its work grows with links, not data."""


@contextmanager
def time_limit(seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Raise :class:`Hang` in the block after ``seconds`` (where SIGALRM exists, on the main thread)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


REFUSED = object()  # what :func:`outcome` returns when the reader refused the input with our error


def outcome(call: Callable, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` under the time limit: its result, or REFUSED if it raised one of
    our errors. Anything else propagates, and hypothesis reports it."""
    with time_limit():
        try:
            return call(*args, **kwargs)
        except NbversionError:
            return REFUSED


# -- edits: mutations of bytes the project wrote, printed as short literals --------------------

#: Varint encodings no writer should produce: over-long, unterminated, non-minimal zero.
WEIRD_VARINTS = (b"\x80" * 9 + b"\x01", b"\xff" * 11, b"\x80", b"\x80\x00", b"\xff\xff\xff\xff\x0f", b"")
INTERESTING = (
    0, 1, 2, 33, 34, 35, 36, 37, 174, 175, 262_144, MAX_SECTION - 1, MAX_SECTION, MAX_SECTION + 1,
    2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**70,
)  # fmt: skip
U64 = tuple(n for n in INTERESTING if n < 2**64)  # those dag-cbor can hold


class Edit(NamedTuple):
    """One change to a byte string. ``kind``: flip (bit ``value % 8``), set (byte ``value``),
    insert (``varint(value)``), delete (``1 + value % 16`` bytes), truncate, varint (the varint at
    the position becomes ``varint(value)``, or ``WEIRD_VARINTS[-value - 1]`` for negative
    ``value``). Position: ``offset`` bytes after structural mark ``mark`` (an index, modulo the
    number of marks), or ``offset`` from the start when ``mark`` is None (modulo the length)."""

    kind: str
    mark: Optional[int]
    offset: int
    value: int


def _encoded(value: int) -> bytes:
    return WEIRD_VARINTS[(-value - 1) % len(WEIRD_VARINTS)] if value < 0 else varint(value)


def apply_edits(data: bytes, edits: Sequence[Edit], marks: Sequence[int] = ()) -> bytes:
    """``data`` with ``edits`` applied in order (positions are clamped to the data's length)."""
    out = bytearray(data)
    for kind, mark, offset, value in edits:
        pos = marks[mark % len(marks)] + offset if mark is not None and marks else offset % (len(data) + 1)
        pos = min(pos, len(out))
        if kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = _encoded(value)
        elif kind == "delete":
            del out[pos : pos + 1 + value % 16]
        elif pos < len(out) and kind == "flip":
            out[pos] ^= 1 << (value % 8)
        elif pos < len(out) and kind == "set":
            out[pos] = value & 0xFF
        elif kind == "varint":
            try:
                end = read_varint(out, pos)[1]
            except NbversionError:
                end = min(pos + 1, len(out))
            out[pos:end] = _encoded(value)
    return bytes(out)


values = st.integers(0, 255) | st.sampled_from(INTERESTING) | st.integers(-len(WEIRD_VARINTS), -1)
kinds = st.sampled_from(("flip", "set", "insert", "delete", "truncate", "varint"))
near_marks = st.builds(Edit, kind=kinds, mark=st.integers(0, 255), offset=st.integers(0, 40), value=values)
anywhere = st.builds(Edit, kind=kinds, mark=st.none(), offset=st.integers(0, 1 << 20), value=values)
edit_lists = st.lists(near_marks | anywhere, min_size=1, max_size=4)
byte_edit_lists = st.lists(anywhere, min_size=1, max_size=4)  # for a block: no marks


# -- generated values --------------------------------------------------------------------------

cids = st.builds(CID, st.sampled_from([RAW, DAG_PB, DAG_CBOR]), st.binary(min_size=32, max_size=32))
texts = st.text(max_size=12) | st.sampled_from(
    ["", "clf", "mine", "keep", "weights", "../../etc", "a/b", "HEAD", "v1", "a\x00b", "\x1b[2J", "best\n", "x" * 10_000]
)  # fmt: skip
scalars = (
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | texts | cids
)  # fmt: skip
json_trees = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts, kids, max_size=4), max_leaves=16
)
#: Beyond what dag-cbor holds: must be refused by encode with our error, never crash it.
hostile_scalars = (
    st.integers(2**64, 2**80) | st.integers(-(2**80), -(2**64) - 1) | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.text(st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=3) | st.binary(max_size=40)
)  # fmt: skip
hostile_trees = st.recursive(
    scalars | hostile_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts, kids, max_size=4),
    max_leaves=16,
)
FIELDS = (
    "format", "model", "parents", "manifest", "message", "metrics", "time", "author", "framework", "software",
    "architecture", "context", "kind", "tensors", "name", "dtype", "shape", "byteorder", "size", "data",
)  # fmt: skip


class FieldEdit(NamedTuple):
    """A change to decoded dag-cbor: at the ``path``-th node (depth first, modulo their count),
    ``set`` it to ``value``, ``drop`` it, or ``add`` ``key: value`` (a map) / ``value`` (a list)."""

    path: int
    op: str
    key: str
    value: Any


field_edits = st.lists(
    st.builds(
        FieldEdit,
        path=st.integers(0, 3) | st.integers(0, 200),
        op=st.sampled_from(["set", "drop", "add"]),
        key=st.sampled_from(FIELDS) | st.sampled_from(FIELDS) | texts,
        value=json_trees,
    ),
    min_size=1,
    max_size=3,
)


def _paths(value: Any, prefix: Tuple = ()) -> Iterator[Tuple]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def apply_field_edits(tree: Any, edits: Sequence[FieldEdit]) -> Any:
    """``tree`` (decoded dag-cbor) with ``edits`` applied."""
    for path_index, op, key, value in edits:
        paths = list(_paths(tree))
        path = paths[path_index % len(paths)]
        parent, node = None, tree
        for step in path:
            parent, node = node, node[step]
        if op == "set" and parent is None:
            tree = value
        elif op == "set":
            parent[path[-1]] = value
        elif op == "drop" and parent is not None:
            del parent[path[-1]]
        elif op == "add" and isinstance(node, dict):
            node[key] = value
        elif op == "add" and isinstance(node, list):
            node.append(value)
    return tree


def reseal(
    roots: Sequence[CID], blocks: Dict[CID, bytes], target: CID, new: bytes
) -> Tuple[List[CID], Dict[CID, bytes]]:
    """The DAG with ``target``'s bytes replaced by ``new`` and every block above it re-hashed and
    re-linked up to the roots, so the change passes every hash check and reaches the decoders."""
    rebuilt: Dict[CID, CID] = {}
    out: Dict[CID, bytes] = {}

    def rebuild(cid: CID) -> CID:
        if cid not in rebuilt:
            block = blocks[cid]
            for child in dagcbor.block_links(cid, block):
                if child in blocks:
                    block = block.replace(bytes(child), bytes(rebuild(child)))
            block = new if cid == target else block
            rebuilt[cid] = CID.hash(cid.codec, block)
            out[rebuilt[cid]] = block
        return rebuilt[cid]

    return [rebuild(r) for r in roots], out


# -- the sample: a repository's export, and a repository to import into --------------------------


class Sample:
    """A CAR the project exported and what it holds; a repository with a model of its own."""

    def __init__(self, car: bytes, roots: List[CID], blocks: Dict[CID, bytes], template: Path) -> None:
        self.car = car
        self.marks = car_marks(car)  # where the CAR's structure lies: every varint, CID field and block start
        self.roots = roots
        self.blocks = blocks  # in file order
        self.template = template  # a closed repository, copied afresh for each import

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing case: keep it short
        return f"Sample(<a CAR of {len(self.blocks)} blocks, {len(self.car):,} bytes>)"


def car_marks(car: bytes) -> Tuple[int, ...]:
    """Offsets of a valid CAR's structure: length prefixes, the header, each CID's fields, each block."""
    length, pos = read_varint(car, 0)
    marks = [0, pos]
    pos += length
    while pos < len(car):
        size, start = read_varint(car, pos)
        marks += [pos, start, start + 1, start + 2, start + 3, start + 36]
        pos = start + size
    return tuple(marks)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    where = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    w = {
        "dense/kernel": rng.normal(size=(8, 4)).astype(np.float32),
        "dense/bias": np.zeros(4, np.float32),
        "embed/table": np.arange(65_537, dtype=np.float32),  # 262,148 bytes: two leaves under a dag-pb node
        "step": np.array(3, np.int64),
    }
    with nbversion.Repo(where / "source") as repo:
        repo.commit(w, model="clf", message="one", metrics={"acc": 0.5}, architecture={"layers": [8, 4]})
        repo.commit(dict(w, **{"dense/kernel": w["dense/kernel"] + 1}), model="clf", message="two")
        repo.export_car("clf", where / "clf.car")
    with nbversion.Repo(where / "template") as repo:
        repo.commit({"w": np.ones(3, np.float32)}, model="mine", tag="keep")
    car = (where / "clf.car").read_bytes()
    roots, blocks = read_car(io.BytesIO(car))
    return Sample(car, roots, dict(blocks), where / "template")


@contextmanager
def fresh_repo(template: Path) -> Iterator[nbversion.Repo]:
    """A copy of the template repository, removed afterwards."""
    where = Path(tempfile.mkdtemp(dir=template.parent))
    shutil.copytree(template, where / "repo")
    try:
        with nbversion.Repo(where / "repo") as repo:
            yield repo
    finally:
        shutil.rmtree(where)


def state(repo: nbversion.Repo) -> tuple:
    """Everything an import could change: versions, refs, stored blocks."""
    return (
        [v.cid for v in repo.log()], repo.fingerprint(), repo.tags(), repo.branches(),
        sorted(str(c) for c in repo.store.cids()),
    )  # fmt: skip


def import_holds(repo: nbversion.Repo, car: bytes, strict: bool = False) -> Any:
    """Import ``car``: refused with our error and nothing changed, or imported with every block
    verified (fsck healthy) and every imported version loadable (``strict``: exactly as its
    manifest says, names unique, bytes matching each tensor's CID). Returns the outcome."""
    path = repo.path.parent / "in.car"
    path.write_bytes(car)
    before = state(repo)
    result = outcome(repo.import_car, path)
    event("refused" if result is REFUSED else "imported")  # shown by --hypothesis-show-statistics
    if result is REFUSED:
        assert state(repo) == before, "a refused import changed the repository"
        return result
    with time_limit():
        report = repo.fsck()
    assert report.ok, f"fsck after a successful import: {report}"
    for version in result:
        for cid in repo.version_blocks(version):
            assert repo.store.has(cid)
        manifest = outcome(repo.manifest, version)
        loaded = outcome(repo.load, version.cid)
        if strict:
            assert manifest is not REFUSED and loaded is not REFUSED, "an imported version does not load"
            names = [e.name for e in manifest.tensors]
            assert len(set(names)) == len(names), f"duplicate tensor names imported: {names}"
            for entry in manifest.tensors:
                array = loaded[entry.name]
                assert array.shape == entry.shape and array.dtype.name == entry.dtype and array.nbytes == entry.size
                assert file_cid(array.tobytes()) == entry.data, f"tensor {entry.name!r} does not match its CID"
    return result


# -- CAR ---------------------------------------------------------------------------------------


def read_all(data: bytes) -> Tuple[List[CID], List[Tuple[CID, bytes]]]:
    roots, blocks = read_car(io.BytesIO(data))
    return roots, list(blocks)


def check_car(data: bytes) -> None:
    result = outcome(read_all, data)
    if result is not REFUSED:
        roots, blocks = result
        assert all(isinstance(r, CID) for r in roots)
        assert all(isinstance(c, CID) and c.verify(b) for c, b in blocks)


@st.composite
def car_like(draw: st.DrawFn) -> bytes:
    """A CAR header (valid or not) and sections with random lengths, CIDs and blocks."""
    header = draw(
        st.fixed_dictionaries({"roots": st.lists(cids, max_size=3), "version": st.just(1)}).map(dagcbor.encode)
        | json_trees.map(lambda t: outcome(dagcbor.encode, t)).filter(lambda b: b is not REFUSED)
    )
    out = _encoded(draw(st.just(len(header)) | values)) + header
    for _ in range(draw(st.integers(0, 4))):
        block = draw(st.binary(max_size=64))
        cid = draw(cids.map(bytes) | st.binary(max_size=40) | st.just(bytes(CID.hash(RAW, block))))
        out += _encoded(draw(st.just(len(cid) + len(block)) | values)) + cid + block
    return out


@fuzz(700)
@given(st.binary(max_size=600) | car_like())
@example(b"")
@example(varint(2**64 - 1))
@example(b"\x01\xa0")
@example(varint(17) + dagcbor.encode({"roots": [], "version": 1}) + varint(2**63))
def test_read_car_of_random_bytes_yields_verified_blocks_or_refuses(data):
    check_car(data)


@fuzz(700)
@given(edit_lists)
def test_read_car_of_a_mutated_export_yields_verified_blocks_or_refuses(sample, edits):
    check_car(apply_edits(sample.car, edits, sample.marks))


@fuzz(200)
@given(edit_lists)
def test_import_of_a_mutated_export_imports_verified_blocks_or_changes_nothing(sample, edits):
    with fresh_repo(sample.template) as repo:
        import_holds(repo, apply_edits(sample.car, edits, sample.marks))


@fuzz(250)
@given(st.integers(0, 63), byte_edit_lists | field_edits)
@example(0, [FieldEdit(0, "add", "kind", [])])  # block 0 is the root version
def test_import_of_a_resealed_mutation_imports_verified_blocks_or_changes_nothing(sample, which, edits):
    """One block changed and every block above it re-hashed: the change passes every hash check
    and reaches the version, manifest and UnixFS decoders of the import."""
    byte_edits = isinstance(edits[0], Edit)
    targets = [c for c in sample.blocks if byte_edits or c.codec == DAG_CBOR]  # field edits: records only
    target = targets[which % len(targets)]
    block = sample.blocks[target]
    if byte_edits:
        new = apply_edits(block, edits)
    else:
        new = outcome(dagcbor.encode, apply_field_edits(dagcbor.decode(block), edits))
        if new is REFUSED:
            return
    roots, blocks = reseal(sample.roots, sample.blocks, target, new)
    out = io.BytesIO()
    write_car(out, roots, blocks.items())
    note(f"{target} -> {new!r}"[:2000])
    with fresh_repo(sample.template) as repo:
        import_holds(repo, out.getvalue())


def test_the_harness_reseals_a_changed_block_into_a_car_whose_hashes_all_hold(sample):
    """The resealed mutations above reach the decoders only if :func:`reseal` keeps every block."""
    manifest = next(c for c, b in sample.blocks.items() if c.codec == DAG_CBOR and b"tensors" in b)
    same_roots, same = reseal(sample.roots, sample.blocks, manifest, sample.blocks[manifest])
    assert same_roots == sample.roots and same == sample.blocks
    changed = dagcbor.decode(sample.blocks[manifest])
    changed["tensors"].reverse()
    roots, blocks = reseal(sample.roots, sample.blocks, manifest, dagcbor.encode(changed))
    assert roots != sample.roots and len(blocks) == len(sample.blocks)
    out = io.BytesIO()
    write_car(out, roots, blocks.items())
    with fresh_repo(sample.template) as repo:
        (repo.path.parent / "in.car").write_bytes(out.getvalue())
        assert repo.import_car(repo.path.parent / "in.car")[-1].cid == roots[0] and repo.fsck().ok


dims = st.integers(0, 4) | st.sampled_from([2**31, 2**40, 2**63 - 1, 2**64 - 1])
dtypes = st.sampled_from(sorted(NUMPY_DTYPES)) | st.sampled_from(["object", "V8", "<f4", "U4", "bfloat16", ""])


@st.composite
def stranger_cars(draw: st.DrawFn) -> bytes:
    """A CAR of one version whose manifest a stranger wrote: honest entries (shape x dtype = size =
    the data's length) and ones that lie about a size, a shape, a dtype or a name."""
    blocks: Dict[CID, bytes] = {}
    tensors = []
    for _ in range(draw(st.integers(0, 3))):
        dtype = draw(dtypes)
        shape = draw(st.lists(dims, max_size=3))
        itemsize = np.dtype(dtype).itemsize if dtype in NUMPY_DTYPES else 1
        honest = math.prod(shape) * itemsize
        length = draw(st.just(honest if honest <= 4096 else 64) | st.integers(0, 300))
        payload = (bytes(range(256)) * (length // 256 + 1))[:length]
        data = CID.hash(RAW, payload)
        blocks[data] = payload
        tensors.append({
            "name": draw(st.sampled_from(["w", "b", "dense/kernel"]) | texts),
            "dtype": dtype, "shape": shape, "byteorder": "little",
            "size": draw(st.just(len(payload)) | st.just(min(honest, 2**64 - 1)) | st.sampled_from(U64)),
            "data": data,
        })  # fmt: skip
    manifest = dagcbor.encode({"format": MANIFEST_FORMAT, "tensors": tensors})
    mcid = CID.hash(DAG_CBOR, manifest)
    version = dagcbor.encode({
        "format": VERSION_FORMAT, "model": draw(st.just("clf") | texts), "parents": [], "manifest": mcid,
        "message": draw(texts), "metrics": {}, "time": "", "author": "", "framework": "", "software": {},
        "architecture": None, "context": {},
    })  # fmt: skip
    vcid = CID.hash(DAG_CBOR, version)
    out = io.BytesIO()
    write_car(out, [vcid], [(vcid, version), (mcid, manifest), *blocks.items()])
    return out.getvalue()


@fuzz(200)
@given(stranger_cars())
def test_import_of_a_strangers_manifest_refuses_it_or_yields_versions_that_load_as_declared(sample, car):
    note(repr([dagcbor.decode(b) for c, b in read_all(car)[1] if c.codec == DAG_CBOR]))
    with fresh_repo(sample.template) as repo:
        import_holds(repo, car, strict=True)


# -- dag-pb / UnixFS ---------------------------------------------------------------------------


def well_formed_node(node: PBNode) -> None:
    assert all(isinstance(c, CID) and isinstance(t, int) and t >= 0 for c, t in node.links)
    assert node.unixfs_type is None or isinstance(node.unixfs_type, int)
    assert node.filesize is None or isinstance(node.filesize, int)
    assert all(isinstance(s, int) for s in node.blocksizes) and isinstance(node.inline_data, bytes)


@st.composite
def protobuf(draw: st.DrawFn, depth: int = 2) -> bytes:
    """Protobuf fields with random numbers, wire types and (for links and data) nested messages."""
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        field, wire = draw(st.integers(0, 6)), draw(st.sampled_from([0, 2, 2, 2, 1, 3, 5, 7]))
        out += varint(field << 3 | wire)
        if wire == 0:
            out += _encoded(draw(values))
        elif wire == 2:
            payload = draw(
                st.binary(max_size=40) | cids.map(bytes) | (protobuf(depth - 1) if depth else st.binary(max_size=8))
            )
            out += _encoded(draw(st.just(len(payload)) | values)) + payload
        else:
            out += draw(st.binary(max_size=8))
    return out


@fuzz(700)
@given(st.binary(max_size=300) | protobuf())
@example(b"\x12\xff\xff\xff")
@example(b"\x0b")
@example(b"\x12\x04\x0a\x02\x12\x00")
def test_decode_node_of_random_bytes_is_well_formed_or_refused(block):
    node = outcome(decode_node, block)
    if node is not REFUSED:
        well_formed_node(node)


sizes = st.integers(0, 300) | st.sampled_from(INTERESTING)


@fuzz(500)
@given(st.lists(st.tuples(cids, sizes, sizes), min_size=1, max_size=6), byte_edit_lists)
def test_decode_node_of_mutated_file_nodes_is_well_formed_or_refused(links, edits):
    block = apply_edits(encode_file_node([FileLink(c, t, f) for c, t, f in links]), edits)
    node = outcome(decode_node, block)
    if node is not REFUSED:
        well_formed_node(node)


class NodeRecipe(NamedTuple):
    """A UnixFS file node: its links as (child, Tsize, filesize) where child >= 0 picks a node of
    the level below (modulo) and child < 0 any earlier block or a stranger (absent, not a file),
    and filesize None is the child's real size; the links repeated ``repeat`` times, as a DAG bomb
    does; then ``edits`` applied to the encoded node."""

    links: List[Tuple[int, int, Optional[int]]]
    repeat: int
    edits: List[Edit]


class DagRecipe(NamedTuple):
    """A DAG built bottom up with encode_file_node: raw ``leaves`` as (fill byte, length), then
    ``levels`` of nodes; ``root`` indexes every block made (modulo; -1 is the last node)."""

    leaves: List[Tuple[int, int]]
    levels: List[List[NodeRecipe]]
    root: int


def _filesize(cid: CID, store: Dict[CID, bytes]) -> int:
    """What a block says its file's size is (0 when absent or unreadable)."""
    if cid.codec == RAW:
        return len(store.get(cid, b""))
    try:
        return decode_node(store[cid]).filesize or 0
    except Exception:  # absent, or a decoder bug: the decode_node tests report those, not the generator
        return 0


def build_dag(recipe: DagRecipe) -> Tuple[CID, Dict[CID, bytes]]:
    """The root and blocks a :class:`DagRecipe` describes."""
    store: Dict[CID, bytes] = {}
    pool = [CID.hash(DAG_CBOR, b"\xa0"), CID.hash(RAW, b"absent"), CID.hash(DAG_PB, b"absent")]
    store[pool[0]] = b"\xa0"
    below = []
    for fill, length in recipe.leaves:
        block = bytes([fill]) * length
        below.append(CID.hash(RAW, block))
        store[below[-1]] = block
    made = list(below)
    for level in recipe.levels:
        pool += below
        here = []
        for links, repeat, edits in level:
            children = []
            for child, tsize, filesize in links:
                cid = below[child % len(below)] if child >= 0 else pool[(-child - 1) % len(pool)]
                children.append(FileLink(cid, tsize, _filesize(cid, store) if filesize is None else filesize))
            block = apply_edits(encode_file_node(children * repeat), edits)
            here.append(CID.hash(DAG_PB, block))
            store[here[-1]] = block
        below = here
        made += here
    return made[recipe.root % len(made)], store


leaf_specs = st.tuples(st.integers(0, 255), st.integers(0, 64) | st.just(CHUNK_SIZE))
repeats = st.integers(1, 2) | st.integers(40, 46)  # 46**3 leaves from a handful of blocks: a small bomb
honest_nodes = st.builds(
    NodeRecipe, st.lists(st.tuples(st.integers(0, 3), sizes, st.none()), min_size=1, max_size=3), repeats, st.just([])
)
hostile_nodes = st.builds(
    NodeRecipe,
    st.lists(st.tuples(st.integers(-8, 3), sizes, st.none() | sizes), min_size=1, max_size=3),
    repeats,
    st.just([]) | byte_edit_lists,
)


def dags(nodes: st.SearchStrategy, root: st.SearchStrategy) -> st.SearchStrategy:
    levels = st.lists(st.lists(nodes, min_size=1, max_size=3), min_size=1, max_size=3)
    return st.builds(DagRecipe, st.lists(leaf_specs, min_size=1, max_size=4), levels, root)


#: Honest DAGs (true sizes, links to the level below, perhaps repeated) and hostile ones.
dag_recipes = dags(honest_nodes, st.just(-1)) | dags(hostile_nodes, st.integers(-3, 20))


@fuzz(500)
@given(dag_recipes)
@example(DagRecipe([(0, CHUNK_SIZE)], [[NodeRecipe([(0, 0, None)], 46, [])]] * 3, -1))  # 46**3 links to 1 chunk
def test_file_leaves_of_generated_dags_are_raw_and_add_up_or_refused_with_bounded_work(recipe):
    """Every result is raw leaves whose lengths add up to the root's size, found with work that
    grows with the distinct blocks (a DAG that repeats links is not expanded link by link)."""
    root, store = build_dag(recipe)
    budget = 16 * len(store) + 16
    fetched = 0

    def get(cid: CID) -> bytes:
        nonlocal fetched
        fetched += 1
        if fetched > budget:
            raise TooMuchWork(f"{fetched} block reads for a DAG of {len(store)} blocks")
        if cid not in store:
            raise BlockNotFoundError(f"No block {cid}.")
        return store[cid]

    leaves = outcome(file_leaves, root, get, lambda cid: len(get(cid)))
    event("refused" if leaves is REFUSED else "read")
    if leaves is not REFUSED:
        assert all(isinstance(c, CID) and c.codec == RAW and isinstance(n, int) and n >= 0 for c, n in leaves)
        declared = len(store[root]) if root.codec == RAW else decode_node(store[root]).filesize
        assert sum(n for _, n in leaves) == declared


# -- dag-cbor and the records ------------------------------------------------------------------

#: CBOR heads nested deeper than any stack: arrays, maps, tags.
deep_cbor = st.builds(
    lambda head, n: head * n + b"\x00",
    st.sampled_from([b"\x81", b"\xa1\x61a", b"\xd8\x2a", b"\x9f"]),
    st.integers(1, 100_000),
)


@fuzz(700)
@given(st.binary(max_size=300) | deep_cbor, st.sampled_from([RAW, DAG_PB, DAG_CBOR]))
@example(b"\x81" * 100_000 + b"\x00", DAG_CBOR)
@example(b"\xd8\x2a\x40", DAG_CBOR)
@example(b"\xd8\x2a\x41\x00", DAG_CBOR)
@example(b"\xfb\x80\x00\x00\x00\x00\x00\x00\x00", DAG_CBOR)  # -0.0
def test_dagcbor_decode_and_block_links_of_random_bytes_return_or_refuse(block, codec):
    value = outcome(dagcbor.decode, block)
    if value is not REFUSED:
        assert all(isinstance(c, CID) for c in outcome(lambda: list(dagcbor.cbor_links(value))))
    links = outcome(dagcbor.block_links, CID.hash(codec, block), block)
    assert links is REFUSED or all(isinstance(c, CID) for c in links)


def _plain(value: Any) -> Any:
    """``value`` as dag-cbor decodes it: CIDs as their bytes, tuples as lists."""
    if isinstance(value, CID):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cids_in(value: Any) -> Iterator[CID]:
    if isinstance(value, CID):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _cids_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _cids_in(v)


@fuzz(500)
@given(json_trees)
def test_dagcbor_round_trips_generated_trees_and_finds_their_links(tree):
    block = dagcbor.encode(tree)
    assert dagcbor.decode(block) == _plain(tree)
    assert Counter(dagcbor.block_links(CID.hash(DAG_CBOR, block), block)) == Counter(_cids_in(tree))


@fuzz(300)
@given(hostile_trees)
def test_dagcbor_encode_of_anything_json_like_returns_bytes_or_refuses(tree):
    block = outcome(dagcbor.encode, tree)
    if block is not REFUSED:
        assert isinstance(block, bytes) and outcome(dagcbor.decode, block) is not REFUSED


def well_formed_version(version: Version) -> None:
    for name in ("model", "message", "time", "author", "framework"):
        assert isinstance(getattr(version, name), str)
    assert all(isinstance(p, CID) and p.codec == DAG_CBOR for p in version.parents)
    assert isinstance(version.manifest, CID) and version.kind in KINDS
    for name, value in version.metrics.items():
        assert isinstance(name, str) and type(value) in (int, float) and math.isfinite(value)
    assert isinstance(version.software, dict) and isinstance(version.context, dict)
    assert all(isinstance(r, str) and isinstance(c, CID) and c.codec == DAG_CBOR for r, c in version.data.items())
    if version.code is not None:
        assert version.code.notebook.codec in (RAW, DAG_PB) and isinstance(version.code.cell, str)
    assert version.environment is None or version.environment.codec == DAG_CBOR


def well_formed_manifest(manifest: Manifest) -> None:
    """Types, and the consistency every reader relies on: known dtypes, unique names,
    size = prod(shape) x itemsize (issue 9, finding 4)."""
    for entry in manifest.tensors:
        assert isinstance(entry.name, str) and entry.byteorder == "little"
        assert entry.dtype in NUMPY_DTYPES | ML_DTYPES, f"a manifest entry of dtype {entry.dtype!r}"
        assert all(type(d) is int and d >= 0 for d in entry.shape)
        assert type(entry.size) is int and entry.size >= 0, f"a manifest entry of size {entry.size}"
        if entry.dtype in NUMPY_DTYPES:
            expected = math.prod(entry.shape) * np.dtype(entry.dtype).itemsize
            assert entry.size == expected, f"{entry.size} bytes for shape {entry.shape} of {entry.dtype}"
        assert isinstance(entry.data, CID) and entry.data.codec in (RAW, DAG_PB)
    names = [e.name for e in manifest.tensors]
    assert len(set(names)) == len(names), f"duplicate tensor names: {names}"


def check_records(block: bytes) -> None:
    version = outcome(decode_version, block)
    if version is not REFUSED:
        well_formed_version(version)
    manifest = outcome(decode_manifest, block)
    if manifest is not REFUSED:
        well_formed_manifest(manifest)


@fuzz(500)
@given(st.binary(max_size=300))
def test_records_decode_random_bytes_or_refuse(block):
    check_records(block)


class Drop:
    """Marks a field to remove in a :data:`tamperings` change."""

    def __repr__(self) -> str:
        return "DROP"


DROP = Drop()
numbers = st.integers(-(2**64), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
#: What a tampered field becomes: any type, and the edge values of each.
field_values = (
    json_trees | cids | st.lists(cids, max_size=2)
    | st.sampled_from([None, True, 0, -1, 2**64 - 1, -(2**64), 0.5, "", "weights", "little", [], {}, [[]], {"": None}])
)  # fmt: skip
VERSION_KEYS = FIELDS[:13] + ("data", "code", "environment")  # format ... kind, and the links
MANIFEST_KEYS = ("format", "tensors", "name", "dtype", "shape", "byteorder", "size", "data")


def tamperings(keys: Sequence[str]) -> st.SearchStrategy:
    """Changes to a record: (where: -1 the record, k its k-th tensor entry; field; new value or DROP)."""
    change = st.tuples(
        st.integers(-1, 2), st.sampled_from(keys) | st.sampled_from(keys) | texts, st.just(DROP) | field_values
    )
    return st.lists(change, min_size=1, max_size=3)


@st.composite
def version_records(draw: st.DrawFn) -> Dict[str, Any]:
    """A version record with every field of the right type (values from hostile alphabets)."""
    return {
        "format": VERSION_FORMAT, "model": draw(texts), "parents": draw(st.lists(cids, max_size=2)),
        "manifest": draw(cids), "message": draw(texts), "metrics": draw(st.dictionaries(texts, numbers, max_size=3)),
        "time": draw(texts), "author": draw(texts), "framework": draw(texts),
        "software": draw(st.dictionaries(texts, texts, max_size=2)), "architecture": draw(json_trees),
        "context": draw(st.dictionaries(texts, json_trees, max_size=2)),
        **draw(st.fixed_dictionaries({}, optional={
            "data": st.dictionaries(st.sampled_from(["train", "test", "../x", ""]) | texts, cids, max_size=2),
            "code": st.fixed_dictionaries({"notebook": cids, "cell": texts}),
            "environment": cids,
        })),
    }  # fmt: skip


@st.composite
def manifest_records(draw: st.DrawFn) -> Dict[str, Any]:
    """A weights manifest whose entries are consistent (size = prod(shape) x itemsize)."""
    tensors = []
    for _ in range(draw(st.integers(0, 3))):
        dtype = draw(st.sampled_from(sorted(NUMPY_DTYPES)))
        shape = draw(st.lists(st.integers(0, 6) | st.sampled_from([2**31, 2**40]), max_size=3))
        size = math.prod(shape) * np.dtype(dtype).itemsize
        tensors.append({
            "name": draw(st.sampled_from(["w", "dense/kernel", "a/../b", "./x", "w"]) | texts), "dtype": dtype,
            "shape": shape, "byteorder": "little", "size": min(size, 2**64 - 1), "data": draw(cids),
        })  # fmt: skip
    return {"format": MANIFEST_FORMAT, "tensors": tensors}


def tamper(record: Dict[str, Any], changes: Sequence[Tuple[int, str, Any]]) -> Dict[str, Any]:
    """``record`` with :data:`tamperings` applied (an entry index past the last names the record)."""
    record = _plain(record)
    for where, key, value in changes:
        entries = record.get("tensors")
        target = entries[where] if where >= 0 and isinstance(entries, list) and where < len(entries) else record
        if not isinstance(target, dict):
            continue
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = _plain(value)
    return record


A_VERSION = {
    "format": VERSION_FORMAT, "model": "clf", "parents": [], "manifest": CID.hash(DAG_CBOR, b"\xa0"), "message": "",
    "metrics": {}, "time": "", "author": "", "framework": "", "software": {}, "architecture": None, "context": {},
}  # fmt: skip
A_TENSOR = {"name": "w", "dtype": "float32", "shape": [2], "byteorder": "little", "size": 8, "data": CID.hash(RAW, b"")}


@fuzz(700)
@given(
    st.tuples(version_records(), tamperings(VERSION_KEYS)) | st.tuples(manifest_records(), tamperings(MANIFEST_KEYS))
)
@example((A_VERSION, [(-1, "kind", [])]))
@example(({"format": MANIFEST_FORMAT, "tensors": [A_TENSOR]}, [(0, "size", -1)]))
@example(({"format": MANIFEST_FORMAT, "tensors": [A_TENSOR, A_TENSOR]}, []))
def test_records_decode_tampered_records_or_refuse(case):
    """Records right in every field but a few: each check of the decoders gets reached."""
    record, changes = case
    block = outcome(dagcbor.encode, tamper(record, changes))
    if block is not REFUSED:
        check_records(block)


@fuzz(500)
@given(st.integers(0, 63), byte_edit_lists | field_edits)
def test_records_decode_mutated_real_blocks_or_refuse(sample, which, edits):
    records = [b for c, b in sample.blocks.items() if c.codec == DAG_CBOR]
    block = records[which % len(records)]
    if isinstance(edits[0], Edit):
        check_records(apply_edits(block, edits))
    else:
        mutated = outcome(dagcbor.encode, apply_field_edits(dagcbor.decode(block), edits))
        if mutated is not REFUSED:
            check_records(mutated)


# -- refs --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refs_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[nbversion.Repo, List[str]]]:
    """Two models, a branch, tags; and the text of every version's CID."""
    repo = nbversion.Repo(tmp_path_factory.mktemp("refs") / ".nbversion")
    one = {"w": np.zeros(3, np.float32)}
    repo.commit(one, model="clf", tag="best")
    repo.commit({"w": np.ones(3, np.float32)}, model="clf")
    repo.checkout("clf~1")
    repo.commit({"w": np.full(3, 2, np.float32)}, model="clf")  # branch from-v1
    repo.commit(one, model="m2", tag="main-ish")
    cids_text = [str(v.cid) for v in repo.log()]
    yield repo, cids_text
    repo.close()


class Part(NamedTuple):
    """The first ``length`` characters of the ``which``-th version's CID (modulo their count)."""

    which: int
    length: int


ref_names = st.sampled_from([
    "clf", "m2", "best", "main-ish", "HEAD", "main", "from-v1", "clf/main", "clf/from-v1", "m2/main", "clf/",
    "/main", "/", "-", ".", "..", "bafy", "bafk", "bafyrei", "Qm", "z", "f01", "b", "B", "", "a" * 10_000,
])  # fmt: skip
#: Characters that break naive text handling: controls, surrogates, invisible, bidi, non-ASCII digits.
hostile_chars = st.sampled_from([
    "\n", "\r", "\t", "\x00", "\x1b[2J", "\x7f", "\u200b", "\u202e", "\ufeff", "\ud800", "\udfff", "é", "e\u0301",
    "٣", "１", "ꙮ", "😀", "%", "_", "*", "'", '"', "\\", " ",
])  # fmt: skip
#: What follows ``v`` or ``~``: numbers, huge numbers, non-ASCII digits, signs, nothing.
ref_numbers = st.integers(0, 10**6).map(str) | st.sampled_from(
    ["", "0", "1", "3", "9" * 30, "9" * 5000, "١", "٣", "１", "-1", "+1", " 1", "1 ", "0x1", "1_0", "½"]
)
cid_texts = cids.map(str) | cids.map(lambda c: "f" + bytes(c).hex()) | cids.map(lambda c: str(c).upper())
ref_pieces = st.one_of(
    ref_names, hostile_chars, hostile_chars, ref_numbers.map(lambda n: "v" + n), cid_texts,
    st.builds(Part, st.integers(0, 9), st.integers(0, 70)), st.text(max_size=6),
)  # fmt: skip
ref_suffixes = st.just("") | ref_numbers.map(lambda n: "~" + n) | st.sampled_from(["~", "~~", "~1~1", "~/", "/main"])
#: A ref as pieces: a base of 1-3 pieces (a Part is a prefix of a real version's CID), then a suffix.
ref_texts = (
    st.builds(lambda base, suffix: base + [suffix], st.lists(ref_pieces, min_size=1, max_size=3), ref_suffixes)
    | st.text(max_size=200) | st.text(st.characters(codec=None, exclude_categories=[]), max_size=40)
)  # fmt: skip


def assemble(ref: Any, cids_text: Sequence[str]) -> Any:
    """A ref from generated parts (Part: a prefix of a real version's CID)."""
    if not isinstance(ref, list):
        return ref
    return "".join(cids_text[p.which % len(cids_text)][: p.length] if isinstance(p, Part) else p for p in ref)


@fuzz(800)
@given(ref_texts, st.none() | ref_texts)
@example("clf~" + "9" * 5000, None)  # the seed corpus: inputs that once broke a reader, always run
@example("v" + "9" * 30, "clf")
@example("\ud800", None)
@example("HEAD", "\ud800")
@example("clf\n~1", None)
def test_resolve_of_any_text_names_a_version_or_raises_our_error(refs_repo, ref, model):
    repo, cids_text = refs_repo
    ref, model = assemble(ref, cids_text), assemble(model, cids_text)
    note(f"repo.resolve({ref!r}, model={model!r})")
    found = outcome(repo.resolve, ref, model)
    if found is not REFUSED:
        assert isinstance(found, CID) and repo.index.has_version(found)


@fuzz(100)
@given(st.none() | st.integers() | st.binary(max_size=40) | st.lists(st.text(max_size=3), max_size=2) | cids)
def test_resolve_of_something_other_than_text_raises_our_error(refs_repo, ref):
    """Refs come from JSON too (the panel's bridge): an object where text belongs is refused."""
    repo, _ = refs_repo
    assert outcome(repo.resolve, ref) is REFUSED


# -- UnixFS folders (formats.unixfs_dir): a stranger's directory blocks ------------------------


def folder_walk_outcome(blocks: Dict[CID, bytes], root: CID) -> Any:
    """Walk a folder made of ``blocks`` (raw leaves sized by their bytes): entries or REFUSED."""

    def get(cid: CID) -> bytes:
        if cid not in blocks:
            raise FormatError(f"{cid} is not here")
        return blocks[cid]

    return outcome(unixfs_dir.walk, root, get, lambda c: len(blocks[c]) if c in blocks else None)


@fuzz(500)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "ü", ".", "..", "", "a/b", "x\x00", "A" * 300]) | texts, st.binary(max_size=40)),
             max_size=5),
    byte_edit_lists,
)
def test_walk_of_mutated_folders_yields_well_named_entries_or_refuses(files, edits):
    """A folder block built right, then mutated: walking it names only safe relative paths, each
    file as long as its blocks, or refuses; never an exception of another kind."""
    blocks: Dict[CID, bytes] = {}
    links = {}
    for name, data in files:
        cid = CID.hash(RAW, data)
        blocks[cid] = data
        if unixfs_dir.name_problem(name) is None:
            links[name] = unixfs_dir.DirLink(name, cid, len(data))
    block = apply_edits(unixfs_dir.encode_directory(sorted(links.values(), key=lambda l: l.name.encode())), edits)
    root = CID.hash(DAG_PB, block)
    blocks[root] = block
    entries = folder_walk_outcome(blocks, root)
    if entries is REFUSED:
        return
    for entry in entries:
        assert entry.path == "" or all(unixfs_dir.name_problem(p) is None for p in entry.path.split("/"))
        assert isinstance(entry.size, int) and entry.size >= 0
