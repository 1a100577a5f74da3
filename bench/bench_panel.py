"""The JupyterLab panel with 10,000 versions: first paint and a full scroll, in Debian's Chromium.

    python bench/bench_panel.py [--versions 10000] [--runs 5]

Makes a repository with N versions of one model (with a branch every 50), starts a real
JupyterLab, opens a notebook next to it and the Versions panel, and measures:

* the REST history: the first page the panel asks for (``limit=100``) and the whole list (no
  ``limit``, as other callers read it), over HTTP and, in-process, the JSON text alone;
* the time from clicking the panel's tab to the first node on screen, and to the whole history
  in the tree (the pages after the first are read in the background);
* a scroll from top to bottom in 100 steps, two ways. (1) Frame intervals from
  requestAnimationFrame: vsync-locked (headless Chromium here draws at 60 Hz whatever the flags;
  ``--disable-frame-rate-limit``/``--disable-gpu-vsync`` change nothing), so an interval is 16.7 ms
  or a multiple, and on a loaded machine the idle page misses frames too: this says whether frames
  were dropped, not how close each came to the budget. (2) The main thread's work per scroll
  step, from Chrome's own counters (CDP ``Performance.getMetrics``) read before and after each
  step (a step: set the scroll offset, wait two frames and the tasks after them): ThreadTime, the
  renderer main thread's CPU time (script, style, layout, paint recording: everything a frame
  waits on the main thread for; CPU time, so other processes on a loaded machine do not inflate
  it), and TaskDuration, the same tasks' wall time. The same steps with nothing scrolling give
  the measurement's own cost (an idle frame, the CDP calls); the scroll's own work per frame is
  the difference. This is the figure to hold against the 16.7 ms budget;
* how many rows are in the DOM (the list is virtualised), and the graph layout alone, in Node, on
  a DAG of the same shape (the panel's compiled `labextension/lib/layout.js`, there after `jlpm
  build`).

Baselines in the same run: the same page with the panel closed (the notebook alone) for the paint,
a 60 Hz frame budget (16.7 ms) for scrolling and for the layout, and the page's idle frames (100
frames with nothing scrolling, the panel open: how steady this machine's frames are at all). Each
of ``--runs`` runs opens the page afresh (a new browser context) against the same server; the
figures printed are the medians over the runs, with the range.
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
from nbversion import present  # noqa: E402

FIRST_PAGE = 100  # what the panel asks for first (labextension/src/model.ts)

LAYOUT_JS = Path(__file__).resolve().parent.parent / "labextension" / "lib" / "layout.js"

# The DAG make_repo builds (a main line, a side version every 50), laid out 7 times; the first is a warm-up.
LAYOUT = """
const { layoutGraph, GrowingLayout } = await import(process.argv[1]);
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
// As the panel lays it out while the pages come: 100, then 2000 at a time; the slowest page.
const pages = [];
for (let k = 0; k < 7; k++) {
  const growing = new GrowingLayout();
  let worst = 0;
  for (let end = 100; ; end = Math.min(n, end + 2000)) {
    const t = performance.now();
    growing.layoutOf(nodes.slice(0, end), end === n);
    worst = Math.max(worst, performance.now() - t);
    if (end === n) break;
  }
  pages.push(worst);
}
console.log(JSON.stringify({ rows: layout.rows.length, width: layout.width, runs: runs.slice(1), pages: pages.slice(1) }));
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


# One step of the CDP measurement: scroll (or not), then wait out two frames and the tasks after them.
STEP = """async (i) => {
  const list = document.querySelector("#nbversion-panel [data-testid='nbversion-list']");
  if (i !== null) list.scrollTop = (list.scrollHeight - list.clientHeight) * i / 100;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0))));
}"""

WORK = ("ThreadTime", "TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def main_thread_work(page: Any, cdp: Any, scroll: bool) -> Dict[str, List[float]]:
    """Per step (100 of them, from the top), the main thread's work in ms by Chrome's counters."""
    page.evaluate(STEP, 0)  # back to the top

    def metrics() -> Dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    out: Dict[str, List[float]] = {key: [] for key in WORK}
    before = metrics()
    for i in range(1, 101):
        page.evaluate(STEP, i if scroll else None)
        after = metrics()
        for key in WORK:
            out[key].append((after[key] - before[key]) * 1000)
        before = after
    return out


def p95(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.95) - 1]


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
    runs, pages = sorted(result["runs"]), sorted(result["pages"])
    return (f"graph layout of {result['rows']:,} versions ({result['width']} lanes) in Node: all at once median "
            f"{runs[len(runs) // 2]:.1f} ms, worst {runs[-1]:.1f} ms of {len(runs)}; grown page by page as the panel "
            f"reads them (100, then 2,000 at a time), the slowest page: median {pages[len(pages) // 2]:.1f} ms "
            f"(60 Hz frame budget 16.7 ms)")  # fmt: skip


def median_of(values: List[float]) -> str:
    """A median with the range it came from, for a line of the report."""
    return f"{statistics.median(values):.1f} (range {min(values):.1f} to {max(values):.1f})"


def rest_time(lab: Dict[str, Any], query: str) -> Any:
    """One GET of the history: (seconds, bytes)."""
    t = time.perf_counter()
    body = urllib.request.urlopen(f"{lab['url']}/nbversion/history?path=big.ipynb&token={lab['token']}{query}").read()
    return time.perf_counter() - t, len(body)


def in_process(repo_dir: Path) -> Dict[str, float]:
    """The history's JSON text alone, in this process: the first page and the whole list (ms, median of 5)."""
    with nbversion.Repo(repo_dir) as repo:
        out = {}
        for key, limit in (("page", FIRST_PAGE), ("whole", None)):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                present.history_json_text(repo, limit)
                times.append((time.perf_counter() - t) * 1000)
            out[key] = statistics.median(times)
        return out


def one_run(browser: Any, lab: Dict[str, Any], repo_dir: Path) -> Dict[str, Any]:
    """One fresh page: the REST history alone, the notebook's paint, the panel's paint, a full scroll."""
    page_s, page_bytes = rest_time(lab, f"&limit={FIRST_PAGE}")
    rest, rest_bytes = rest_time(lab, "")
    built = in_process(repo_dir)
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
    page.locator("#nbversion-panel [data-history-complete='true']").wait_for(timeout=120_000)
    panel_whole = time.perf_counter() - t
    idle = sorted(page.evaluate(IDLE))
    result = page.evaluate(SCROLL)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    work_idle = main_thread_work(page, cdp, scroll=False)
    work = main_thread_work(page, cdp, scroll=True)
    context.close()
    frames = sorted(result["frames"])
    cpu, cpu_idle = work["ThreadTime"], work_idle["ThreadTime"]
    return {
        "page_ms": page_s * 1000, "page_bytes": page_bytes, "rest_ms": rest * 1000, "rest_bytes": rest_bytes,
        "built_page_ms": built["page"], "built_whole_ms": built["whole"],
        "notebook_ms": notebook_paint * 1000, "panel_ms": panel_paint * 1000, "whole_ms": panel_whole * 1000,
        "ratio": panel_paint / notebook_paint,
        "mean": sum(frames) / len(frames), "p95": p95(frames), "worst": frames[-1], "idle_p95": p95(idle),
        "cpu_p95": p95(cpu), "cpu_mean": statistics.mean(cpu), "cpu_worst": max(cpu),
        "cpu_idle_p95": p95(cpu_idle), "cpu_idle_median": statistics.median(cpu_idle),
        "own_p95": p95(cpu) - statistics.median(cpu_idle),
        "wall_p95": p95(work["TaskDuration"]), "wall_idle_p95": p95(work_idle["TaskDuration"]),
        "script_mean": statistics.mean(work["ScriptDuration"]),
        "layout_mean": statistics.mean(work["LayoutDuration"]) + statistics.mean(work["RecalcStyleDuration"]),
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
            runs = [one_run(browser, lab, base / "root" / ".nbversion") for _ in range(args.runs)]
            browser.close()
        col = {key: [r[key] for r in runs] for key in runs[0] if key != "scroll"}
        result = runs[-1]["scroll"]
        n = len(runs)
        print(f"medians of {n} runs, each a fresh page on the same server:")
        print(f"REST history, first page ({FIRST_PAGE} versions, what the panel asks for first): "
              f"{median_of(col['page_ms'])} ms, {statistics.median(col['page_bytes']) / 1e3:.1f} kB "
              f"(goal < 50 ms; JSON built in-process in {statistics.median(col['built_page_ms']):.1f} ms)")
        print(f"REST history, all {args.versions:,} versions in one answer (no limit, as before): "
              f"{median_of(col['rest_ms'])} ms, {statistics.median(col['rest_bytes']) / 1e6:.2f} MB "
              f"(JSON built in-process in {statistics.median(col['built_whole_ms']):.1f} ms; "
              f"the first page is {statistics.median(col['rest_ms']) / statistics.median(col['page_ms']):.0f}x faster)")
        print(layout_time(args.versions))
        print(f"first paint of the panel after clicking its tab: {median_of(col['panel_ms'])} ms "
              f"(baseline, the notebook page itself: {median_of(col['notebook_ms'])} ms; "
              f"ratio {statistics.median(col['ratio']):.2f}x)")
        print(f"the whole history in the tree (pages after the first read in the background): "
              f"{median_of(col['whole_ms'])} ms after clicking the tab")
        own = statistics.median(col["own_p95"])
        print(f"full scroll, 100 steps, main-thread CPU per step (Chrome's ThreadTime): p95 {median_of(col['cpu_p95'])} "
              f"ms, mean {median_of(col['cpu_mean'])} ms, worst {median_of(col['cpu_worst'])} ms (script "
              f"{statistics.median(col['script_mean']):.1f} ms, style+layout {statistics.median(col['layout_mean']):.1f} "
              f"ms on average); the same steps with nothing scrolling: p95 {median_of(col['cpu_idle_p95'])} ms, median "
              f"{median_of(col['cpu_idle_median'])} ms")
        print(f"  => the scroll's own main-thread work per frame (step p95 minus the idle step's median): p95 "
              f"{median_of(col['own_p95'])} ms, {own / 16.7:.2f}x of the 60 Hz budget (16.7 ms): "
              f"{'within' if own <= 16.7 else 'over'}; wall time of the same tasks (TaskDuration, inflated by "
              f"whatever else runs on this machine): p95 {median_of(col['wall_p95'])} ms, idle "
              f"{median_of(col['wall_idle_p95'])} ms")
        print(f"full scroll, 100 steps, frame intervals (requestAnimationFrame, vsync-locked: whole 16.7 ms frames "
              f"or a missed one): mean {median_of(col['mean'])} ms, p95 {median_of(col['p95'])} ms, "
              f"worst {median_of(col['worst'])} ms; idle page, nothing scrolling: p95 {median_of(col['idle_p95'])} ms "
              f"(a p95 above 16.7 ms that the idle page shows too is this machine, not the panel)")
        print(f"rows in the DOM at the bottom: {result['rows']} of {args.versions:,} (virtualised); last rows on "
              f"screen: {', '.join(result['bottom'][-3:])} (scrolled {result['scrollTop']:.0f} of "
              f"{result['scrollHeight'] - result['clientHeight']:.0f} px)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
