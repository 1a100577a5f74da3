"""Loading straight from IPFS: a version that is only on a remote, fetched as far as it is used.

``Repo(remote="lab").load(CID)``, ``Repo.locate(CID, remote=...)``, ``nbversion checkout CID
--from lab`` and ``%checkout CID model`` open a version this repository does not have:

1. **Its record, and its history's.** The version's block and those of its ancestors not indexed
   here (small dag-cbor records, one ``block/get`` each) are fetched, each checked against its
   CID and decoded as a pull decodes them (fields, names, parents). They are indexed as pull
   indexes them (parents first; a model with no versions here gets a ``main`` branch), so
   ``history``, ``log``, tags and checkouts work at once (a data set new here that they link gets
   a ``main`` branch at its newest version linked, as a pull gives it); each is recorded as
   *partial*, with the remote its content comes from (:meth:`~.index.Index.partial_remote`).
2. **Its content, on demand.** A read fetches what it needs: the manifest's root and the shards
   holding the tensors asked for (one ``block/get`` each; read as strictly as any stranger's
   manifest), and those tensors' files: all of a shard's files in one ``dag/export`` when all of
   them are wanted and none is here, else one ``dag/export`` per file (one ``block/get`` for a
   file of one block). Every block is checked against its CID; a stream's blocks must be linked
   from what was asked for and may add up to no more than the tensors' sizes (and their tree
   nodes); each file is checked against its manifest entry (a raw-leaves UnixFS file of exactly
   that size) before it is read. What is fetched stays in the local store, so a second read is
   local. Parents' content is never fetched: checking out a parent fetches its own.

Which remote: the one named (``remote=``, ``--from``), else the Repo's own (``Repo(remote=...)``);
a live checkout (``%checkout``, the panel's Load) also takes, when neither is given, the
repository's only remote (:func:`default_remote`). A partial version read later (another
session, a plain ``Repo()``) fetches what it lacks from the remote it was recorded with. Without
a remote, a CID that is not here is the usual :class:`UnknownRefError`.

Blocks fetched are committed to the local store as each read finishes (and when it fails, so a
retry fetches only the rest). A partial version's blocks are not all here: gc must keep those
that are and fsck must not count the rest as missing (:func:`content_blocks` says which).
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set

from ..errors import BlockNotFoundError, FormatError, InvalidCIDError, NbversionError, PullError, UnknownRefError
from ..formats import dagcbor
from ..formats.cid import CID, DAG_CBOR, DAG_PB, RAW
from ..formats.records import TensorEntry, Version, decode_version
from ..formats.unixfs import check_file, file_leaves
from ..stores.kubo import IpfsStore
from .dag import ancestry, stored_size, topological, version_blocks
from .pull import Fetcher, PullReport
from .pull import pull as _pull
from .refs import DEFAULT_BRANCH, Ref, resolve
from .remotes import IPFS, open_remote, remotes

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]
GetBlock = Callable[[CID], bytes]


def default_remote(repo: "Repo") -> Optional[str]:
    """The remote a live checkout fetches from when none is named: the Repo's own
    (``Repo(remote=...)``), else the repository's only IPFS node; None when it has none or several
    (a pinning service serves no blocks)."""
    if getattr(repo, "loads_from", None):
        return repo.loads_from
    known = [r for r in remotes(repo) if r.kind == IPFS]
    return known[0].name if len(known) == 1 else None


def content_remote(repo: "Repo", version: Version) -> Optional[str]:
    """The remote the content of ``version`` comes from when some of it is not here: the remote
    it was indexed from (a partial version), else :func:`default_remote` (None when none is known)."""
    return repo.index.partial_remote(version.cid) or default_remote(repo) if version.cid is not None else None


def locate(
    repo: "Repo",
    ref: Ref,
    model: Optional[str] = None,
    remote: Optional[str] = None,
    progress: Progress = None,
    fetch_timeout: Optional[float] = None,
) -> Version:
    """The version ``ref`` names. A full CID that is not here is fetched from ``remote`` (a
    remote's name or an RPC address; default: the Repo's own) as a partial version: its record
    and its ancestors' are indexed now, its tensors are fetched when read (see the module
    docstring). ``progress`` gets the length of each block fetched, now and by later reads;
    ``fetch_timeout``: seconds the node may search its peers for a block (default 60)."""
    target = (remote or getattr(repo, "loads_from", None) or "").strip()
    try:
        version = repo.index.version(resolve(repo, ref, model))
    except UnknownRefError as exc:
        cid = _version_cid(ref)
        if cid is None or repo.index.has_version(cid):
            raise
        if not target:
            raise _not_here(repo, cid, exc) from None
        return fetch(repo, cid, target, progress, fetch_timeout)
    recorded = repo.index.partial_remote(version.cid) if version.cid is not None else None
    if recorded is not None:  # its missing content comes from the remote named now, else its own
        use_remote(repo, target or recorded, progress, fetch_timeout)
    return version


def _version_cid(ref: object) -> Optional[CID]:
    """``ref`` as a version's CID, if it is the full text of one."""
    if isinstance(ref, Version):
        return ref.cid
    if isinstance(ref, CID):
        return ref if ref.codec == DAG_CBOR else None
    try:
        cid = CID.parse(str(ref).strip())
    except InvalidCIDError:
        return None
    return cid if cid.codec == DAG_CBOR else None


def _not_here(repo: "Repo", cid: CID, exc: UnknownRefError) -> UnknownRefError:
    known = [r.name for r in remotes(repo) if r.kind == IPFS]
    if not known:
        return exc
    where = f"remote {known[0]}" if len(known) == 1 else f"one of the remotes {', '.join(known)}"
    return UnknownRefError(
        f"No version {cid} in this repository. It may be on {where}: load it from there with "
        f"`--from {known[0]}` (`%checkout`, `nbversion checkout`) or Repo(remote={known[0]!r})."
    )


@contextlib.contextmanager
def fetch_progress(repo: "Repo", progress: Progress) -> Iterator[None]:
    """While in the block, ``progress`` also gets the length of each block fetched from a remote
    (``with repo.fetch_progress(bar.update): repo.load(cid)``: a surface's progress display)."""
    previous = getattr(repo, "_fetch_progress", None)
    repo._fetch_progress = progress
    try:
        yield
    finally:
        repo._fetch_progress = previous


def use_remote(
    repo: "Repo", remote: str, progress: Progress = None, fetch_timeout: Optional[float] = None
) -> "RemoteSource":
    """Make ``remote`` where this Repo fetches the content of partial versions from (``progress``
    and ``fetch_timeout``, when given, apply to every fetch from now on)."""
    source = getattr(repo, "_source", None)
    if source is None or source.remote != remote.strip():
        if source is not None:
            source.close()
        source = repo._source = RemoteSource(repo, remote)
    if progress is not None:
        source.progress = progress
    if fetch_timeout is not None:
        source.fetch_timeout = fetch_timeout
    return source


def source_for(repo: "Repo") -> Optional["RemoteSource"]:
    """Where this Repo fetches missing content from: the remote in use, else the Repo's own, else
    the remote partial versions were last recorded with; None when there is none."""
    source = getattr(repo, "_source", None)
    if source is None:
        try:
            remote = getattr(repo, "loads_from", None) or repo.index.last_partial_remote()
        except NbversionError:  # an index that cannot say: the block is missing, as it was
            return None
        if remote:
            source = use_remote(repo, remote)
    return source


def active_source(repo: "Repo") -> Optional["RemoteSource"]:
    """The source already in use (or the Repo's own remote), without asking the index."""
    source = getattr(repo, "_source", None)
    if source is None and getattr(repo, "loads_from", None):
        source = use_remote(repo, repo.loads_from)
    return source


def fetching_get(repo: "Repo") -> GetBlock:
    """``repo.store.get`` that fetches a block the store lacks from the Repo's source, if any."""

    def get(cid: CID) -> bytes:
        try:
            return repo.store.get(cid)
        except BlockNotFoundError:
            source = source_for(repo)
            if source is None:
                raise
            return source.get(cid)

    return get


def fetch(
    repo: "Repo", cid: CID, remote: str, progress: Progress = None, fetch_timeout: Optional[float] = None
) -> Version:
    """Fetch the record of version ``cid`` and of its ancestors not here from ``remote``, check
    them, and index them as partial versions (step 1 of the module docstring). Returns the
    version; its content is fetched when read."""
    source = use_remote(repo, remote, progress, fetch_timeout)
    records = source.records(cid)
    with repo.index.locked() as db:
        with repo.index.transaction(db):
            for found in topological(records):  # parents first, so sequence numbers follow history
                if repo.index.has_version(found):
                    continue
                repo.index.add_version(db, found, records[found], repo.store.get(found))
                repo.index.set_partial(db, str(found), source.remote)
            linked = {c for v in records.values() for c in v.data.values()}  # a data set new here starts at
            newest = {records[c].model: c for c in topological(records) if c in linked}  # its newest version linked
            for start in [cid] + [c for c in newest.values() if c != cid]:
                model = records[start].model
                if repo.index.ref("head", model) is None:
                    repo.index.set_ref(db, "branch", f"{model}/{DEFAULT_BRANCH}", str(start))
                    repo.index.set_ref(db, "head", model, f"branch:{DEFAULT_BRANCH}")
    return repo.index.version(cid)


@functools.wraps(_pull)
def pull(repo: "Repo", *args: Any, **kwargs: Any) -> PullReport:
    report = _pull(repo, *args, **kwargs)
    if repo.index.last_partial_remote() is None:  # (the usual case: no partial version at all)
        return report
    whole = [str(c) for c in ancestry(repo, report.root) if repo.index.partial_remote(c) is not None]
    if whole:  # a pull fetched every block from the version down: none is partial any more
        with repo.index.locked() as db:
            with repo.index.transaction(db):
                repo.index.set_whole(db, whole)
    return report


pull.__doc__ = (
    f"{_pull.__doc__ or ''}\n\n    Versions it completes are no longer partial (:mod:`nbversion.repo.fetch`)."
)


def content_blocks(repo: "Repo", version: Version, get: Optional[GetBlock] = None) -> List[CID]:
    """The blocks of a version's content that gc keeps and fsck checks: all of them
    (:func:`.dag.version_blocks`, checked, reading with ``get``) for a version indexed whole,
    and, for a partial one, those the store holds (its record and whatever reads have fetched)."""
    assert version.cid is not None
    if repo.index.partial_remote(version.cid) is None:
        return version_blocks(repo, version, get)
    return present_blocks(repo, version)


def present_blocks(repo: "Repo", version: Version) -> List[CID]:
    """The version's block and the blocks of its content that the store holds (a walk from its
    manifest, code and environment that stops where a block is absent; parents are not followed)."""
    assert version.cid is not None
    out: List[CID] = [version.cid]
    seen: Set[CID] = {version.cid}
    stack = [version.manifest, *version.extra_blocks]
    while stack:
        cid = stack.pop()
        if cid in seen or not repo.store.has(cid):
            continue
        seen.add(cid)
        out.append(cid)
        if cid.codec != RAW:
            with contextlib.suppress(FormatError, BlockNotFoundError):
                stack.extend(dagcbor.block_links(cid, repo.store.get(cid)))
    return out


class RemoteSource:
    """One remote that a Repo fetches missing blocks from, on demand (the node is contacted on
    first use). Every fetched block is checked as a pull checks it and kept in the local store."""

    def __init__(self, repo: "Repo", remote: str, progress: Progress = None,
                 timeout: float = 30.0, fetch_timeout: float = 60.0) -> None:  # fmt: skip
        self.repo, self.remote, self.progress = repo, remote.strip(), progress
        self.timeout, self.fetch_timeout = timeout, fetch_timeout
        self.bytes_fetched = 0  #: bytes of blocks fetched so far through this source
        self._node: Optional[IpfsStore] = None
        self._budget: Optional[int] = None  # bytes the stream being read may still bring
        self._leaves: Dict[CID, Set[CID]] = {}  # manifest leaves fetched: the files their tensors link

    def __repr__(self) -> str:
        return f"RemoteSource({self.remote!r})"

    def close(self) -> None:
        if self._node is not None:
            self._node.close()
            self._node = None

    # -- fetching, committed as it finishes --------------------------------------------------------

    def _count(self, length: int) -> None:
        if self._budget is not None:
            self._budget -= length
            if self._budget < 0:
                raise PullError(
                    f"The IPFS node of remote {self.remote} sent more bytes for a tensor's file than its "
                    "manifest entry says it holds; the rest was refused."
                )
        self.bytes_fetched += length
        if self.progress is not None:
            self.progress(length)
        shown = getattr(self.repo, "_fetch_progress", None)
        if shown is not None:
            shown(length)

    @contextlib.contextmanager
    def _fetching(self, budget: Optional[int] = None) -> Iterator[Fetcher]:
        """A fetcher on the node (opened on first use, then kept); what it fetched is committed
        on the way out, even on an error (every block kept was verified: a retry fetches only
        the rest). ``budget``: the most bytes it may fetch."""
        if self._node is None:
            self._node = open_remote(self.repo, self.remote, timeout=self.timeout, fetch_timeout=self.fetch_timeout)
        self._node.fetch_timeout = float(self.fetch_timeout)
        fetcher = Fetcher(self.repo, self._node, self._count)
        self._budget = budget
        try:
            yield fetcher
        finally:
            self._budget = None
            try:
                fetcher.writer.commit()
            except BaseException:
                fetcher.writer.abort()
                raise

    def get(self, cid: CID) -> bytes:
        """The block ``cid``, from the local store, else fetched (and kept)."""
        try:
            return self.repo.store.get(cid)
        except BlockNotFoundError:
            pass
        with self._fetching() as fetcher:
            block = self._block(fetcher, cid)
        if cid.codec == DAG_CBOR:  # a manifest's leaf: remember its files, to stream them together
            with contextlib.suppress(FormatError):
                files = {c for c in dagcbor.block_links(cid, block) if c.codec in (RAW, DAG_PB)}
                if files:
                    self._leaves[cid] = files
        return block

    def _block(self, fetcher: Fetcher, cid: CID) -> bytes:
        try:
            return fetcher.fetch_block(cid)
        except BlockNotFoundError as exc:
            raise BlockNotFoundError(
                f"Block {cid} is not in this repository, and remote {self.remote} did not serve it: {exc}"
            ) from exc

    def records(self, root: CID) -> Dict[CID, Version]:
        """The version ``root`` and its ancestors not indexed here, fetched (kept in the store),
        each checked against its CID and decoded (as pull decodes them)."""
        found: Dict[CID, Version] = {}
        pending = [root]
        with self._fetching() as fetcher:
            while pending:
                cid = pending.pop()
                if cid in found or (cid != root and self.repo.index.has_version(cid)):
                    continue
                if fetcher.writer.has(cid):
                    block = fetcher.writer.get(cid)
                else:
                    try:
                        block = fetcher.fetch_block(cid)
                    except BlockNotFoundError as exc:
                        what = "Version" if cid == root else f"Version {root}'s ancestor"
                        raise UnknownRefError(
                            f"{what} {cid} is not in this repository, and remote {self.remote} did not find it: {exc}"
                        ) from exc
                try:
                    version = decode_version(block, cid)
                except FormatError as exc:
                    raise PullError(f"{cid} on remote {self.remote} is not a version nbversion can use: {exc}") from exc
                found[cid] = version
                pending.extend(version.links)  # parents and linked data versions
        return found

    def fetch_files(self, entries: Sequence[TensorEntry], deep: bool = False) -> None:
        """Fetch the files of ``entries`` that are not here (see the module docstring), each
        checked against its entry. ``deep``: also look inside files whose root is here for
        pieces that are not (what an interrupted fetch leaves)."""
        wanted: Dict[CID, TensorEntry] = {e.data: e for e in entries if e.size}
        if not wanted:
            return
        missing = self.repo.store.missing(wanted)
        if missing:
            self._fetch_roots(wanted, missing)
            still = self.repo.store.missing(missing)  # a stream that ended early: fetch those alone
            if still:
                with self._fetching(_allowance([wanted[c].size for c in still])) as fetcher:
                    for cid in still:
                        self._file(fetcher, wanted[cid])
        if deep:
            self._fetch_pieces([wanted[c] for c in wanted if c.codec == DAG_PB])
        size = stored_size(self.repo)
        for cid in missing:
            entry = wanted[cid]
            try:
                check_file(cid, self.repo.store.get, size, entry.size)
            except FormatError as exc:
                raise PullError(
                    f"Tensor {entry.name!r} on remote {self.remote} is not the file its manifest entry describes: {exc}"
                ) from exc

    def _fetch_roots(self, wanted: Dict[CID, TensorEntry], missing: Set[CID]) -> None:
        """The files ``missing``: a manifest leaf's in one stream where all of them are wanted,
        the others one by one; all in one batch, committed once, bounded by their sizes."""
        with self._fetching(_allowance([wanted[c].size for c in missing])) as fetcher:
            covered: Set[CID] = set()
            for shard, files in self._leaves.items():
                if len(files) > 1 and files <= missing and not files & covered:
                    covered |= files
                    fetcher.fetch_dag(shard)
            for cid in missing - covered:
                self._file(fetcher, wanted[cid])

    def _file(self, fetcher: Fetcher, entry: TensorEntry) -> None:
        if entry.data.codec == RAW:
            self._block(fetcher, entry.data)
        else:
            fetcher.fetch_dag(entry.data)

    def _fetch_pieces(self, entries: List[TensorEntry]) -> None:
        for entry in entries:
            try:
                leaves = [cid for cid, _ in file_leaves(entry.data, self.get, None, entry.size)]
            except FormatError as exc:
                raise PullError(
                    f"Tensor {entry.name!r} on remote {self.remote} is not the file its manifest entry describes: {exc}"
                ) from exc
            absent = self.repo.store.missing(leaves)
            if absent:
                with self._fetching(_allowance([entry.size])) as fetcher:
                    for cid in absent:
                        self._block(fetcher, cid)


def _allowance(sizes: List[int]) -> int:
    """The most bytes a stream of files of ``sizes`` may bring: their content, their tree nodes
    (a few dozen bytes per 256 KiB leaf; 1/1024 is ample) and a KiB per file."""
    total = sum(sizes)
    return total + total // 1024 + 1024 * len(sizes) + 65536


def read_with_remote(repo: "Repo", entries: Sequence[TensorEntry], read: Callable[[], Dict]) -> Dict:
    """``read()`` of ``entries``' tensors, their missing files fetched first from the source in
    use; where a block is still absent (a partial version read by a new Repo, an interrupted
    fetch), fetched from the version's remote and read again."""
    source = active_source(repo)
    if source is not None:
        source.fetch_files(entries)
    try:
        return read()
    except BlockNotFoundError:
        source = source_for(repo)
        if source is None:
            raise
        source.fetch_files(entries, deep=True)
        return read()
