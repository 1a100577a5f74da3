"""Speed of %commit_weights and %checkout on live ~100 MB models, against the frameworks' own save/load.

    python bench/bench_live.py            # Keras (six Dense(2048)) and PyTorch (six Linear(2048, 2048))

Targets (issue 4): %commit_weights within 2x of Keras ``model.save_weights`` (.weights.h5) and of
``torch.save(state_dict)``; %checkout within 2x of ``model.load_weights`` and of
``load_state_dict(torch.load(...))``. Committing an unchanged model writes only metadata; after
changing one layer, only that layer's bytes are written. The magics run in a real IPython shell;
every contender writes fresh values each round (so nothing is deduplicated away) and rounds are
interleaved; each figure is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from bench_core import race  # (bench/ is on sys.path when run as a script)

MiB = 1 << 20


def line(name: str, ours: float, base: float) -> bool:
    ok = ours <= 2 * base
    print(f"  {name:<46} ours {ours:6.3f} s  baseline {base:6.3f} s  ours/baseline {ours / base:5.2f}x  target <= 2x  {'MET' if ok else 'MISSED'}")
    return ok


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


def bench_model(ip, name: str, perturb, save, load, change_one, layer_bytes: int, repeat: int, saved: Path) -> list:
    """Commit and checkout of the live model ``name`` against the framework's own save and load.

    Commits are durable (fsync); the frameworks' saves are not, so the save is measured both as the
    framework does it and followed by an fsync of the file it wrote (like with like)."""
    t = race(repeat, {
        "commit": (lambda: ip.run_line_magic("commit_weights", f"{name} -m bench"), perturb),
        "save": (save, perturb),
        "save+fsync": (lambda: (save(), fsync(saved)), perturb),
    })  # fmt: skip
    results = [line(f"%commit_weights vs {save.__doc__}", t["commit"], t["save"]),
               line(f"%commit_weights vs {save.__doc__} + fsync", t["commit"], t["save+fsync"])]  # fmt: skip
    ip.run_line_magic("commit_weights", f"{name} -m a")
    perturb()
    ip.run_line_magic("commit_weights", f"{name} -m b")
    versions = ip.magics_manager.registry["NbversionMagics"].repo.log(name)
    a, b = versions[1].cid, versions[0].cid
    flip = iter(range(10**6))
    t = race(repeat, {  # from weights just trained (perturbed), so every checkout changes every tensor
        "checkout": (lambda: ip.run_line_magic("checkout", f"{a if next(flip) % 2 else b} {name}"), perturb),
        "load": (load, perturb),
    })  # fmt: skip
    results.append(line(f"%checkout vs {load.__doc__}", t["checkout"], t["load"]))
    hold_b = lambda: ip.run_line_magic("checkout", f"{b} {name}")  # noqa: E731
    t = race(repeat, {  # the version the model already holds: its fingerprints say so, nothing is read
        "checkout": (hold_b, hold_b),
        "load": (load, None),
    })  # fmt: skip
    results.append(line(f"%checkout of the version it holds vs {load.__doc__}", t["checkout"], t["load"]))
    return results + dedup_checks(ip, name, change_one, layer_bytes)


def bench_keras(ip, workdir: Path, repeat: int) -> list:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2048,))] + [keras.layers.Dense(2048) for _ in range(6)])
    ip.user_ns["model"] = model
    size = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    print(f"\nKeras {keras.__version__}: Sequential of six Dense(2048), {size / MiB:.0f} MiB of weights")
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

    return bench_model(ip, "model", perturb, save, load, change_one, 2048 * 2048 * 4, repeat, h5)


def bench_torch(ip, workdir: Path, repeat: int) -> list:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(*[torch.nn.Linear(2048, 2048) for _ in range(6)])
    ip.user_ns["net"] = net
    size = sum(p.numel() * 4 for p in net.parameters())
    print(f"\nPyTorch {torch.__version__}: Sequential of six Linear(2048, 2048), {size / MiB:.0f} MiB of weights")
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

    return bench_model(ip, "net", perturb, save, load, change_one, 2048 * 2048 * 4, repeat, path)


def dedup_checks(ip, name: str, change_one, layer_bytes: int) -> list:
    repo = ip.magics_manager.registry["NbversionMagics"].repo
    ip.run_line_magic("commit_weights", f"{name} -m same --allow-empty")
    ip.run_line_magic("commit_weights", f"{name} -m 'unchanged again' --allow-empty")
    unchanged = repo.log(name)[0]
    change_one()
    ip.run_line_magic("commit_weights", f"{name} -m 'one layer changed'")
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
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="nbversion-bench-live-", dir=args.dir))
    try:
        ip = shell(workdir)
        results = []
        if args.only in (None, "keras"):
            results += bench_keras(ip, workdir, args.repeat)
        if args.only in (None, "torch"):
            results += bench_torch(ip, workdir, args.repeat)
    finally:
        os.chdir(workdir.parent)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nAll targets met." if all(results) else "\nSome targets missed (see above).")


if __name__ == "__main__":
    main()
