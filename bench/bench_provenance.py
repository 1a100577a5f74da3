"""What recording code and environment adds to %commit_weights (issue 12, point 3).

    python bench/bench_provenance.py             # a tiny model and a ~96 MiB one, --repeat 7
    python bench/bench_provenance.py --repeat 11 --mib 0

In a real IPython shell whose notebook file (``JPY_SESSION_NAME``) is on disk (40 cells, with
outputs, ~300 KB), each commit runs with provenance (the notebook's code and the environment
record) and without (the magics' capture switched off), interleaved; each figure is the median of
--repeat runs and the ratio is with/without. Also shown: the environment's first description in
a process (reading every installed distribution) and a cached one, and one code capture.
Target: no measurable change on the ~96 MiB model (ratio within noise, <= 1.02x).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np


def notebook(path: Path, cells: int = 40) -> None:
    nb = nbformat.v4.new_notebook()
    for i in range(cells):
        cell = nbformat.v4.new_code_cell(f"# step {i}\nx{i} = compute({i})\nprint(x{i})", id=f"c{i}")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.123456789\n" * 600)]
        cell.execution_count = i + 1
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("%commit_weights w -m bench --allow-empty", id="commit"))
    nbformat.write(nb, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--mib", type=int, default=96, help="size of the large model (0: only the tiny one)")
    args = parser.parse_args()

    from nbversion.jupyter import code as code_module
    from nbversion.repo import environment as env_module

    started = time.perf_counter()
    env_module.current_environment()
    cold = time.perf_counter() - started
    warm = statistics.median(_timed(env_module.current_environment) for _ in range(50))

    work = Path(tempfile.mkdtemp(prefix="nbv-bench-prov-"))
    os.chdir(work)
    notebook(work / "train.ipynb")
    os.environ["JPY_SESSION_NAME"] = str(work / "train.ipynb")
    capture = statistics.median(
        _timed(lambda: code_module.notebook_code(["%commit_weights w -m bench --allow-empty"], "train.ipynb", None))
        for _ in range(20)
    )
    size = (work / "train.ipynb").stat().st_size
    print(f"environment: first description {cold * 1e3:.1f} ms, cached {warm * 1e6:.0f} us; "
          f"code capture of a {size / 1e3:.0f} KB notebook {capture * 1e3:.2f} ms")  # fmt: skip

    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nbversion")
    magics = ip.magics_manager.registry["NbversionMagics"]
    real = magics.__class__._provenance

    def provenance(on: bool) -> None:
        magics.__class__._provenance = real if on else (lambda self, context: {})

    models = {"tiny (1 KiB)": 256}
    if args.mib:
        models[f"large ({args.mib} MiB)"] = args.mib * (1 << 20) // 4
    for label, floats in models.items():
        ip.user_ns["w"] = {f"layer{i}": np.zeros(floats // 6 or 1, dtype=np.float32) for i in range(6)}
        ip.run_cell("w['layer0'][0] = 0", store_history=True)
        times: dict = {True: [], False: []}
        for round_ in range(args.repeat + 1):
            for on in (True, False) if round_ % 2 else (False, True):
                provenance(on)
                ip.user_ns["w"]["layer0"] += 1  # fresh weights: nothing deduplicated away
                with contextlib.redirect_stdout(io.StringIO()):
                    took = _timed(lambda: ip.run_cell("%commit_weights w -m bench --allow-empty", store_history=True))
                if round_:  # the first round warms up
                    times[on].append(took)
        provenance(True)
        with_, without = statistics.median(times[True]), statistics.median(times[False])
        print(f"  %commit_weights {label:<16} with provenance {with_ * 1e3:8.2f} ms  without {without * 1e3:8.2f} ms  "
              f"with/without {with_ / without:5.3f}x  (+{(with_ - without) * 1e3:.2f} ms)")  # fmt: skip
    context = magics._context()  # as the last %commit_weights cell saw it
    own = statistics.median(_timed(lambda: magics._provenance(dict(context))) for _ in range(50))
    print(f"  the capture alone (code + environment, per commit): {own * 1e3:.2f} ms")
    version = next(v for v in magics.repo.log("w") if v.code is not None)
    source = version.context.get("code_source")
    print(f"last version: code {version.code.notebook} ({source}), environment {version.environment}")
    sys.stdout.flush()


def _timed(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
