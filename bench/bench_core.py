"""Speed and memory of the versioning core, as ratios against baselines measured in the same run.

    python bench/bench_core.py                # 1 GiB of float32 tensors, 10,000-version listing
    python bench/bench_core.py --size-mib 256 --versions 2000   # a quicker look

Targets (issue 3): commit throughput >= 0.7x of sha256 + write + fsync of the same bytes; load at
least as fast as numpy.load; an incremental commit with 1 of 10 tensors changed writes <= 1.1x the
changed bytes; commit and load add <= 64 MiB to peak memory beyond the tensors; listing 10,000
versions < 0.5 s. Every timing is the median of --repeat interleaved runs, files are written to --dir (a real
disk, not tmpfs) and caches are warm for every contender alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

import nbversion

MiB = 1 << 20


def median_of(repeat: int, func, setup=None) -> float:
    return race(repeat, {"only": (func, setup)})["only"]


def race(repeat: int, contenders: dict) -> dict:
    """Median time of each ``name: (func, setup)`` over ``repeat`` runs, the runs of all contenders
    interleaved so that a slow spell of a noisy disk or CPU hits every contender alike."""
    times: dict = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (func, setup) in contenders.items():
            if setup is not None:
                setup()
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(runs) for name, runs in times.items()}


def make_tensors(size_mib: int, count: int = 10, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    per = size_mib * MiB // count // 4
    return {f"layer_{i:02d}/kernel": rng.random(per, dtype=np.float32) for i in range(count)}


def write_fsync(path: Path, chunks) -> None:
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def report(name: str, ours: float, base: float, target: str, ok: bool) -> dict:
    ratio = base / ours
    print(f"  {name:<44} ours {ours:7.3f} s  baseline {base:7.3f} s  ratio {ratio:5.2f}x  target {target}  {'MET' if ok else 'MISSED'}")
    return {"name": name, "ours_s": ours, "baseline_s": base, "ratio": ratio, "target": target, "met": ok}


def bench_throughput(workdir: Path, size_mib: int, repeat: int) -> list:
    tensors = make_tensors(size_mib)
    total = sum(t.nbytes for t in tensors.values())
    print(f"\nCommit and load of {total / MiB:.0f} MiB of float32 tensors ({len(tensors)} tensors), median of {repeat}")
    results = []
    repo_dir = workdir / "repo"

    def fresh_repo():
        shutil.rmtree(repo_dir, ignore_errors=True)

    def commit():
        with nbversion.Repo(repo_dir) as repo:
            repo.commit(tensors, model="bench")

    def sha_write():
        path = workdir / "raw.bin"
        with open(path, "wb") as f:
            for t in tensors.values():
                hashlib.sha256(t).digest()
                f.write(t)
            f.flush()
            os.fsync(f.fileno())

    def np_save():
        with open(workdir / "w.npz", "wb") as f:
            np.savez(f, **tensors)
            f.flush()
            os.fsync(f.fileno())

    def pickle_write():
        write_fsync(workdir / "w.pkl", [pickle.dumps(tensors, protocol=pickle.HIGHEST_PROTOCOL)])

    t = race(repeat, {"commit": (commit, fresh_repo), "sha": (sha_write, None), "save": (np_save, None),
                      "pickle": (pickle_write, None)})
    t_commit, t_sha, t_save, t_pickle = t["commit"], t["sha"], t["save"], t["pickle"]
    results.append(report("commit vs sha256 + write + fsync", t_commit, t_sha, ">= 0.70x", t_sha / t_commit >= 0.7))
    results.append(report("commit vs numpy.savez + fsync", t_commit, t_save, "(info)", True))
    results.append(report("commit vs pickle.dumps + write + fsync", t_commit, t_pickle, "(info)", True))

    return results + bench_load(workdir, tensors, repeat)


def bench_load(workdir: Path, tensors: dict, repeat: int) -> list:
    """``Repo.load`` of every tensor against ``numpy.load`` of one .npy per tensor, both from a warm
    page cache into new arrays (so both pay the same page faults)."""
    repo_dir = workdir / "repo"
    if not repo_dir.exists():
        with nbversion.Repo(repo_dir) as repo:
            repo.commit(tensors, model="bench")
    if not (workdir / "w.npz").exists():
        with open(workdir / "w.npz", "wb") as f:
            np.savez(f, **tensors)
    for name, t in tensors.items():
        np.save(workdir / f"{name.replace('/', '_')}.npy", t)
    npy = sorted(workdir.glob("layer_*.npy"))
    results = []
    with nbversion.Repo(repo_dir) as repo:
        strict = nbversion.Repo(repo_dir, verify="sha256")
        t = race(repeat + 1, {  # the first round warms every file's page cache alike
            "load": (lambda: repo.load("bench"), None),
            "npy": (lambda: [np.load(p) for p in npy], None),
            "npz": (lambda: dict(np.load(workdir / "w.npz")), None),
            "sha": (lambda: strict.load("bench"), None),
        })  # fmt: skip
        strict.close()
    t_load, t_npload, t_npz, t_load_sha = t["load"], t["npy"], t["npz"], t["sha"]
    results.append(report("load vs numpy.load (.npy per tensor)", t_load, t_npload, ">= 1.00x", t_npload / t_load >= 1.0))
    results.append(report("load vs numpy.load (.npz)", t_load, t_npz, "(info)", True))
    results.append(report("load, sha256 on every read, vs numpy.load", t_load_sha, t_npload, "(info)", True))
    return results


def bench_incremental(workdir: Path, size_mib: int) -> list:
    tensors = make_tensors(size_mib, count=10, seed=1)
    print(f"\nIncremental commit: 1 of 10 equal-size tensors changed ({size_mib} MiB in all)")
    with nbversion.Repo(workdir / "incr") as repo:
        repo.commit(tensors, model="m")
        changed = dict(tensors)
        changed["layer_03/kernel"] = tensors["layer_03/kernel"] + 1
        v = repo.commit(changed, model="m")
    ratio = v.stats["bytes_written"] / changed["layer_03/kernel"].nbytes
    ok = ratio <= 1.1
    print(f"  bytes written {v.stats['bytes_written']:,} for {changed['layer_03/kernel'].nbytes:,} changed: "
          f"{ratio:.4f}x  target <= 1.10x  {'MET' if ok else 'MISSED'}")
    return [{"name": "incremental commit bytes written / changed bytes", "ratio": ratio, "target": "<= 1.10x", "met": ok}]


_MEMORY_CHILD = textwrap.dedent(
    """
    import json, sys, numpy as np, nbversion
    sys.path.insert(0, sys.argv[4])
    from bench_core import make_tensors
    def peak():  # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's at fork)
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
    def reset_peak():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    repo = nbversion.Repo(sys.argv[2])
    if sys.argv[1] == "commit":
        tensors = make_tensors(int(sys.argv[3]), seed=7)
        reset_peak()
        before = peak()
        repo.commit(tensors, model="mem")
        print(json.dumps({"before": before, "after": peak(), "data": sum(t.nbytes for t in tensors.values())}))
    else:
        repo.load("mem", lazy=True)  # warm imports and the index, not the data
        reset_peak()
        before = peak()
        tensors = repo.load("mem")
        print(json.dumps({"before": before, "after": peak(), "data": sum(t.nbytes for t in tensors.values())}))
    """
)


def bench_memory(workdir: Path, size_mib: int) -> list:
    print(f"\nPeak memory (ru_maxrss) added beyond the tensors, {size_mib} MiB, separate processes")
    results = []
    for mode in ("commit", "load"):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, mode, str(workdir / "mem"), str(size_mib), str(Path(__file__).parent)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        m = json.loads(out.stdout)
        extra = m["after"] - m["before"] - (m["data"] if mode == "load" else 0)
        ok = extra <= 64 * MiB
        print(f"  {mode:<6} adds {extra / MiB:7.1f} MiB beyond {m['data'] / MiB:.0f} MiB of tensors  target <= 64 MiB  {'MET' if ok else 'MISSED'}")
        results.append({"name": f"{mode} peak memory beyond tensors (MiB)", "value": extra / MiB, "target": "<= 64", "met": ok})
    return results


def bench_listing(workdir: Path, versions: int) -> list:
    print(f"\nListing {versions:,} versions from the index")
    path = workdir / "many"
    start = time.perf_counter()
    with nbversion.Repo(path) as repo:
        rng = np.random.default_rng(0)
        for i in range(versions):
            repo.commit({"w": rng.random(16, dtype=np.float32)}, model="m", message=f"step {i}", metrics={"loss": 1 / (i + 1)})
    made = time.perf_counter() - start
    print(f"  (made them in {made:.1f} s: {made / versions * 1000:.2f} ms per commit, each durable)")
    with nbversion.Repo(path) as repo:
        t_log = median_of(5, lambda: repo.log("m"))
        t_hist = median_of(5, lambda: repo.history("m"))
        n = len(repo.log("m"))
    t_cli = median_of(5, lambda: subprocess.run(
        [sys.executable, "-m", "nbversion.cli", "--repo", str(path), "log", "--all", "--json"],
        capture_output=True, check=True))  # fmt: skip
    ok = t_log < 0.5 and t_hist < 0.5
    print(f"  Repo.log() of {n:,}: {t_log:.3f} s   Repo.history(): {t_hist:.3f} s   target < 0.5 s  {'MET' if ok else 'MISSED'}")
    print(f"  `nbversion log --all --json` whole process, start-up included: {t_cli:.3f} s")
    return [{"name": f"log of {n} versions (s)", "value": t_log, "history_s": t_hist, "cli_s": t_cli, "target": "< 0.5", "met": ok}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="scratch directory on the disk to measure (default: a temp dir)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only", help="comma-separated sections: throughput (commit and load), load, incremental, memory, listing")
    args = parser.parse_args()
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="nbversion-bench-", dir=args.dir))
    print(f"nbversion {nbversion.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, scratch {workdir}")
    try:
        only = set(args.only.split(",")) if args.only else {"throughput", "incremental", "memory", "listing"}
        results = []
        if "throughput" in only:
            results += bench_throughput(workdir, args.size_mib, args.repeat)
        elif "load" in only:
            results += bench_load(workdir, make_tensors(args.size_mib), args.repeat)
        if "incremental" in only:
            results += bench_incremental(workdir, args.size_mib)
        if "memory" in only:
            results += bench_memory(workdir, args.size_mib)
        if "listing" in only:
            results += bench_listing(workdir, args.versions)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    missed = [r["name"] for r in results if not r["met"]]
    print("\nAll targets met." if not missed else f"\nTargets missed: {'; '.join(missed)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
