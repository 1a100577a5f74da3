"""The JupyterLab panel with 10,000 versions: first paint and a full scroll, in Debian's Chromium.

    python bench/bench_panel.py [--versions 10000] [--runs 5]

Makes a repository with N versions of one model (with a branch every 50), starts a real
JupyterLab, opens a notebook next to it and the Versions panel, and measures: the time from
clicking the panel's tab to the first node on screen; a scroll from top to bottom in 100 steps
(mean and worst frame time from requestAnimationFrame); how many rows are in the DOM (the list is
virtualised); the REST history request alone; and the graph layout alone, in Node, on a DAG of the
same shape (the panel's compiled `labextension/lib/layout.js`, there after `jlpm build`). Baseline in
the same run: the same page with the panel closed (the notebook alone) for the paint, and a 60 Hz
frame budget (16.7 ms) for scrolling and for the layout, and the page's idle frames (100 frames with
nothing scrolling, the panel open: how steady this machine's frames are at all). Each of ``--runs`` runs opens the page
afresh (a new browser context) against the same server; the figures printed are the medians over
the runs, with the range.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import nbformat
import numpy as np
from nbformat.v4 import new_code_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ui"))
from labserver import CHROMIUM, CHROMIUM_ARGS, running_lab  # noqa: E402

import nbversion  # noqa: E402

LAYOUT_JS = Path(__file__).resolve().parent.parent / "labextension" / "lib" / "layout.js"

# The DAG make_repo builds (a main line, a side version every 50), laid out 7 times; the first is a warm-up.
LAYOUT = """
const { layoutGraph } = await import(process.argv[1]);
const n = Number(process.argv[2]);
const nodes = [];
let main = null;
for (let i = 0; i < n; i++) {
  if (i % 50 === 49 && main) { nodes.push({ cid: `b${i}`, parents: [main] }); continue; }
  nodes.push({ cid: `n${i}`, parents: main ? [main] : [] });
  main = `n${i}`;
}
nodes.reverse();
const runs = [];
let layout;
for (let k = 0; k < 7; k++) {
  const t = performance.now();
  layout = layoutGraph(nodes);
  runs.push(performance.now() - t);
}
console.log(JSON.stringify({ rows: layout.rows.length, width: layout.width, runs: runs.slice(1) }));
"""

# The same frames with nothing scrolling: what this machine's frames are when the page is idle.
IDLE = """async () => {
  const frames = [];
  let last = performance.now();
  for (let i = 0; i < 100; i++) {
    await new Promise(r => requestAnimationFrame(() => r()));
    const now = performance.now(); frames.push(now - last); last = now;
  }
  return frames;
}"""

SCROLL = """async () => {
  const list = document.querySelector("#nbversion-panel [data-testid='nbversion-list']");
  const frames = [];
  let last = performance.now();
  for (let i = 1; i <= 100; i++) {
    list.scrollTop = (list.scrollHeight - list.clientHeight) * i / 100;
    await new Promise(r => requestAnimationFrame(() => r()));
    const now = performance.now(); frames.push(now - last); last = now;
  }
  for (let i = 0; i < 3; i++) await new Promise(r => requestAnimationFrame(() => r()));  // let it settle
  const nodes = [...document.querySelectorAll("#nbversion-panel [data-testid='nbversion-node']")];
  nodes.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
  return {frames, rows: nodes.length, bottom: nodes.map(n => n.dataset.label),
          scrollTop: list.scrollTop, scrollHeight: list.scrollHeight, clientHeight: list.clientHeight};
}"""


def make_repo(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    with nbversion.Repo(path) as repo:
        main = None
        for i in range(n):
            if i % 50 == 49 and main is not None:
                repo.commit({"w": rng.random(4)}, model="model", message=f"branch {i}", parents=[main], branch=f"b{i}",
                            metrics={"acc": float(i) / n})  # fmt: skip
                continue
            v = repo.commit({"w": rng.random(4)}, model="model", message=f"step {i}", metrics={"acc": float(i) / n},
                            parents=[main] if main else [], branch="main")  # fmt: skip
            main = v.cid


def layout_time(n: int) -> str:
    """The graph layout of ``n`` versions in Node, as a line to print (or why it was not measured)."""
    node = shutil.which("node")
    if node is None or not LAYOUT_JS.exists():
        return f"graph layout: not measured ({'node' if node is None else LAYOUT_JS} not found; run jlpm build)"
    out = subprocess.run([node, "--input-type=module", "-e", LAYOUT, LAYOUT_JS.as_uri(), str(n)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    result = json.loads(out.stdout)
    runs = sorted(result["runs"])
    return (f"graph layout of {result['rows']:,} versions ({result['width']} lanes) in Node: median "
            f"{runs[len(runs) // 2]:.1f} ms, worst {runs[-1]:.1f} ms of {len(runs)} (60 Hz frame budget 16.7 ms)")


def median_of(values: List[float]) -> str:
    """A median with the range it came from, for a line of the report."""
    return f"{statistics.median(values):.1f} (range {min(values):.1f} to {max(values):.1f})"


def one_run(browser: Any, lab: Dict[str, Any]) -> Dict[str, Any]:
    """One fresh page: the REST history alone, the notebook's paint, the panel's paint, a full scroll."""
    t = time.perf_counter()
    body = urllib.request.urlopen(f"{lab['url']}/nbversion/history?path=big.ipynb&token={lab['token']}").read()
    rest = time.perf_counter() - t
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    url = f"{lab['url']}/lab/workspaces/bench/tree/big.ipynb?reset&token={lab['token']}"
    t = time.perf_counter()
    page.goto(url)
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=120_000)
    notebook_paint = time.perf_counter() - t
    t = time.perf_counter()
    page.locator(".jp-SideBar [title='Versions']").first.click()
    page.locator("#nbversion-panel [data-testid='nbversion-node']").first.wait_for(timeout=120_000)
    panel_paint = time.perf_counter() - t
    idle = sorted(page.evaluate(IDLE))
    result = page.evaluate(SCROLL)
    context.close()
    frames = sorted(result["frames"])
    return {
        "rest_ms": rest * 1000, "rest_bytes": len(body), "notebook_ms": notebook_paint * 1000,
        "panel_ms": panel_paint * 1000, "ratio": panel_paint / notebook_paint,
        "mean": sum(frames) / len(frames), "p95": frames[int(len(frames) * 0.95) - 1], "worst": frames[-1],
        "idle_p95": idle[int(len(idle) * 0.95) - 1],
        "scroll": result,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="fresh pages to measure (medians are printed)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="nbversion-bench-panel-"))
    try:
        start = time.perf_counter()
        (base / "root").mkdir()
        make_repo(base / "root" / ".nbversion", args.versions)
        print(f"made {args.versions:,} versions in {time.perf_counter() - start:.1f} s")
        kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")], metadata={"kernelspec": kernelspec}),
                       base / "root" / "big.ipynb")  # fmt: skip
        with running_lab(base) as lab, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            runs = [one_run(browser, lab) for _ in range(args.runs)]
            browser.close()
        col = {key: [r[key] for r in runs] for key in runs[0] if key != "scroll"}
        result = runs[-1]["scroll"]
        n = len(runs)
        print(f"medians of {n} runs, each a fresh page on the same server:")
        print(f"REST history of {args.versions:,} versions: {median_of(col['rest_ms'])} ms, "
              f"{statistics.median(col['rest_bytes']) / 1e6:.2f} MB")
        print(layout_time(args.versions))
        print(f"first paint of the panel after clicking its tab: {median_of(col['panel_ms'])} ms "
              f"(baseline, the notebook page itself: {median_of(col['notebook_ms'])} ms; "
              f"ratio {statistics.median(col['ratio']):.2f}x)")
        print(f"full scroll, 100 steps: mean frame {median_of(col['mean'])} ms, p95 {median_of(col['p95'])} ms, "
              f"worst {median_of(col['worst'])} ms (60 Hz budget 16.7 ms: median p95 "
              f"{'within' if statistics.median(col['p95']) <= 16.7 else 'over'}; idle page, nothing scrolling: "
              f"p95 {median_of(col['idle_p95'])} ms)")
        print(f"rows in the DOM at the bottom: {result['rows']} of {args.versions:,} (virtualised); last rows on "
              f"screen: {', '.join(result['bottom'][-3:])} (scrolled {result['scrollTop']:.0f} of "
              f"{result['scrollHeight'] - result['clientHeight']:.0f} px)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
