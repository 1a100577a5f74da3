"""A 50,000-tensor model with sharded manifests vs one manifest block (issue 11, point 0).

    python bench/bench_manifest.py                     # this tree vs git HEAD, 50,000 tensors
    python bench/bench_manifest.py --base /tmp/m0_base --tensors 20000 --repeat 5

Each round, in a fresh repository of each code base (``--base``: a clone of git HEAD, made if
absent; this tree), times a first commit of ``--tensors`` one-element float32 tensors, a commit that
changes one of them, a diff of those two versions (every tensor listed, as ``Repo.diff`` does by
default; and, where the code has it, ``unchanged=False``: only the tensors that differ), and a lazy
open of the second version with one tensor read. The two code bases run in separate processes
(PYTHONPATH), alternating which goes first; every figure is the median of ``--repeat`` rounds.

Each round also commits a model of large tensors (64 of 1 MiB) and then the same with one tensor
changed, as a tuned layer is.

Printed: each median (the commits also in CPU seconds of the process, steadier than wall time on
a shared machine), the change commit as a fraction of the first commit (the goal: far below 1;
a one-block manifest rewrites all of its ~6 MB), the bytes the change commit wrote, and new / old
for the diff and the lazy read.

What a change commit costs: content addressing needs every tensor's bytes checked, and a commit
checks every value it is given. A commit remembers, per tensor, its entry and an XXH3 fingerprint
(``nbversion/repo/recent.py``), so the next commit of the model in the same process hashes with
SHA-256 and stores only the tensors whose fingerprint changed, and re-encodes only the manifest
leaves that hold them; what is left is one cheap pass over the 50,000 values (check, fingerprint,
look up), a few microseconds each. The first commit hashes and stores every tensor.

The old code is any earlier commit (``--base``): e.g. f6fb193, before many-tensor batching, or
15fc155, before the remembered commit.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent


def name(i: int) -> str:
    return f"model.layers.{i // 100:03d}.experts.{i % 100:02d}.w"


def worker(tensors: int) -> Dict[str, float]:
    """One round in the code base on ``sys.path``: the timings, as JSON on stdout."""
    import numpy as np

    from nbversion.repo import Repo

    weights = {name(i): np.full(1, i % 7, np.float32) for i in range(tensors)}
    target = name(tensors // 2)
    out: Dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, Repo(Path(tmp) / ".nbversion") as repo:
        start, cpu = time.perf_counter(), time.process_time()
        v1 = repo.commit(weights, model="m")
        out["first_commit"] = time.perf_counter() - start
        out["first_commit_cpu"] = time.process_time() - cpu
        weights[target] = np.full(1, 100.0, np.float32)
        start, cpu = time.perf_counter(), time.process_time()
        v2 = repo.commit(weights, model="m")
        out["change_commit"] = time.perf_counter() - start
        out["change_commit_cpu"] = time.process_time() - cpu
        out["change_bytes_written"] = (v2.stats or {}).get("bytes_written", float("nan"))
        start = time.perf_counter()
        diffs = repo.diff(v1.cid, v2.cid)
        out["diff"] = time.perf_counter() - start
        assert sum(d.status == "changed" for d in diffs) == 1
        if "unchanged" in inspect.signature(repo.diff).parameters:
            start = time.perf_counter()
            assert len(repo.diff(v1.cid, v2.cid, unchanged=False)) == 1
            out["diff_changed_only"] = time.perf_counter() - start
        start = time.perf_counter()
        assert repo.load(v2.cid, lazy=True)[target][0] == 100.0
        out["lazy_open_read_one"] = time.perf_counter() - start
    # For comparison, a model of large tensors: 64 of 1 MiB, one of them changed (a tuned layer).
    rng = np.random.default_rng(0)
    layers = {f"layer{i:02d}/kernel": rng.standard_normal(1 << 18, dtype=np.float32) for i in range(64)}
    with tempfile.TemporaryDirectory() as tmp, Repo(Path(tmp) / ".nbversion") as repo:
        start = time.perf_counter()
        repo.commit(layers, model="m")
        out["layers_first_commit"] = time.perf_counter() - start
        layers["layer10/kernel"] = layers["layer10/kernel"] * 0.5
        start = time.perf_counter()
        repo.commit(layers, model="m")
        out["layers_change_commit"] = time.perf_counter() - start
    return out


def run(code: Path, tensors: int) -> Dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", "--tensors", str(tensors)],
        env=env, cwd=code, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"The round in {code} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tensors", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--base", type=Path, default=Path("/tmp/m0_base"), help="a clone of the code to compare with")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.tensors)))
        return
    if not args.base.exists():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(args.base)], check=True)
    head = subprocess.run(["git", "-C", str(args.base), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    rounds: Dict[str, List[Dict[str, float]]] = {"old": [], "new": []}
    for r in range(args.repeat):
        order = [("old", args.base), ("new", ROOT)] if r % 2 == 0 else [("new", ROOT), ("old", args.base)]
        for side, code in order:
            rounds[side].append(run(code, args.tensors))
        print(f"round {r + 1}/{args.repeat} done", file=sys.stderr)
    med = {side: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for side, rs in rounds.items()}
    print(f"{args.tensors:,} one-element tensors, medians of {args.repeat}; old = {args.base} at {head.stdout.strip()}")
    print(f"{'':28}{'old':>12}{'new':>12}{'new/old':>10}")
    for key in med["new"]:
        old, new = med["old"].get(key), med["new"][key]
        unit = "B" if key.endswith("bytes_written") else "s"
        shown = f"{old:>11.4g}{unit}" if old is not None else f"{'-':>12}"
        ratio = f"{new / old:>10.3f}" if old else f"{'-':>10}"
        print(f"{key:28}{shown}{new:>11.4g}{unit}{ratio}")
    for side in ("old", "new"):
        m = med[side]
        cpu = f" (CPU: {m['change_commit_cpu'] / m['first_commit_cpu']:.3f})" if "change_commit_cpu" in m else ""
        print(f"{side}: one-tensor change commit / first commit = {m['change_commit'] / m['first_commit']:.3f}{cpu}"
              f"; 64 MiB in 64 tensors, one changed: {m['layers_change_commit'] / m['layers_first_commit']:.3f}")


if __name__ == "__main__":
    main()
