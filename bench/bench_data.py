"""Data versions against weights: committing the same arrays as a data version and as a model's
weights (same pipeline: the ratio should be about 1), a notebook re-run of an unchanged data set
(hashing only: nothing written), and a DataFrame as Parquet. Medians of interleaved runs, each
in a fresh repository; ratios against the weights commit measured in the same run.

    .venv/bin/python bench/bench_data.py [MiB]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import nbversion

RUNS = 5


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    rng = np.random.default_rng(0)
    n = mib * (1 << 20) // 4 // 64
    arrays = {"X": rng.standard_normal((n, 64), dtype=np.float32), "y": (np.arange(n) % 10).astype(np.int64)}
    frame = pd.DataFrame({"a": rng.standard_normal(n // 8), "label": np.array(["cat", "dog"])[np.arange(n // 8) % 2]})
    times: dict = {"weights": [], "data": [], "data re-run": [], "dataframe": []}
    for _ in range(RUNS):
        root = Path(tempfile.mkdtemp())
        try:
            for what in ("weights", "data"):
                with nbversion.Repo(root / what / ".nbversion") as repo:
                    start = time.perf_counter()
                    if what == "weights":
                        repo.commit(arrays, model="m")
                    else:
                        repo.commit_data("d", arrays)
                    times[what].append(time.perf_counter() - start)
                    if what == "data":
                        start = time.perf_counter()
                        assert repo.commit_data("d", arrays).stats["unchanged"]
                        times["data re-run"].append(time.perf_counter() - start)
                        start = time.perf_counter()
                        repo.commit_data("f", {"t": frame})
                        times["dataframe"].append(time.perf_counter() - start)
        finally:
            shutil.rmtree(root)
    base = statistics.median(times["weights"])
    size = sum(a.nbytes for a in arrays.values()) / 2**20
    print(f"{size:.0f} MiB of arrays; DataFrame of {len(frame):,} rows; medians of {RUNS} interleaved runs")
    for what, values in times.items():
        median = statistics.median(values)
        print(f"{what:12s} {median * 1000:8.1f} ms   x{median / base:.2f} of the weights commit")


if __name__ == "__main__":
    main()
