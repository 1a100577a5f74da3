"""Push and pull through an IPFS node vs ``ipfs add`` / ``ipfs cat`` of the same bytes (issue 11, point 8).

    python bench/bench_ipfs.py                       # 256 MiB, 5 rounds, a js-ipfs test node it starts
    python bench/bench_ipfs.py --mib 64 --repeat 5
    python bench/bench_ipfs.py --api http://127.0.0.1:5001   # a node you run (e.g. Kubo)
    python bench/bench_ipfs.py --pull-only --repeat 7   # pull against cat only (push and add untimed)

Each round makes ``--mib`` MiB of fresh random float32 tensors (64 tensors) and commits them to a
fresh local repository (not timed), then, through the same node's RPC API and in an order that
alternates between rounds:

* push: ``Repo.push`` of that version (list blocks, ask the node which it lacks, one streamed
  ``dag/import``, pin, check the pin) against add: ``/api/v0/add`` of other fresh bytes of the same
  size, as ``ipfs add --cid-version=1 --raw-leaves`` (pinned, as a push pins);
* pull: ``Repo.pull`` of the version into another empty repository (every block fetched, verified,
  written to disk, the version checked and published) against cat: ``/api/v0/cat`` of the added
  file, streamed and discarded (and, for context, cat written to a file and fsynced, as a pull keeps
  what it fetches).

Between rounds both are unpinned and the node's gc runs, so every round starts from the same node;
before each timed step the bench waits (up to 3 s) for the test node to be idle.
Beside each pull and cat, the CPU time it took in this process (all threads) and, for the test
node the bench starts, in the node's process: where the wall time goes on a machine whose cores
the two share.
Printed: the median of each, in seconds and MiB/s, with its range, and throughput ratios push/add and
pull/cat (the target: at least 0.8), and pull/cat_disk (the like-for-like durable baseline), each of
the medians and per round. Also checked each round: a re-push sends nothing, and a one-layer change
sends about that layer (printed as a ratio to it). ``--pull-only`` skips the push side (the version
and the file for cat are still put on the node first, untimed), for quicker rounds of the pull.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

import nbversion
from nbversion.stores.kubo import rpc_client

ROOT = Path(__file__).resolve().parent.parent
TENSORS = 64


def test_node_module():
    spec = importlib.util.spec_from_file_location("bench_ipfs_node", ROOT / "tests" / "ipfs" / "node.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def tensors(mib: int, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    per = mib * (1 << 20) // TENSORS // 4
    return {f"layer{i:02d}/kernel": rng.standard_normal(per, dtype=np.float32) for i in range(TENSORS)}


def cpu_of(pid: Optional[int]) -> float:
    """CPU seconds (user and system, all threads) process ``pid`` has used; 0.0 without one."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: Optional[int], limit: float = 3.0) -> None:
    """Wait until the node is idle (done with the garbage of the last request, which a JavaScript
    node collects a while later), so that no timed step pays for the one before it."""
    if pid is None:
        time.sleep(0.3)
        return
    end, last = time.monotonic() + limit, cpu_of(pid)
    while time.monotonic() < end:
        time.sleep(0.2)
        now = cpu_of(pid)
        if now - last <= 0.01:
            return
        last = now


def one_round(api: str, mib: int, seed: int, push_first: bool, scratch: Path, node_pid: Optional[int] = None,
              pull_only: bool = False) -> Dict[str, float]:  # fmt: skip
    client = rpc_client(api, timeout=600)
    rng = np.random.default_rng(seed)
    weights = tensors(mib, rng)
    other = rng.bytes(mib << 20)
    out: Dict[str, float] = {}
    mine, theirs = scratch / f"mine{seed}" / ".nbversion", scratch / f"theirs{seed}" / ".nbversion"
    with nbversion.Repo(mine) as repo:
        version = repo.commit(weights, model="bench", message=f"round {seed}")

        def push() -> None:
            settle(node_pid)
            start = time.perf_counter()
            report = repo.push(version.cid, api, timeout=600)
            out["push"] = time.perf_counter() - start
            assert report.bytes_sent >= mib << 20

        def add() -> None:
            settle(node_pid)
            start = time.perf_counter()
            reply = client.add_bytes(other, opts={"cid-version": 1, "raw-leaves": True, "pin": True})
            out["add"] = time.perf_counter() - start
            out["added"] = reply  # type: ignore[assignment]

        for step in [push, add] if push_first else [add, push]:
            step()
        changed = version
        if not pull_only:
            assert repo.push(version.cid, api).up_to_date  # an unchanged re-push sends nothing
            layer = "layer07/kernel"
            changed = repo.commit(dict(weights, **{layer: weights[layer] + 1}), model="bench", message="one layer")
            report = repo.push(changed.cid, api, timeout=600)
            out["one_layer_sent"] = report.bytes_sent / weights[layer].nbytes  # about 1: that layer, and records
    added = str(out.pop("added"))
    if pull_only:
        del out["push"], out["add"]

    def pull() -> None:
        with nbversion.Repo(theirs) as other_repo:
            settle(node_pid)
            start, cpu, node = time.perf_counter(), time.process_time(), cpu_of(node_pid)
            report = other_repo.pull(version.cid, api, timeout=600)
            out["pull"] = time.perf_counter() - start
            out["pull_cpu"], out["pull_node_cpu"] = time.process_time() - cpu, cpu_of(node_pid) - node
            assert report.bytes_fetched >= mib << 20 and report.versions

    def cat() -> None:
        settle(node_pid)
        start, cpu, node = time.perf_counter(), time.process_time(), cpu_of(node_pid)
        n = sum(len(c) for c in client._client.request("/cat", (added,), decoder="none", stream=True))
        out["cat"] = time.perf_counter() - start
        out["cat_cpu"], out["cat_node_cpu"] = time.process_time() - cpu, cpu_of(node_pid) - node
        assert n == mib << 20

    def cat_to_disk() -> None:  # context, not the target: cat that also keeps the bytes, as pull does
        path = scratch / f"cat{seed}.bin"
        settle(node_pid)
        start = time.perf_counter()
        with open(path, "wb") as file:
            for chunk in client._client.request("/cat", (added,), decoder="none", stream=True):
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        out["cat_disk"] = time.perf_counter() - start
        path.unlink()

    for step in [pull, cat, cat_to_disk] if push_first else [cat_to_disk, cat, pull]:
        step()
    for cid in dict.fromkeys((str(version.cid), str(changed.cid), added)):
        client._client.request("/pin/rm", (cid,), decoder="json")
    client._client.request("/repo/gc", decoder="json")
    client.close()
    shutil.rmtree(mine.parent, ignore_errors=True)
    shutil.rmtree(theirs.parent, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--api", help="a running node's RPC API (default: start a js-ipfs test node)")
    parser.add_argument("--pull-only", action="store_true", help="time pull, cat and cat_disk only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ipfs_") as tmp:
        scratch = Path(tmp)
        node = None
        if args.api is None:
            node = test_node_module().start_node(scratch / "node")
        api = args.api or node.url
        try:
            version = rpc_client(api).version()
            print(f"node: {api} ({version.get('Version')}); {args.mib} MiB in {TENSORS} tensors, {args.repeat} rounds")
            rounds: List[Dict[str, float]] = []
            for i in range(args.repeat):
                rounds.append(one_round(api, args.mib, seed=1000 + i, push_first=i % 2 == 0, scratch=scratch,
                                        node_pid=node.process.pid if node is not None else None,
                                        pull_only=args.pull_only))  # fmt: skip
                print("  round {}: ".format(i + 1) + "  ".join(
                    f"{k} {v:.2f}s" for k, v in sorted(rounds[-1].items()) if "cpu" not in k),
                      flush=True)  # fmt: skip
        finally:
            if node is not None:
                node.stop()
    timed = ("pull", "cat", "cat_disk") if args.pull_only else ("push", "add", "pull", "cat", "cat_disk")
    med = {k: statistics.median(r[k] for r in rounds) for k in timed}
    for k, v in med.items():
        times = [r[k] for r in rounds]
        print(f"{k:8s} median {v:7.2f} s  {args.mib / v:7.1f} MiB/s  (range {min(times):.2f}-{max(times):.2f} s)")

    def ratios(base: str, ours: str) -> str:  # per round (each pair measured back to back), then the medians
        each = sorted(r[base] / r[ours] for r in rounds)
        mid = statistics.median(each)
        return f"{med[base] / med[ours]:.2f}x (per round {each[0]:.2f}-{each[-1]:.2f}, median {mid:.2f})"

    if not args.pull_only:
        print(f"push / add throughput: {ratios('add', 'push')}   (target >= 0.8)")
    print(f"pull / cat throughput: {ratios('cat', 'pull')}   (target >= 0.8)")
    cpu = {k: statistics.median(r[k] for r in rounds) for k in ("pull_cpu", "pull_node_cpu", "cat_cpu", "cat_node_cpu")}
    print(f"CPU seconds (medians): pull {cpu['pull_cpu']:.2f} here + {cpu['pull_node_cpu']:.2f} in the node; "
          f"cat {cpu['cat_cpu']:.2f} here + {cpu['cat_node_cpu']:.2f} in the node" + ("" if args.api is None else
          " (the node's own: only for the test node this bench starts)"))
    if not args.pull_only:
        sent = [r["one_layer_sent"] for r in rounds]
        print(f"a one-layer change sent {min(sent):.3f}-{max(sent):.3f}x that layer's bytes; an unchanged re-push: nothing")
    print(
        f"pull / cat written to disk and fsynced: {ratios('cat_disk', 'pull')}   (the like-for-like durable "
        "baseline: pull also hashes, writes and fsyncs every block)"
    )


if __name__ == "__main__":
    sys.exit(main())
