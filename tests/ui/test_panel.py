"""The JupyterLab panel in a real browser: the tree appears as cells commit, loads a version into
the live model, pins through the document, shows messages as text, survives a kernel restart."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import nbformat
import numpy as np
from jupyter_client import BlockingKernelClient
from nbformat.v4 import new_code_cell, new_notebook

import nbversion

XSS = "<img src=x onerror=alert(1)>"
UNLINKED = "to link the kernel: %load_ext nbversion"
CELLS = [
    "%load_ext nbversion",
    ("import numpy as np\nmodel = {'dense/kernel': np.zeros((4, 3)), 'dense/bias': np.zeros(3)}\n"
     "def train(step):\n    model['dense/kernel'] += step * np.arange(12.0).reshape(4, 3)\n    model['dense/bias'] -= step"),
    f"train(1)\n%commit_weights model -m \"{XSS}\" --metric acc=0.5",
    "train(2)\n%commit_weights model -m \"second\" --metric acc=0.7",
    "train(3)\n%commit_weights model -m \"third\" --metric acc=0.9",
]

# JupyterLab's status bar shows the notebook's kernel as "<name> | Idle" when it is idle
KERNEL_IDLE = ("[...document.querySelectorAll('.jp-StatusBar-TextItem')]"
               ".some(e => /\\| Idle$/.test(e.textContent.trim()))")  # fmt: skip


def kernel_run(lab, code: str) -> str:
    """Run ``code`` in the notebook's own kernel (found through the server) and return its stdout."""
    sessions = json.load(urllib.request.urlopen(f"{lab['url']}/api/sessions?token={lab['token']}"))
    kernel_id = sessions[0]["kernel"]["id"]
    client = BlockingKernelClient()
    client.load_connection_file(str(lab["runtime"] / f"kernel-{kernel_id}.json"))
    client.start_channels()
    try:
        out = []
        client.execute_interactive(code, output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=60)
        return "".join(out)
    finally:
        client.stop_channels()


def open_notebook(page, lab, name: str):
    page.goto(f"{lab['url']}/lab/workspaces/{name.replace('.', '-')}/tree/{name}?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    # the kernel must be up before cells run (a fresh notebook can drop the first request otherwise)
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=60_000)


def run_all(page):
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run").click()
    page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()


def open_panel(page):
    if not page.locator("#nbversion-panel").is_visible():
        page.locator(".jp-SideBar [title='Versions'], .jp-SideBar [data-id='nbversion-panel']").first.click()
    page.locator("#nbversion-panel").wait_for(timeout=30_000)


def count_is(n: int) -> str:
    return f"document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\").length === {n}"


def row_message_box(row) -> dict:
    """The row's message element as laid out: its text, shown and needed width; the row's height."""
    return row.evaluate(
        """r => { const m = r.querySelector('.jp-nbversion-msg');
                  const x = r.querySelector('.jp-nbversion-metric');
                  return { text: m ? m.textContent : null, width: m ? m.getBoundingClientRect().width : 0,
                           needed: m ? m.scrollWidth : 0, rowHeight: r.clientHeight,
                           rowScrollHeight: r.scrollHeight,
                           metricShown: !x || x.getBoundingClientRect().right <= r.getBoundingClientRect().right }; }"""
    )


def nodes(page):
    return page.locator("#nbversion-panel [data-testid='nbversion-node']")


def test_tree_appears_loads_pins_escapes_and_survives_restart(page, lab, artifacts):
    notebook = new_notebook(cells=[new_code_cell(c) for c in CELLS], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})  # fmt: skip
    nbformat.write(notebook, lab["root"] / "train.ipynb")
    open_notebook(page, lab, "train.ipynb")
    open_panel(page)
    run_all(page)

    # three nodes appear without a refresh
    page.wait_for_function(
        "document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\").length === 3", timeout=60_000
    )
    labels = [nodes(page).nth(i).get_attribute("data-label") for i in range(3)]
    assert sorted(labels) == ["v1", "v2", "v3"]
    # the live model holds v3 once the kernel's "changed" event is in (the tree can be read over REST first)
    page.wait_for_function(
        "document.querySelector(\"#nbversion-panel [data-current='true']\")?.dataset.label === 'v3'", timeout=30_000
    )

    # at JupyterLab's default sidebar width each row shows, on one line, the label, the message
    # (cut with an ellipsis when long), the chips and the metric; the CID is in the row's tooltip
    panel = page.locator("#nbversion-panel")
    for label, message in (("v3", "third"), ("v2", "second"), ("v1", XSS)):
        row = panel.locator(f"[data-testid='nbversion-node'][data-label='{label}']")
        shown = row_message_box(row)
        assert shown["text"] == message and shown["width"] >= min(shown["needed"], 30), (label, shown)
        assert shown["rowHeight"] == shown["rowScrollHeight"] and shown["metricShown"]  # one line, all of it
        cid = row.get_attribute("data-cid")
        assert cid in row.get_attribute("title") and cid[:8] not in row.inner_text()
    assert "0.9" in panel.locator("[data-testid='nbversion-node'][data-label='v3']").inner_text()

    # messages are text: the XSS payload shows literally, creates no element, runs nothing
    panel.locator("[data-testid='nbversion-node'][data-label='v1']").click()
    details = page.locator("[data-testid='nbversion-details']")
    details.wait_for()
    assert XSS in details.inner_text()
    assert panel.locator("img").count() == 0 and page.dialogs == []

    # load v1 into the live model; prove it in the kernel, bitwise
    page.locator("[data-testid='nbversion-load']").click()
    page.wait_for_function(
        "document.querySelector(\"#nbversion-panel [data-current='true']\")?.dataset.label === 'v1'", timeout=30_000
    )
    proof = kernel_run(lab, "import nbversion\nv = nbversion.Repo().load('v1')\n"
                            "print(all(np.array_equal(model[k], v[k]) and model[k].tobytes() == v[k].tobytes() for k in v))")  # fmt: skip
    assert proof.strip() == "True"

    # JupyterLab tells the kernel which cell ran: each version records the cell's id and source
    with nbversion.Repo(lab["root"] / ".nbversion") as repo:
        context = repo.show("v2").context
    on_disk = nbformat.read(lab["root"] / "train.ipynb", as_version=4)
    assert context["cell"]["id"] == on_disk.cells[3].id and context["cell"]["source"] == CELLS[3]
    assert context["notebook"].endswith("train.ipynb")

    # pin through the document model, then save: the file on disk has the pin
    page.locator("[data-testid='nbversion-pin']").click()
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
    page.keyboard.press("Control+s")
    v1 = panel.locator("[data-testid='nbversion-node'][data-label='v1']").get_attribute("data-cid")
    for _ in range(100):
        try:
            saved = nbformat.read(lab["root"] / "train.ipynb", as_version=4)
        except ValueError:  # caught the file while JupyterLab was writing it (NotJSONError): read it again
            time.sleep(0.1)
            continue
        if saved.metadata.get("nbversion", {}).get("pins"):
            break
        time.sleep(0.1)
    assert saved.metadata["nbversion"]["pins"] == {"model": v1}

    # a refused checkout shows the core's message in the panel and changes nothing
    kernel_run(lab, "model['dense/kernel'] = np.zeros((5, 3))")
    panel.locator("[data-testid='nbversion-node'][data-label='v2']").click()
    page.locator("[data-testid='nbversion-load']").click()
    error = page.locator("[data-testid='nbversion-error']")
    error.wait_for(timeout=30_000)
    assert "does not fit" in error.inner_text()
    assert kernel_run(lab, "print(model['dense/kernel'].shape)").strip() == "(5, 3)"

    # restart the kernel: the panel drops the tree and reads it again from the server extension,
    # which does not need the kernel (the fresh kernel has not loaded nbversion)
    status = panel.locator("[data-testid='nbversion-kernel-status']")
    assert status.inner_text() == "kernel linked"
    loads = int(panel.locator("[data-history-loads]").get_attribute("data-history-loads"))
    pid = kernel_run(lab, "import os; print(os.getpid())").strip()
    page.get_by_role("menuitem", name="Kernel").click()
    page.get_by_role("menuitem", name=re.compile("^Restart Kernel…|^Restart Kernel\\.\\.\\.")).click()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    panel.get_by_text(UNLINKED, exact=True).wait_for(timeout=30_000)  # the comm went with the kernel
    page.wait_for_function(f"!({KERNEL_IDLE})", timeout=30_000)  # the status bar: restarting...
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)  # ...then idle
    assert kernel_run(lab, "import os; print(os.getpid())").strip() != pid  # another process: it did restart
    page.wait_for_function(
        f"Number(document.querySelector('#nbversion-panel [data-history-loads]').dataset.historyLoads) > {loads}",
        timeout=30_000,
    )
    assert nodes(page).count() == 3
    assert status.inner_text() == UNLINKED
    assert status.get_attribute("title") == "Run %load_ext nbversion in this notebook to load versions into the live model."

    # loading nbversion in the idle kernel links the panel again
    kernel_run(lab, "%load_ext nbversion")
    panel.get_by_text("kernel linked", exact=True).wait_for(timeout=30_000)

    # a commit from another process (here: this test, as the CLI would) appears without a refresh
    with nbversion.Repo(lab["root"] / ".nbversion") as repo:
        repo.commit({"dense/kernel": np.ones((4, 3)), "dense/bias": np.ones(3)}, model="model",
                    message="tried a larger step", metrics={"acc": 0.8}, parents=[v1], branch="experiment")  # fmt: skip
    page.wait_for_function(  # the panel polls (every 0.5 s by default; an unchanged answer is a few bytes)
        "document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\").length === 4", timeout=10_000
    )
    v4 = row_message_box(panel.locator("[data-testid='nbversion-node'][data-label='v4']"))
    assert v4["text"] == "tried a larger step" and v4["width"] >= 30 and v4["metricShown"], v4
    panel.screenshot(path=str(artifacts / "panel.png"))

    # the picture for the README: a branched history, one version selected
    page.locator("[data-testid='nbversion-error'] .jp-nbversion-dismiss").click()
    panel.locator("[data-testid='nbversion-node'][data-label='v3']").click()
    page.locator("[data-testid='nbversion-details']").wait_for()
    page.screenshot(path=str(artifacts / "panel-branched.png"))

    # a page opened after %load_ext (here: reloaded) takes up the kernel's comm: linked, and acting
    open_notebook(page, lab, "train.ipynb")
    open_panel(page)
    page.locator("#nbversion-panel [data-testid='nbversion-kernel-status']").get_by_text(
        "kernel linked", exact=True).wait_for(timeout=30_000)  # fmt: skip
    page.wait_for_function(count_is(4), timeout=30_000)
    kernel_run(lab, "import numpy as np\nmodel = {'dense/kernel': np.zeros((4, 3)), 'dense/bias': np.zeros(3)}")
    panel.locator("[data-testid='nbversion-node'][data-label='v2']").click()
    page.locator("[data-testid='nbversion-load']").click()
    page.wait_for_function(
        "document.querySelector(\"#nbversion-panel [data-current='true']\")?.dataset.label === 'v2'", timeout=30_000
    )


def test_panel_follows_the_active_notebook_and_offers_each_model(page, lab):
    """Two notebooks in two folders (two repositories); the second one versions two models."""
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for folder, name, models in (("alpha", "a.ipynb", ["net"]), ("beta", "b.ipynb", ["encoder", "decoder"])):
        (lab["root"] / folder).mkdir()
        nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")], metadata={"kernelspec": kernelspec}),
                       lab["root"] / folder / name)  # fmt: skip
        with nbversion.Repo(lab["root"] / folder / ".nbversion") as repo:
            for model in models:
                for i in range(3 if model == "decoder" else 2):
                    repo.commit({"w": np.full(2, float(i))}, model=model, message=f"{model} {i}")
    count = "document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\").length === {}"
    page.goto(f"{lab['url']}/lab/workspaces/switch/tree/alpha/a.ipynb?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    open_panel(page)
    page.wait_for_function(count.format(2))
    assert "net 1" in page.locator("#nbversion-panel").inner_text()

    # open the second notebook beside the first: File > Open from Path...
    page.get_by_role("menuitem", name="File").click()
    page.get_by_role("menuitem", name=re.compile("^Open from Path")).click()
    page.locator(".jp-Dialog input").fill("beta/b.ipynb")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.locator(".lm-TabBar-tab", has_text="b.ipynb").first.wait_for(timeout=60_000)
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    open_panel(page)
    select = page.locator("[data-testid='nbversion-model-select']")
    page.wait_for_function("document.querySelectorAll(\"[data-testid='nbversion-model-select'] option\").length === 2")
    assert sorted(select.locator("option").all_inner_texts()) == ["decoder", "encoder"]
    select.select_option("decoder")
    page.wait_for_function(count.format(3))
    select.select_option("encoder")
    page.wait_for_function(count.format(2))
    assert "net 1" not in page.locator("#nbversion-panel").inner_text()

    page.locator(".lm-TabBar-tab", has_text="a.ipynb").first.click()  # back to the first notebook
    page.wait_for_function("!document.querySelector('#nbversion-panel').innerText.includes('encoder 1')")
    page.wait_for_function(count.format(2))
    assert "net 1" in page.locator("#nbversion-panel").inner_text()


def test_a_long_history_paints_its_first_page_then_grows_to_every_version(page, lab):
    """More versions than the first page holds: the panel shows the newest at once, reads the rest
    in the background, and then scrolls down to the very first version."""
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (lab["root"] / "long").mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")], metadata={"kernelspec": kernelspec}),
                   lab["root"] / "long" / "l.ipynb")  # fmt: skip
    n = 250  # the first page is 100
    with nbversion.Repo(lab["root"] / "long" / ".nbversion") as repo:
        for i in range(n):
            repo.commit({"w": np.full(2, float(i))}, model="net", message=f"step {i}")
    page.goto(f"{lab['url']}/lab/workspaces/long/tree/long/l.ipynb?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    open_panel(page)
    page.locator("#nbversion-panel [data-history-complete='true']").wait_for(timeout=60_000)
    assert nodes(page).first.get_attribute("data-label") == f"v{n}"
    inner = page.locator("[data-testid='nbversion-list'] .jp-nbversion-list-inner")
    assert inner.evaluate("e => e.clientHeight") == n * 28  # one row per version
    page.locator("[data-testid='nbversion-list']").evaluate("l => { l.scrollTop = l.scrollHeight; }")
    page.wait_for_function("[...document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\")]"
                           ".some(r => r.dataset.label === 'v1')")  # fmt: skip
    assert "step 0" in page.locator("#nbversion-panel").inner_text()


def test_a_version_pushed_to_a_remote_shows_a_cloud_naming_the_remote(page, lab, ipfs_api):
    """A push to a real IPFS node: the pushed head is pinned there, its parent went with it. Each row
    gets a cloud badge whose tooltip names the remote; a version never pushed gets none; the
    details pane lists the remotes."""
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (lab["root"] / "pushed").mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")], metadata={"kernelspec": kernelspec}),
                   lab["root"] / "pushed" / "p.ipynb")  # fmt: skip
    with nbversion.Repo(lab["root"] / "pushed" / ".nbversion") as repo:
        repo.commit({"w": np.zeros(2)}, model="net", message="first")
        repo.commit({"w": np.ones(2)}, model="net", message="second")
        repo.remote_add("lab", ipfs_api)
        repo.push("net", "lab")
        repo.commit({"w": np.full(2, 2.0)}, model="net", message="local only")
    page.goto(f"{lab['url']}/lab/workspaces/pushed/tree/pushed/p.ipynb?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    open_panel(page)
    page.wait_for_function(count_is(3))
    row = {label: page.locator(f"#nbversion-panel [data-testid='nbversion-node'][data-label='{label}']")
           for label in ("v1", "v2", "v3")}  # fmt: skip
    cloud = {label: r.locator("[data-testid='nbversion-remote']") for label, r in row.items()}
    assert cloud["v3"].count() == 0  # never pushed
    assert cloud["v2"].get_attribute("data-state") == "pinned"
    assert cloud["v2"].get_attribute("title") == "On remotes: lab (pinned)"
    assert cloud["v1"].get_attribute("title") == "On remotes: lab (pushed)"
    assert "On remotes: lab (pinned)" in (row["v2"].get_attribute("title") or "")  # the row's tooltip too
    row["v2"].click()
    details = page.locator("[data-testid='nbversion-details-remotes']")
    details.wait_for(timeout=30_000)
    assert details.inner_text() == "lab (pinned)"
    row["v3"].click()
    page.wait_for_function("!document.querySelector(\"[data-testid='nbversion-details-remotes']\")")
