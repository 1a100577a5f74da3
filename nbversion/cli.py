"""The ``nbversion`` command: a thin shell surface over :class:`nbversion.Repo`.

Each sub-command parses its arguments, calls one repository verb and prints what
:mod:`nbversion.present` renders (a table, or JSON with ``--json``). Errors of our own (and a full
disk) print one line and exit with status 1; our warnings (a damaged index row left out of a
listing) print one line each on stderr. Commands the output suggests are spelled as the user ran
this one (``.venv/bin/nbversion ...`` where that is how it was run, with its ``--repo``), so that
they work as typed.

``--repo DIR`` / ``NBVERSION_DIR`` name a repository folder or a project folder holding
``.nbversion``; commands that read a repository refuse one that does not exist instead of showing
an empty one (only ``log`` and a tag listing, run where no repository was found, show that there
is nothing yet), and none of them creates a repository. A reader that closes the pipe early
(``nbversion log | head``) ends the command quietly with status 141, as it ends git's.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import shlex
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from . import present
from ._version import __version__
from .errors import NbversionError, NbversionWarning, RepoNotFoundError, StoreFullError
from .repo import Repo, Version, file_cid, output_file

#: Commands that read an existing repository (the others create one, or need none).
READERS = {"log", "show", "env-diff", "diff", "tag", "export", "cat", "fsck", "gc", "checkout", "push"}
READERS |= {"verify"}  # (files and folders: nbversion.repo.folders)
#: Readers that make sense where there is no repository yet: an empty listing invites a first commit.
EMPTY_OK = {"log", "tag"}
#: The exit status of a command whose reader closed the pipe (128 + SIGPIPE, as git's is).
BROKEN_PIPE = 141
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DRIVE = re.compile(r"[A-Za-z]:")


@contextlib.contextmanager
def progress_bar(
    desc: str, total: Optional[int] = None, force: bool = False, delay: float = 0.0
) -> Iterator[Optional[Callable[[int], None]]]:
    """A byte-counting progress callback drawn on stderr when it is a terminal (or ``force``),
    else None; with ``delay``, drawn only once the work has taken that many seconds (unless forced)."""
    if not (force or sys.stderr.isatty()):
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
              delay=0.0 if force else delay, file=sys.stderr) as bar:  # fmt: skip
        yield bar.update


def cmd_log(repo: Repo, args: argparse.Namespace) -> Any:
    if args.all:
        versions = repo.log(args.model, limit=args.n)
    elif args.model is None and len(repo.models()) > 1:
        versions = repo.log(limit=args.n)
    else:
        versions = repo.history(args.model, limit=args.n) if repo.models() else []
    if args.json:
        where = repo.remote_states()
        return [present.with_remotes(present.version_json(v), where) for v in versions]
    if not versions:
        return "No versions yet. Commit one with Repo().commit(...) or %commit_weights in a notebook."
    return present.HistoryTable(args.model, versions, with_model=True, remotes=repo.remote_states(),
                                labels=present.data_labels(repo, versions), items=present.data_items(repo, versions))  # fmt: skip


def cmd_show(repo: Repo, args: argparse.Namespace) -> Any:
    version = repo.show(args.ref, args.model)
    if version.kind == "data" and not args.code:  # a data version: its items and their summaries
        entries = list(repo.open(version).entries.values())
        return present.data_version_json(version, entries) if args.json else present.data_version_text(version, entries)
    code, environment = repo.code(version), repo.environment(version)
    if args.code:
        return present.code_text(version, code)
    manifest = repo.manifest(version)
    if args.json:
        return {**present.version_detail_json(version, manifest), **present.provenance_json(version, code, environment)}
    return present.version_text(version, manifest, present.provenance_lines(version, code, environment))


def cmd_env_diff(repo: Repo, args: argparse.Namespace) -> Any:
    diff = repo.env_diff(args.a, args.b, args.model)
    return present.env_diff_json(diff) if args.json else present.env_diff_text(diff)


def cmd_diff(repo: Repo, args: argparse.Namespace) -> Any:
    diffs = repo.diff(args.a, args.b, args.model)
    if args.json:
        return [present.diff_json(d) for d in diffs]
    return present.diff_text(diffs)


def cmd_tag(repo: Repo, args: argparse.Namespace) -> Any:
    if args.delete:
        if not args.name:
            raise NbversionError("Which tag? `nbversion tag -d NAME`.")
        repo.untag(args.name)
        return f"Deleted tag {args.name}."
    if args.name:
        cid = repo.tag(args.name, args.ref, args.model, force=args.force)
        return {"tag": args.name, "cid": str(cid)} if args.json else present.tag_line(args.name, cid)
    tags = repo.tags()
    if args.json:
        return {name: str(cid) for name, cid in tags.items()}
    return present.tags_text(tags)


def cmd_export(repo: Repo, args: argparse.Namespace) -> Any:
    try:
        with progress_bar("export") as progress:
            root, size = repo.export_car(args.ref, args.output, args.model, progress=progress)
    except OSError as exc:
        if exc.errno not in _FULL_ERRNOS or isinstance(exc, NbversionError):
            raise
        raise StoreFullError(
            exc.errno, f"The disk holding {args.output} is full; no file was written. Free some space and retry."
        ) from exc
    return f"Exported {root} ({size:,} bytes) to {args.output}"


def cmd_import(repo: Repo, args: argparse.Namespace) -> Any:
    size = os.path.getsize(args.file) if os.path.isfile(args.file) else None  # else import_car says why
    with progress_bar("import", size) as progress:
        versions = repo.import_car(args.file, progress=progress)
    if args.json:
        return [present.version_json(v) for v in versions]
    return "\n".join([present.imported_text(versions), *unmoved_heads(repo, versions, typed(args))])


def unmoved_heads(repo: Repo, imported: Sequence[Version], command: str = "nbversion") -> List[str]:
    """For each newest imported version (one no other imported version descends from) that is not
    where its model now is, a line saying the model did not move and the command that moves it
    (spelled with ``command``)."""
    parents = {p for v in imported for p in v.parents}
    lines = []
    for v in imported:
        if v.cid in parents:
            continue
        branch, current = repo.head(v.model)
        if current is None or current == v.cid:
            continue
        at = repo.version(current)
        where = f"on branch {branch}" if branch else "detached"
        lines.append(present.clean(
            f"{v.model} did not move: it is still at {at.label} ({at.short}, {where}). "
            f"To make {v.label} its current version: {command} checkout {v.label} --model {shlex.quote(v.model)}"
        ))
    return lines


def cmd_remote(repo: Repo, args: argparse.Namespace) -> Any:
    """``remote add NAME URL`` / ``remote remove NAME`` / ``remote list``: the repository's IPFS nodes
    (and pinning services)."""
    if args.action == "add":
        kind = "pinning" if args.pinning_service else "ipfs"
        remote = repo.remote_add(args.name, args.url, force=args.force, kind=kind, via=args.via)
        what = f" (a pinning service{f', through {remote.via}' if remote.via else ''})" if kind == "pinning" else ""
        return present.clean(f"Added remote {remote.name} -> {remote.url}{what}")
    if args.action == "remove":
        remote = repo.remote_remove(args.name)
        return present.clean(f"Removed remote {remote.name} ({remote.url}); nothing on the node changed.")
    remotes = repo.remotes()
    return present.remotes_json(remotes) if args.json else present.remotes_text(remotes)


# --- pinning services (repo.pin_remote, repo.remote_pins) -----------------------------------------


def cmd_push_pinned(repo: Repo, args: argparse.Namespace) -> Any:
    """``push REF --to SERVICE``: through an IPFS node (``--via``), then pinned by the service."""
    with progress_bar("push", force=getattr(args, "progress", False), delay=0.5) as progress:
        report = repo.pin_remote(args.ref, args.remote, via=args.via, model=args.model, name=args.pin_name,
                                 wait=not args.no_wait, wait_timeout=args.wait, progress=progress)  # fmt: skip
    if report.waited and not report.pinned:
        args.exit_code = 1  # waited, and the version is not durable yet
    return present.pin_report_json(report) if args.json else present.pin_report_text(report, typed(args))


def cmd_pins(repo: Repo, args: argparse.Namespace) -> Any:
    """``pins SERVICE``: the service's pins, newest first, with this repository's version of each."""
    pins = repo.remote_pins(args.service, status=args.status)
    if args.json:
        return [dict(present.pin_json(p.pin), model=p.version.model if p.version else None) for p in pins]
    if not pins:
        return present.clean(f"{args.service} has no pins{' with status ' + ', '.join(args.status) if args.status else ''}.")
    lines = []
    for p in pins:
        known = f"{p.version.model} {p.version.label}" if p.version else "(not in this repository)"
        lines.append(present.clean(f"{p.pin.status:<8} {p.pin.cid}  {known}  {p.pin.created[:19]}  {p.pin.requestid}  {p.pin.name}"))
    return "\n".join(lines)


def cmd_push(repo: Repo, args: argparse.Namespace) -> Any:
    if repo.remote(args.remote).kind == "pinning":
        return cmd_push_pinned(repo, args)
    if args.via:
        raise NbversionError(f"--via is for pushing to a pinning service; {args.remote} is an IPFS node.")
    with progress_bar("push", force=getattr(args, "progress", False), delay=0.5) as progress:
        report = repo.push(args.ref, args.remote, args.model, progress=progress)
    return present.push_json(report) if args.json else present.push_text(report)


def cmd_push_and_announce(repo: Repo, args: argparse.Namespace) -> Any:
    """``push`` and, with ``--announce TOPIC``, the pushed version announced on that pubsub topic
    (if announcing fails, what the push did is printed before the error)."""
    pushed = cmd_push(repo, args)
    if not args.announce:
        return pushed
    try:
        report = repo.announce(args.ref, args.announce, args.remote, args.model, via=args.via)
    except NbversionError:
        print(json.dumps(pushed, indent=2) if isinstance(pushed, dict) else pushed, flush=True)
        raise
    if isinstance(pushed, dict):
        return dict(pushed, announced=present.announce_json(report))
    return f"{pushed}\n{present.announce_text(report)}"


def cmd_watch(repo: Repo, args: argparse.Namespace) -> Any:
    """``watch TOPIC``: each version peers announce there, pulled and verified, printed as it comes."""
    remote = args.remote
    if remote is None:
        known = [r for r in repo.remotes() if r.kind == "ipfs"]
        if len(known) != 1:
            names = ", ".join(r.name for r in known) or "none yet"
            raise NbversionError(f"Which IPFS node should be watched? Name it with --from REMOTE (this repository's remotes: {names}).")
        remote = known[0].name

    def show(event: Any) -> None:
        if not args.json:
            print(present.watch_event_text(event), flush=True)

    report = repo.watch(args.topic, remote, count=args.count, timeout=args.timeout, on_event=show,
                        fetch_timeout=args.fetch_timeout)  # fmt: skip
    return present.watch_json(report) if args.json else present.watch_text(report)


def cmd_pull(repo: Repo, args: argparse.Namespace) -> Any:
    with progress_bar("pull", force=getattr(args, "progress", False), delay=0.5) as progress:
        report = repo.pull(args.cid, args.remote, progress=progress)
    if args.json:
        return present.pull_json(report)
    return "\n".join([present.pull_text(report), *unmoved_heads(repo, report.versions, typed(args))])


def cmd_hash(repo: Repo, args: argparse.Namespace) -> Any:
    """Each file's CID on its own line as soon as it is known; a file that cannot be read gets one
    error line on stderr (the others are still hashed) and the command exits 1."""
    for path in args.files:
        try:
            cid = file_cid(path)
        except NbversionError as exc:
            print(f"nbversion: error: {present.message(exc)}", file=sys.stderr)
            args.exit_code = 1
            continue
        print(f"{cid}  {path}", flush=True)
    return None


def cmd_cat(repo: Repo, args: argparse.Namespace) -> Any:
    out = sys.stdout.buffer
    for piece in repo.cat(args.cid):
        out.write(piece)
    out.flush()
    return None


def cmd_fsck(repo: Repo, args: argparse.Namespace) -> Any:
    with progress_bar("fsck") as progress:
        report = repo.fsck(progress=progress)
    args.exit_code = 0 if report.ok else 1
    return present.fsck_json(report) if args.json else present.fsck_text(report)


def cmd_verify(repo: Repo, args: argparse.Namespace) -> Any:
    """One line per file that is missing, changed or extra; exit status 1 if there is any."""
    verified = repo.verify(args.ref, args.dir, item=args.item)
    args.exit_code = 0 if verified.report.ok else 1
    return present.verify_text(verified, args.dir, args.ref)


def cmd_gc(repo: Repo, args: argparse.Namespace) -> Any:
    with progress_bar("gc") as progress:
        removed, freed = repo.gc(progress=progress)
    return f"Removed {removed} unused blocks, freed {freed:,} bytes."


def npz_member(name: str) -> str:
    """The .npz member a tensor is written to (``NAME.npy``, as ``numpy.savez`` names it), or
    :class:`NbversionError` for a name that could point outside the archive when extracted: an
    absolute name, a ``..``/``.``/empty component, a backslash, a drive, a control character."""
    if (
        not name
        or not name.isprintable()
        or "\\" in name
        or _DRIVE.match(name)
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise NbversionError(
            f"Tensor name {name!r} cannot name a file inside an .npz archive; write a .safetensors file instead."
        )
    return f"{name}.npy"


def write_npz(path: Path, members: Mapping[str, str], tensors: Mapping[str, Any]) -> None:
    """Write ``tensors`` as ``numpy.savez`` does, each to the member :func:`npz_member` named (no
    name is ever taken for an argument of numpy's, and no member can leave the archive)."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, member in members.items():
            with archive.open(member, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asarray(tensors[name]), allow_pickle=False)


def cmd_checkout(repo: Repo, args: argparse.Namespace) -> Any:
    """With ``-o FILE``: write the version's tensors to a file. Without: make it the model's current
    version (its HEAD, the parent of its next commit) and say where the model now is. With
    ``--from REMOTE``, a CID that is not here is loaded from that remote (its tensors fetched only
    as they are written out)."""
    if args.remote:
        repo.locate(args.ref, args.model, remote=args.remote)
    if args.output is None:
        return moved_head(repo, repo.checkout(args.ref, args.model))
    out = Path(output_file(args.output))
    suffix = out.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise NbversionError(f"Cannot write {out}: use a .npz or .safetensors file name.")
    version = repo.show(args.ref, args.model)
    lazy = repo.load(version, lazy=True)
    members = {name: npz_member(name) for name in lazy} if suffix == ".npz" else {}  # all checked first
    with progress_bar("checkout", repo.manifest(version).nbytes) as progress:
        tensors: Dict[str, Any] = {}
        for name, array in lazy.items():
            tensors[name] = array
            if progress is not None:
                progress(array.nbytes)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        if suffix == ".npz":
            write_npz(tmp, members, tensors)
        else:
            from safetensors.numpy import save_file

            save_file(tensors, str(tmp), metadata={"nbversion": str(version.cid), "model": version.model})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return f"Wrote {len(tensors)} tensors of {version.model} {version.label} to {out}"


def moved_head(repo: Repo, version: Version) -> str:
    """Where a checkout left the model: its version, and its branch or that it is detached."""
    branch, _ = repo.head(version.model)
    if branch:
        where = f"on branch {branch}"
    else:
        where = f"detached (the next commit starts a new branch, from-{version.label})"
    return present.clean(f"{version.model} is now at {version.label} ({version.cid}), {where}.")


def _spelled(path: str) -> str:
    """How to type ``path`` to run it: its bare name where PATH finds this very file, else the path
    (relative when it lies under the current folder)."""
    name = os.path.basename(path)
    found = shutil.which(name)
    with contextlib.suppress(OSError):
        if found and os.path.samefile(found, path):
            return name
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    if not rel.startswith(os.pardir):
        return shlex.quote(rel if os.sep in rel else os.path.join(os.curdir, rel))
    return shlex.quote(full)


def invoked_as() -> str:
    """The ``nbversion`` command as the user ran it, to spell hints that work as typed:
    ``nbversion`` when PATH finds it, ``.venv/bin/nbversion`` when it was run from there, and
    ``python -m nbversion.cli`` (with that interpreter) when it was run as a module."""
    script = sys.argv[0] if sys.argv else ""
    if script and os.path.basename(script).startswith("nbversion") and not script.endswith(".py"):
        return _spelled(script)
    return f"{_spelled(sys.executable)} -m nbversion.cli"


def typed(args: argparse.Namespace) -> str:
    """The start of a hint that works as typed: :func:`invoked_as`, with this command's ``--repo``."""
    return invoked_as() + (f" --repo {shlex.quote(args.repo)}" if args.repo else "")


def cmd_demo(repo: Repo, args: argparse.Namespace) -> Any:
    from .demo import run_demo

    return run_demo(repo, typed(args))


# --- notebooks: pins, headless runs, reproductions (nbversion.notebooks) -----------------------------


def _existing(repo: Repo) -> Repo:
    if not repo.exists:
        raise RepoNotFoundError(f"No nbversion repository at {repo.path}. Name one with --repo or NBVERSION_DIR.")
    return repo


def cmd_pin(repo: Repo, args: argparse.Namespace) -> Any:
    """``pin NB.ipynb [MODEL=REF]... [-d MODEL]...``: set (each REF resolved to its CID, in the
    repository a run of the notebook would use) or drop pins in the notebook's metadata; with
    neither, list them."""
    from .notebooks import pins, run

    wanted = run.parse_assignments(args.pins, "nbversion pin NOTEBOOK MODEL=REF")
    if not wanted and not args.delete:
        current = pins.read_pins(args.notebook)
        return current if args.json else present.pins_text(args.notebook, current)
    with _notebook_repo(args, args.notebook) as work:
        resolved = run.resolve_pins(_existing(work), wanted) if wanted else {}
    current = pins.set_pins(args.notebook, resolved, remove=tuple(args.delete))
    return current if args.json else present.pins_text(args.notebook, current)


def _notebook_repo(args: argparse.Namespace, notebook: str) -> Repo:
    """A run's repository: --repo / NBVERSION_DIR, else the nearest .nbversion from the notebook's
    folder (the one its kernel would find)."""
    from .repo import find_repo_dir

    if args.repo or os.environ.get("NBVERSION_DIR"):
        return Repo(args.repo) if args.repo else Repo()
    return Repo(find_repo_dir(Path(notebook).resolve().parent))


def cmd_run(repo: Repo, args: argparse.Namespace) -> Any:
    """``run NB``: execute the notebook headlessly from its pins (see nbversion.notebooks.run)."""
    from .notebooks import run

    pins = run.parse_assignments(args.pin, "--pin MODEL=REF")
    parameters = {k: run.parse_value(v) for k, v in run.parse_assignments(args.parameter, "-p NAME=VALUE").items()}
    with _notebook_repo(args, args.notebook) as work:
        report = run.run(work, args.notebook, pins=pins, parameters=parameters, output=args.output,
                         timeout=args.timeout, kernel=args.kernel, progress=True)  # fmt: skip
    print(present.run_text(report), flush=True)
    if report.failed is not None:
        from .errors import NotebookRunError

        raise NotebookRunError(f"The run stopped at {report.failed}. What ran is saved in {report.output}.")
    return None


def cmd_reproduce(repo: Repo, args: argparse.Namespace) -> Any:
    """``reproduce REF``: rerun the code a version recorded, in a scratch repository, and compare."""
    from .notebooks.reproduce import reproduce

    report = reproduce(_existing(repo), args.ref, args.model, keep=args.keep, timeout=args.timeout,
                       kernel=args.kernel, progress=True)  # fmt: skip
    args.exit_code = 0 if report.match else 1
    return present.reproduce_json(report) if args.json else present.reproduce_text(report)


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbversion",
        description="Version control of model weights, content-addressed like IPFS.",
    )
    parser.add_argument("--version", action="version", version=f"nbversion {__version__}")
    parser.add_argument(
        "--repo", help="repository folder, or a project folder holding .nbversion (default: $NBVERSION_DIR, or the nearest .nbversion/)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable, help: str, json_flag: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return p

    p = add("log", cmd_log, "list versions: a model's lineage, or every version with --all", True)
    p.add_argument("model", nargs="?", help="model name (default: the only model)")
    p.add_argument("--all", action="store_true", help="every version, all branches")
    p.add_argument("-n", type=at_least_one, help="show at most N versions (1 or more)")

    p = add("show", cmd_show, "show one version: metadata and tensors", True)
    p.add_argument("ref", help="CID, CID prefix, tag, MODEL, MODEL~N, vN, HEAD")
    p.add_argument("--model", help="model that vN / HEAD / a branch name refer to")
    p.add_argument("--code", action="store_true",
                   help="print the notebook code that made it, up to the committing cell (a # %%%% script)")  # fmt: skip

    p = add("env-diff", cmd_env_diff, "what changed between the environments two versions were made in", True)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--model", help="model that vN / HEAD / a branch name refer to")

    p = add("diff", cmd_diff, "compare two versions tensor by tensor", True)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--model")

    p = add("tag", cmd_tag, "list tags, or name a version", True)
    p.add_argument("name", nargs="?")
    p.add_argument("ref", nargs="?", default="HEAD")
    p.add_argument("--model")
    p.add_argument("-d", "--delete", action="store_true", help="delete the tag")
    p.add_argument("-f", "--force", action="store_true", help="move an existing tag")

    p = add("export", cmd_export, "write a version and its history as a CAR v1 file")
    p.add_argument("ref")
    p.add_argument("-o", "--output", required=True, help="FILE.car")
    p.add_argument("--model")

    p = add("import", cmd_import, "add the versions in a CAR file (every block verified)", True)
    p.add_argument("file")

    p = add("remote", cmd_remote, "list, add or remove the IPFS nodes this repository pushes to and pulls from")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    p.set_defaults(action="list", json=False)
    q = actions.add_parser(
        "add", help="name an IPFS node's RPC API (http://HOST:5001 or /ip4/HOST/tcp/5001), or a pinning service",
        description="Name a remote. Credentials never go in the URL: they come from NBVERSION_IPFS_AUTH_<NAME> "
        "(or NBVERSION_IPFS_AUTH) or from a private credentials file, $NBVERSION_CREDENTIALS or "
        "~/.config/nbversion/credentials (chmod 600), holding `[NAME]` then `auth = Bearer TOKEN` (or `Basic B64`, "
        "`USER:PASSWORD`) for a node, `token = TOKEN` for a pinning service.",
    )  # fmt: skip
    q.add_argument("name")
    q.add_argument("url")
    q.add_argument("--pinning-service", action="store_true",
                   help="URL is an IPFS Pinning Service API endpoint (a pinning service, an IPFS Cluster)")  # fmt: skip
    q.add_argument("--via", metavar="NODE", help="with --pinning-service: the IPFS node remote versions go through")
    q.add_argument("-f", "--force", action="store_true", help="replace an existing remote of that name")
    q = actions.add_parser("remove", help="forget a remote (nothing on the node changes)")
    q.add_argument("name")
    q = actions.add_parser("list", help="list the remotes")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = add("pins", cmd_pins, "list a pinning service's pins (all statuses), with this repository's version of each", True)
    p.add_argument("service", help="a pinning service remote's name, or its endpoint URL")
    p.add_argument("--status", action="append", choices=["queued", "pinning", "pinned", "failed"],
                   help="only pins with this status (repeatable)")  # fmt: skip

    p = add("push", cmd_push, "put a version and its history on an IPFS node, pinned (sends only what it lacks)", True)
    p.add_argument("ref", nargs="?", help="version to push: MODEL, a tag, a CID, MODEL~N... (default: HEAD)")
    p.add_argument("--to", dest="remote", required=True, metavar="REMOTE", help="a remote's name, or an RPC address")
    p.add_argument("--model", help="model that vN / HEAD / a branch name refer to")
    p.add_argument("--via", metavar="NODE", help="to a pinning service: the IPFS node the blocks go to first "
                   "(default: the service's own --via, else the only IPFS node remote)")  # fmt: skip
    p.add_argument("--no-wait", action="store_true", help="to a pinning service: do not wait for the pin to complete")
    p.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                   help="to a pinning service: how long to wait for the pin (default 300; exit status 1 if not pinned by then)")  # fmt: skip
    p.add_argument("--pin-name", metavar="NAME", help="to a pinning service: the pin's name there (default: model and CID)")
    p.add_argument("--announce", metavar="TOPIC", help="then announce the version on this pubsub topic of the node")
    p.add_argument("--progress", action="store_true", help="draw the progress bar on stderr even when it is not a terminal")
    p.set_defaults(func=cmd_push_and_announce)

    p = add("watch", cmd_watch, "list the versions peers announce on a pubsub topic, each pulled and verified first", True)
    p.add_argument("topic")
    p.add_argument("--from", dest="remote", metavar="REMOTE", help="the node to watch through (default: the only remote)")
    p.add_argument("--count", type=at_least_one, help="stop after N announcements")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this many seconds (default: at Ctrl-C)")
    p.add_argument("--fetch-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long the node may take to fetch one announced version from its peers")  # fmt: skip

    p = add("pull", cmd_pull, "fetch a version by CID from an IPFS node, verify every block, keep it", True)
    p.add_argument("cid", help="the version's full CID (bafy...)")
    p.add_argument("--from", dest="remote", required=True, metavar="REMOTE", help="a remote's name, or an RPC address")
    p.add_argument("--progress", action="store_true", help="draw the progress bar on stderr even when it is not a terminal")

    p = add("hash", cmd_hash, "print the CID `ipfs add --cid-version=1 --raw-leaves` gives each file")
    p.add_argument("files", nargs="+", metavar="FILE")

    p = add("cat", cmd_cat, "write the content of a UnixFS file (or a block) to stdout")
    p.add_argument("cid")

    add("fsck", cmd_fsck, "re-hash every block; name corrupt or missing blocks and the versions using them", True)
    add("gc", cmd_gc, "remove blocks no version uses and reclaim space")

    p = add(
        "checkout", cmd_checkout,
        "make a version the model's current one (its HEAD); with -o, write its tensors to a file instead",
    )
    p.add_argument("ref")
    p.add_argument("-o", "--output", help="FILE.npz or FILE.safetensors: write the tensors there, moving nothing")
    p.add_argument("--model")
    p.add_argument("--from", dest="remote", metavar="REMOTE", help="load a CID that is not here from this remote")

    p = add("pin", cmd_pin, "list, set or drop a notebook's pins (metadata.nbversion.pins: the versions it starts from)", True)
    p.add_argument("notebook", metavar="NOTEBOOK.ipynb")
    p.add_argument("pins", nargs="*", metavar="MODEL=REF", help="pin MODEL to the version REF names (stored as its CID)")
    p.add_argument("-d", "--delete", action="append", default=[], metavar="MODEL", help="drop MODEL's pin (repeatable)")

    p = add("run", cmd_run, "execute a notebook headlessly (nbclient) from its pins; save the executed copy")
    p.add_argument("notebook", metavar="NOTEBOOK.ipynb")
    p.add_argument("--pin", action="append", default=[], metavar="MODEL=REF",
                   help="start MODEL from REF for this run (over the notebook's own pin; repeatable)")  # fmt: skip
    p.add_argument("-o", "--output", metavar="OUT.ipynb", help="where to save the executed notebook (default: NOTEBOOK.out.ipynb)")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter, papermill-style (after the cell tagged 'parameters'; repeatable)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS", help="how long one cell may run (default 600)")
    p.add_argument("--kernel", metavar="NAME", help="the kernel to run it in (default: the notebook's)")

    p = add("reproduce", cmd_reproduce, "rerun the code a version recorded (in a scratch repository) and compare its weights", True)
    p.add_argument("ref")
    p.add_argument("--model", help="model that vN / HEAD / a branch name refer to")
    p.add_argument("--keep", metavar="DIR", help="keep the scratch repository and executed notebook in DIR (new or empty)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS", help="how long one cell may run (default 600)")
    p.add_argument("--kernel", metavar="NAME", help="the kernel to run it in (default: the notebook's)")

    p = add("verify", cmd_verify, "check a local folder (or file) against a data version, file by file")
    p.add_argument("ref", help="a data version (NAME, NAME~N, tag, CID...), or the CID of a stored folder or file")
    p.add_argument("dir", metavar="DIR", help="the local folder (or file) to check")
    p.add_argument("--item", help="which file or folder item of the data version (default: the one named like DIR, "
                   "else the only folder)")  # fmt: skip

    add("demo", cmd_demo, "commit, browse and restore a small model in ./.nbversion (a tour)")
    return parser


def open_repo(args: argparse.Namespace) -> Repo:
    """The repository the command line names; :class:`RepoNotFoundError` when a command that reads
    one names (with --repo or NBVERSION_DIR) a repository that does not exist, or needs one where
    none was found (``log`` and a tag listing then show that there is nothing yet). Nothing is
    created on disk here."""
    named = args.repo or os.environ.get("NBVERSION_DIR")
    repo = Repo(args.repo) if args.repo else Repo()
    if repo.exists or args.command not in READERS or getattr(args, "remote", None) and args.command == "checkout":
        return repo  # (a checkout --from fetches a version, as a pull does: it may start a repository)
    if named:
        raise RepoNotFoundError(
            f"No nbversion repository at {repo.path}. Name a repository folder (or the project folder holding "
            "its .nbversion) with --repo or NBVERSION_DIR."
        )
    if args.command not in EMPTY_OK or (args.command == "tag" and args.name):
        raise RepoNotFoundError(
            f"No nbversion repository at {repo.path} (none in {Path.cwd()} or its parents). Commit a first "
            "version, or name a repository folder (or the project folder holding it) with --repo or NBVERSION_DIR."
        )
    return repo


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; its exit status. A reader that closes the pipe early (``| head``) ends the
    command quietly with status 141, as git's does."""
    try:
        code = run(argv)
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe prints a traceback
        return code
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # stdout may be no file at all (a test's capture)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the interpreter's last flush
        return BROKEN_PIPE


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv``, run the command it names and print its result; the exit status."""
    args = build_parser().parse_args(argv)
    args.exit_code = 0
    repo: Optional[Repo] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NbversionWarning)
        try:
            repo = open_repo(args)
            result = args.func(repo, args)
        except NbversionError as exc:
            result, args.exit_code = exc, 1
        except OSError as exc:  # a full disk that reached us as a plain OSError
            if exc.errno not in _FULL_ERRNOS:
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            result, args.exit_code = NbversionError(f"The disk is full{where}; nothing was written. Free some space and retry."), 1
        finally:
            if repo is not None:
                repo.close()
    for warning in caught:
        if issubclass(warning.category, NbversionWarning):
            print(f"nbversion: warning: {present.message(warning.message)}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if isinstance(result, NbversionError):
        print(f"nbversion: error: {present.message(result)}", file=sys.stderr)
    elif isinstance(result, (dict, list)):
        print(json.dumps(result, indent=2))
    elif result is not None:
        print(result)
    return args.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
