"""``nbversion demo``: a two-minute tour on the embedded store, with no framework installed.

It trains a small softmax classifier with NumPy on synthetic data in three rounds, commits after
each, then shows the history, a diff, a restore of the first version, a CAR export (checked by
importing it into an empty repository, in a temporary folder removed afterwards) and a check of
every block. Each section has a heading; every version it names is one this run committed (a
second run in the same folder tours a fresh model, ``demo-2``), and every hint it closes with
works as typed, spelled the way the user invoked the command.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import List, Tuple

import numpy as np

from . import present
from .repo import Repo, Version


def _data(rng: np.random.Generator, n: int = 3000, classes: int = 4, features: int = 32):
    centers = rng.normal(scale=0.35, size=(classes, features))
    labels = rng.integers(0, classes, size=n)
    return centers[labels] + rng.normal(size=(n, features)), labels


def _train(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int = 60, lr: float = 0.1):
    onehot = np.eye(w.shape[1])[y]
    for _ in range(steps):
        logits = x @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(x)
        w -= lr * x.T @ grad
        b -= lr * grad.sum(axis=0)


def _accuracy(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(((x @ w + b).argmax(axis=1) == y).mean())


def demo_model(repo: Repo) -> str:
    """The model this run tours: ``demo``, or ``demo-N`` (the first free N) where earlier runs left one."""
    taken = set(repo.models()) if repo.exists else set()
    name, n = "demo", 1
    while name in taken:
        n += 1
        name = f"demo-{n}"
    return name


def _heading(title: str) -> None:
    print(f"\n== {title} ==")


def run_demo(repo: Repo, command: str = "nbversion") -> str:
    """Run the tour on ``repo``, printing each section; the closing hints, spelled with ``command``
    (how the user invoked ``nbversion``, so that they work as typed)."""
    model = demo_model(repo)
    rng = np.random.default_rng(0)
    x, y = _data(rng)
    parts = np.array_split(np.arange(len(x)), 3)
    w = np.zeros((x.shape[1], 4), np.float32)
    b = np.zeros(4, np.float32)
    print(f"Repository: {repo.path}")
    if model != "demo":
        print(f"An earlier demo left model 'demo' here; this run tours a fresh model, {model!r}.")

    _heading("Commit three versions")
    versions: List[Tuple[Version, float]] = []
    for i, part in enumerate(parts, 1):
        _train(w, b, x[part], y[part], steps=5 * i)
        acc = _accuracy(w, b, x, y)
        v = repo.commit({"dense/kernel": w, "dense/bias": b}, model=model, message=f"trained on part {i}",
                        metrics={"acc": acc})
        versions.append((v, acc))
        print(present.clean(
            f"committed {model} {v.label}  {v.cid}  acc={present.number(acc)}  "
            f"({v.stats['new_tensors']} new tensors, {v.stats['bytes_written']:,} bytes written)"
        ))
    (first, first_acc), (last, _) = versions[0], versions[-1]

    _heading("History")
    print(present.HistoryTable(model, repo.history(model), with_model=True))

    _heading(f"Diff {first.label} -> {last.label}")
    print(present.clean(f"How {model} {last.label} ({last.short}) differs from {first.label} ({first.short}):"))
    print(present.diff_text(repo.diff(first.cid, last.cid)))

    _heading(f"Restore {first.label}")
    restored = repo.load(first.cid)
    again = _accuracy(restored["dense/kernel"], restored["dense/bias"], x, y)
    print(f"restored {first.label}: accuracy {present.number(again)} (recorded {present.number(first_acc)})")

    _heading("Export")
    with tempfile.TemporaryDirectory(prefix="nbversion-demo-") as scratch:
        car = Path(scratch) / f"{model}.car"
        root, size = repo.export_car(last.cid, car)
        with Repo(Path(scratch) / "check") as other:
            imported = other.import_car(car)
        print(present.clean(
            f"Exported {model} {last.label} ({root}, {size:,} bytes, with its history) to a CAR file, and "
            f"imported it into an empty repository: {len(imported)} versions, every block verified. "
            "(The file was temporary and is gone.)"
        ))

    _heading("Check")
    print(present.fsck_text(repo.fsck()))
    hints = [f"{command} show {model}~1", f"{command} log --json", f"{command} export {model} -o {model}.car"]
    return "\nDone. Next, try:\n" + "\n".join(f"  {h}" for h in hints)
