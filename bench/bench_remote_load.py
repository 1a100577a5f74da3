"""Loading a version straight from an IPFS node vs pulling it first (issue 11, point 3).

    python bench/bench_remote_load.py                  # 64 MiB, 5 rounds, a js-ipfs test node it starts
    python bench/bench_remote_load.py --mib 256 --repeat 5
    python bench/bench_remote_load.py --api http://127.0.0.1:5001   # a node you run (e.g. Kubo)

Each round commits ``--mib`` MiB of fresh float32 tensors (64 tensors) and pushes them (not timed).
Then, each into a fresh empty repository, in an order that alternates between rounds:

* pull + load: ``Repo.pull`` of the version, then ``Repo.load`` of all its tensors;
* remote load: ``Repo(remote=node).load(CID)``: the version's record, its manifest, and all its
  tensors fetched as the load reads them (one streamed ``dag/export`` for a manifest shard);
* one tensor: ``Repo(remote=node).load(CID, names=[one])``: the record, the manifest, one tensor.

Printed: the median of each, and the ratios remote load / (pull + load) (about 1: the same bytes
through the same kind of request) and one tensor / remote load (about 1/64 of the bytes, plus the
fixed cost of a few requests). Each load's arrays are checked against the committed ones.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
from bench_ipfs import TENSORS, tensors, test_node_module

import nbversion


def one_round(api: str, mib: int, seed: int, flip: bool, scratch: Path) -> Dict[str, float]:
    weights = tensors(mib, np.random.default_rng(seed))
    one = sorted(weights)[TENSORS // 2]
    with nbversion.Repo(scratch / f"mine{seed}" / ".nbversion") as repo:
        cid = repo.commit(weights, model="bench", message=f"round {seed}").cid
        repo.push(cid, api, timeout=600)
    out: Dict[str, float] = {}

    def pull_and_load() -> None:
        with nbversion.Repo(scratch / f"pulled{seed}" / ".nbversion") as there:
            start = time.perf_counter()
            there.pull(cid, api, timeout=600)
            loaded = there.load(cid)
            out["pull+load"] = time.perf_counter() - start
        assert all(np.array_equal(loaded[k], weights[k]) for k in weights)

    def remote_load() -> None:
        with nbversion.Repo(scratch / f"remote{seed}" / ".nbversion", remote=api) as there:
            start = time.perf_counter()
            loaded = there.load(str(cid))
            out["remote load"] = time.perf_counter() - start
        assert all(np.array_equal(loaded[k], weights[k]) for k in weights)

    def one_tensor() -> None:
        with nbversion.Repo(scratch / f"one{seed}" / ".nbversion", remote=api) as there:
            start = time.perf_counter()
            loaded = there.load(str(cid), names=[one])
            out["one tensor"] = time.perf_counter() - start
        assert np.array_equal(loaded[one], weights[one])

    steps = [pull_and_load, remote_load, one_tensor]
    for step in reversed(steps) if flip else steps:
        step()
    for folder in scratch.iterdir():
        if folder.name != "node":
            shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--api", help="a running node's RPC API (default: start a js-ipfs test node)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_remote_load_") as tmp:
        scratch = Path(tmp)
        node = None if args.api else test_node_module().start_node(scratch / "node")
        api = args.api or node.url
        try:
            print(f"node: {api}; {args.mib} MiB in {TENSORS} tensors, {args.repeat} rounds")
            rounds: List[Dict[str, float]] = []
            for i in range(args.repeat):
                rounds.append(one_round(api, args.mib, seed=2000 + i, flip=i % 2 == 1, scratch=scratch))
                print(f"  round {i + 1}: " + "  ".join(f"{k} {v:.2f}s" for k, v in rounds[-1].items()), flush=True)
        finally:
            if node is not None:
                node.stop()
    med = {k: statistics.median(r[k] for r in rounds) for k in ("pull+load", "remote load", "one tensor")}
    for k, v in med.items():
        print(f"{k:12s} median {v:7.3f} s")
    print(f"remote load / (pull + load) time: {med['remote load'] / med['pull+load']:.2f}x")
    print(f"one tensor / remote load time:    {med['one tensor'] / med['remote load']:.3f}x   (bytes: 1/{TENSORS})")


if __name__ == "__main__":
    sys.exit(main())
