"""``nbversion demo``: a two-minute tour on the embedded store, with no framework installed.

It trains a small softmax classifier with NumPy on synthetic data in three rounds, commits after
each, then shows the history, a diff, a restore of the first version and a CAR export.
"""

from __future__ import annotations

import numpy as np

from . import present
from .repo import Repo


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


def run_demo(repo: Repo) -> str:
    rng = np.random.default_rng(0)
    x, y = _data(rng)
    parts = np.array_split(np.arange(len(x)), 3)
    w = np.zeros((x.shape[1], 4), np.float32)
    b = np.zeros(4, np.float32)
    print(f"Repository: {repo.path}\n")
    versions = []
    for i, part in enumerate(parts, 1):
        _train(w, b, x[part], y[part], steps=5 * i)
        acc = _accuracy(w, b, x, y)
        v = repo.commit({"dense/kernel": w, "dense/bias": b}, model="demo", message=f"trained on part {i}",
                        metrics={"acc": acc})
        versions.append((v, acc))
        print(f"committed demo {v.label}  {v.cid}  acc={acc:.3f}  "
              f"({v.stats['new_tensors']} new tensors, {v.stats['bytes_written']:,} bytes written)")
    first, first_acc = versions[0]
    restored = repo.load(first.cid)
    again = _accuracy(restored["dense/kernel"], restored["dense/bias"], x, y)
    print(f"\nrestored {first.label}: accuracy {again:.3f} (recorded {first_acc:.3f})\n")
    print(present.HistoryTable("demo", repo.history("demo"), with_model=True))
    print()
    print(present.diff_text(repo.diff("demo~2", "demo")))
    print()
    car = repo.path.parent / "demo.car"
    root, size = repo.export_car("demo", car)
    print(f"Exported {root} ({size:,} bytes) to {car}")
    print(present.fsck_text(repo.fsck()))
    return "\nDone. Next, try:  nbversion show demo~1   nbversion log --json   nbversion hash demo.car"
