"""Speed of %commit_weights and %checkout on live ~100 MB models, against the frameworks' own save/load.

    python bench/bench_live.py            # Keras (six Dense(2048)) and PyTorch (six Linear(2048, 2048)), a process each
    python bench/bench_live.py --only torch

Targets (issue 10): %commit_weights <= 1.2x Keras ``model.save_weights`` (.weights.h5) + fsync and
``torch.save(state_dict)`` + fsync (commits are durable, so the baselines are made durable too; the
ratio without the fsync is shown for information); %checkout of a version into a model whose
weights were just trained (in no version, so every tensor is read and replaced) <= 1.2x
``model.load_weights`` and <= 1.5x ``load_state_dict(torch.load(...))``, both versions read once
before (commits bypass the page cache; the first checkout of a version just committed, read from
disk, is shown for information). Committing an unchanged
model writes only metadata; after changing one layer, only that layer's bytes are written. The
magics run in a real IPython shell; every contender writes fresh values each round (so nothing is
deduplicated away) and rounds are interleaved; each figure is the median of --repeat runs, and
the CPU time (all threads) is shown beside the wall time, as a check on a busy machine.

Fresh memory: on this kind of virtual machine, writing memory the process has just been given
costs about as much as reading the bytes (the kernel zeroes each page, and the host may have
taken it back), and which contender gets memory the other just freed depends on glibc, which
hands a freed block at the top of its heap back to the kernel: in one process, interleaved, one
side's frees warm the other's next allocations. With ``--malloc keep`` each framework's process
runs with glibc told to keep freed memory (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``),
so neither side pays for fresh pages and the ratio compares the work alone; ``--malloc default``
(the default) is what a notebook gets. The CPU times printed show which side paid.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

MiB = 1 << 20


def line(
    name: str, ours: float, base: float, target: Optional[float], cpu: Optional[Tuple[float, float]] = None
) -> bool:
    """Print one comparison; ``target``: the most ours/baseline may be (None: for information)."""
    ok = target is None or ours <= target * base
    goal = f"target <= {target}x  {'MET' if ok else 'MISSED'}" if target is not None else "(info)"
    work = f"  cpu {cpu[0]:6.3f} s / {cpu[1]:6.3f} s = {cpu[0] / cpu[1]:4.2f}x" if cpu else ""
    print(f"  {name:<50} ours {ours:6.3f} s  baseline {base:6.3f} s  ours/baseline {ours / base:5.2f}x{work}  {goal}")
    return ok


def race(repeat: int, contenders: dict) -> Tuple[dict, dict]:
    """Median wall time and median CPU time (all threads) of each ``name: (func, setup)`` over
    ``repeat`` interleaved runs."""
    wall: dict = {name: [] for name in contenders}
    cpu: dict = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (func, setup) in contenders.items():
            if setup is not None:
                setup()
            c, t = time.process_time(), time.perf_counter()
            func()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return ({n: statistics.median(v) for n, v in wall.items()}, {n: statistics.median(v) for n, v in cpu.items()})


def shell(workdir: Path):
    """A real IPython shell with nbversion loaded (IPython's own, not its test harness, which needs pytest)."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    os.chdir(workdir)
    ip.run_line_magic("load_ext", "nbversion")
    return ip


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_model(ip, name: str, perturb, save, load, change_one, layer_bytes: int, repeat: int, saved: Path,
                checkout_target: float) -> list:  # fmt: skip
    """Commit and checkout of the live model ``name`` against the framework's own save and load.

    Commits are durable (fsync); the frameworks' saves are not, so the save is measured both as the
    framework does it and followed by an fsync of the file it wrote (like with like)."""
    quiet = lambda magic, line: lambda: run_quietly(ip, magic, line)  # noqa: E731
    t, c = race(repeat, {
        "commit": (quiet("commit_weights", f"{name} -m bench"), perturb),
        "save": (save, perturb),
        "save+fsync": (lambda: (save(), fsync(saved)), perturb),
    })  # fmt: skip
    results = [line(f"%commit_weights vs {save.__doc__}", t["commit"], t["save"], None, (c["commit"], c["save"])),
               line(f"%commit_weights vs {save.__doc__} + fsync", t["commit"], t["save+fsync"], 1.2,
                    (c["commit"], c["save+fsync"]))]  # fmt: skip
    run_quietly(ip, "commit_weights", f"{name} -m a")
    perturb()
    run_quietly(ip, "commit_weights", f"{name} -m b")
    versions = ip.magics_manager.registry["NbversionMagics"].repo.log(name)
    a, b = versions[1].cid, versions[0].cid
    # Commits write around the page cache (O_DIRECT), while the baseline's file was just written
    # through it: read both versions once, so both sides read from memory (the first checkout of a
    # version just committed, read from disk, is measured on its own below).
    for ref in (a, b):
        perturb()
        run_quietly(ip, "checkout", f"{ref} {name}")
    flip = iter(range(10**6))
    t, c = race(repeat, {  # from weights just trained (perturbed: in no version), so every tensor is read and replaced
        "checkout": (lambda: run_quietly(ip, "checkout", f"{a if next(flip) % 2 else b} {name}"), perturb),
        "load": (load, perturb),
    })  # fmt: skip
    results.append(line(f"%checkout after training vs {load.__doc__}", t["checkout"], t["load"], checkout_target,
                        (c["checkout"], c["load"])))  # fmt: skip
    repo = ip.magics_manager.registry["NbversionMagics"].repo

    fresh = []

    def commit_then_train() -> None:
        perturb()
        run_quietly(ip, "commit_weights", f"{name} -m fresh")
        fresh.append(repo.log(name)[0].cid)
        perturb()

    t, c = race(repeat, {  # the version committed just before: its bytes are read from disk
        "checkout": (lambda: run_quietly(ip, "checkout", f"{fresh[-1]} {name}"), commit_then_train),
        "load": (load, perturb),
    })  # fmt: skip
    results.append(line(f"first %checkout of a version just committed vs {load.__doc__}", t["checkout"], t["load"],
                        None, (c["checkout"], c["load"])))  # fmt: skip
    hold_b = quiet("checkout", f"{b} {name}")
    t, c = race(repeat, {  # the version the model already holds: its fingerprints say so, nothing is read
        "checkout": (hold_b, hold_b),
        "load": (load, None),
    })  # fmt: skip
    results.append(line(f"%checkout of the version it holds vs {load.__doc__}", t["checkout"], t["load"], None))
    return results + dedup_checks(ip, name, change_one, layer_bytes)


def run_quietly(ip, magic: str, line: str) -> None:
    """A line magic, its printed report swallowed (printing to a terminal is not what is measured)."""
    with contextlib.redirect_stdout(io.StringIO()):
        ip.run_line_magic(magic, line)


def bench_keras(ip, workdir: Path, repeat: int) -> list:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2048,))] + [keras.layers.Dense(2048) for _ in range(6)])
    ip.user_ns["model"] = model
    size = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    print(f"\nKeras {keras.__version__}: Sequential of six Dense(2048), {size / MiB:.0f} MiB of weights"
          + _malloc_note())
    rng = np.random.default_rng(0)
    h5 = workdir / "w.weights.h5"

    def perturb():
        for v in model.weights:
            v.assign(rng.standard_normal(v.shape).astype("float32"))

    def save():
        """model.save_weights (h5)"""
        model.save_weights(h5)

    def load():
        """model.load_weights (h5)"""
        model.load_weights(h5)

    def change_one():
        kernel = model.layers[2].kernel
        kernel.assign(rng.standard_normal(kernel.shape).astype("float32"))

    return bench_model(ip, "model", perturb, save, load, change_one, 2048 * 2048 * 4, repeat, h5, 1.2)


def bench_torch(ip, workdir: Path, repeat: int) -> list:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(*[torch.nn.Linear(2048, 2048) for _ in range(6)])
    ip.user_ns["net"] = net
    size = sum(p.numel() * 4 for p in net.parameters())
    print(f"\nPyTorch {torch.__version__}: Sequential of six Linear(2048, 2048), {size / MiB:.0f} MiB of weights"
          + _malloc_note())
    path = workdir / "net.pt"

    def perturb():
        with torch.no_grad():
            for p in net.parameters():
                p.normal_()

    def save():
        """torch.save(state_dict)"""
        torch.save(net.state_dict(), path)

    def load():
        """load_state_dict(torch.load(...))"""
        net.load_state_dict(torch.load(path, weights_only=True))

    def change_one():
        with torch.no_grad():
            net[2].weight.normal_()

    return bench_model(ip, "net", perturb, save, load, change_one, 2048 * 2048 * 4, repeat, path, 1.5)


def _malloc_note() -> str:
    return "; glibc keeps freed memory (--malloc keep)" if "MALLOC_TRIM_THRESHOLD_" in os.environ else ""


def dedup_checks(ip, name: str, change_one, layer_bytes: int) -> list:
    repo = ip.magics_manager.registry["NbversionMagics"].repo
    run_quietly(ip, "commit_weights", f"{name} -m same --allow-empty")
    run_quietly(ip, "commit_weights", f"{name} -m 'unchanged again' --allow-empty")
    unchanged = repo.log(name)[0]
    change_one()
    run_quietly(ip, "commit_weights", f"{name} -m 'one layer changed'")
    one = repo.log(name)[0]
    written_unchanged = _written(repo, unchanged)
    written_one = _written(repo, one)
    ok1 = written_unchanged < 64 * 1024
    ok2 = layer_bytes <= written_one <= 1.1 * layer_bytes
    print(f"  unchanged model: {written_unchanged:,} bytes written (metadata only)  {'MET' if ok1 else 'MISSED'}")
    print(f"  one layer changed: {written_one:,} bytes written for a {layer_bytes:,}-byte layer  {'MET' if ok2 else 'MISSED'}")
    return [ok1, ok2]


def _written(repo, version) -> int:
    """Bytes of blocks this version added that its parent did not have."""
    parent = set(repo.version_blocks(repo.version(version.parents[0])))
    mine = set(repo.version_blocks(version))
    return sum(repo.store.size(c) for c in mine - parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--only", choices=["keras", "torch"])
    parser.add_argument("--malloc", choices=["default", "keep"], default="default",
                        help="keep: glibc keeps freed memory in both contenders' process (see above)")
    args = parser.parse_args()
    if args.malloc == "keep" and "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        env = dict(os.environ, MALLOC_TRIM_THRESHOLD_=str(1 << 40), MALLOC_MMAP_THRESHOLD_=str(32 << 20))
        raise SystemExit(subprocess.run([sys.executable, *sys.argv], env=env).returncode)
    if args.only is None:
        # Each framework in a process of its own, as in a notebook: TensorFlow's threads and
        # allocator, once loaded, slow PyTorch's side (ours and torch.save alike) unevenly.
        codes = [
            subprocess.run([sys.executable, __file__, "--only", framework, "--repeat", str(args.repeat),
                            "--malloc", args.malloc] + (["--dir", args.dir] if args.dir else [])).returncode
            for framework in ("keras", "torch")
        ]  # fmt: skip
        raise SystemExit(max(codes))
    workdir = Path(tempfile.mkdtemp(prefix="nbversion-bench-live-", dir=args.dir))
    try:
        ip = shell(workdir)
        bench = bench_keras if args.only == "keras" else bench_torch
        results = bench(ip, workdir, args.repeat)
    finally:
        os.chdir(workdir.parent)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nAll targets met." if all(results) else "\nSome targets missed (see above).")
    raise SystemExit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
