"""Whether the everyday reads stay flat as history grows (issue 10, point 18).

    python bench/bench_history.py                      # 1,000 vs 50,000 versions
    python bench/bench_history.py --large 20000        # a quicker look

Builds two repositories of one model, ``--small`` and ``--large`` versions long, and times in each
``log -n 10``, ``history -n 10``, resolving ``vN``, ``MODEL~5``, a tag and a CID prefix, a small
``load``, and one durable commit on top; each is printed as the ratio large / small (target: about
1.0, flat), every timing the median of ``--repeat`` interleaved runs. ``full history[:10]`` is
what ``nbversion log -n 10`` did before the limit reached the library (for contrast).

How the histories are built: the first versions are real ``Repo.commit`` calls; the rest are
written in one block writer and one index transaction with exactly what a commit writes (a
version record encoded and hashed as ``record`` does, its first parent the previous version,
alternating between two real manifests, the block in the store and the row in the index). A
durable commit costs ~3 ms, so 50,000 of them would take minutes; the bench also times real
commits on top of each repository and prints their ratio, which shows the commit path is flat too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

from nbversion.formats import dagcbor
from nbversion.formats.cid import CID, DAG_CBOR
from nbversion.formats.records import Version
from nbversion.repo import Repo

MODEL = "m"


def build(path: Path, versions: int) -> Repo:
    """A repository with ``versions`` versions of MODEL (see the module docstring) and a tag."""
    repo = Repo(path)
    first = repo.commit({"w": np.arange(4, dtype=np.float32)}, MODEL, "first", {"acc": 0.1}, tag="best")
    second = repo.commit({"w": np.arange(4, dtype=np.float32) + 1}, MODEL, "second", {"acc": 0.2})
    manifests = (first.manifest, second.manifest)
    parent = second.cid
    assert parent is not None
    with repo.index.locked() as db, repo.store.writer() as writer, repo.index.transaction(db):
        for i in range(2, versions):
            version = Version(
                model=MODEL, parents=(parent,), manifest=manifests[i % 2], message=f"step {i}",
                metrics={"acc": i / versions}, time=second.time, author="bench", framework="numpy",
                software=dict(second.software),
            )  # fmt: skip
            block = dagcbor.encode(version.to_ipld())
            cid = CID.hash(DAG_CBOR, block)
            writer.put(cid, block)
            repo.index.add_version(db, cid, version, block)
            parent = cid
        repo.index.set_ref(db, "branch", f"{MODEL}/main", str(parent))
    return repo


def timed(func: Callable[[], object], inner: int) -> float:
    """Seconds per call, over ``inner`` calls."""
    started = time.perf_counter()
    for _ in range(inner):
        func()
    return (time.perf_counter() - started) / inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to build (default: a temporary folder)")
    args = parser.parse_args()

    top = Path(tempfile.mkdtemp(prefix="bench_history_", dir=args.dir))
    try:
        repos: Dict[int, Repo] = {}
        for size in (args.small, args.large):
            started = time.perf_counter()
            repos[size] = build(top / str(size), size)
            print(f"built {size:,} versions in {time.perf_counter() - started:.1f} s")
        commits = iter(range(10**9))

        ops: Dict[str, Callable[[Repo], object]] = {
            "log -n 10": lambda r: r.log(MODEL, limit=10),
            "log --all -n 10": lambda r: r.log(limit=10),
            "history -n 10": lambda r: r.history(MODEL, limit=10),
            "resolve v5": lambda r: r.resolve("v5"),
            "resolve m~5": lambda r: r.resolve(f"{MODEL}~5"),
            "resolve tag": lambda r: r.resolve("best"),
            "resolve CID prefix": lambda r: r.resolve(str(r.resolve("v1"))[:14]),
            "models()": lambda r: r.models(),
            "load m~1 (small)": lambda r: r.load(f"{MODEL}~1"),
            "commit (durable)": lambda r: r.commit({"w": np.full(4, next(commits), np.float32)}, MODEL, "more"),
        }
        old = {"full history[:10] (old CLI)": lambda r: r.history(MODEL)[:10]}
        inner = {"commit (durable)": 20}
        times: Dict[str, Dict[int, List[float]]] = {op: {size: [] for size in repos} for op in {**ops, **old}}
        # The old full-history read runs after the others: it would evict their pages from the caches.
        for group in (ops, old):
            for _ in range(args.repeat):
                for op, func in group.items():
                    for size, repo in repos.items():
                        func(repo)  # warm
                        times[op][size].append(timed(lambda: func(repo), inner.get(op, 1 if group is old else 500)))
        ops.update(old)

        print(f"\nmedian of {args.repeat} interleaved runs; ratio = {args.large:,} / {args.small:,} versions (target ~1.0)")
        print(f"{'operation':30} {args.small:>10,} {args.large:>10,}   ratio")
        for op in ops:
            small, large = (statistics.median(times[op][size]) for size in (args.small, args.large))
            print(f"{op:30} {small * 1e3:8.3f}ms {large * 1e3:8.3f}ms {large / small:7.2f}x")
    finally:
        for repo in locals().get("repos", {}).values():
            repo.close()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
