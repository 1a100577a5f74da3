"""The panel and the kernel's network work, in a real browser: the pin the kernel asks for
(``%nbversion pin``) written into the open notebook and saved; versions peers announce, listed
once the kernel's watch verified them, and loaded from the list; a Load of a version whose
tensors are only on the IPFS node, with a progress bar in the details and a slim one on the
version's row in the graph until the kernel replies. The nodes are js-ipfs daemons on 127.0.0.1
(tests/conftest_ipfs.py)."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import nbformat
import numpy as np
from conftest_ipfs import wait_until_subscribed
from jupyter_client import BlockingKernelClient
from nbformat.v4 import new_code_cell, new_notebook

import nbversion

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MODEL = "import numpy as np\nmodel = {'dense/kernel': np.zeros((512, 512), np.float32), 'dense/bias': np.zeros(512, np.float32)}"


def weights(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"dense/kernel": rng.standard_normal((512, 512), dtype=np.float32),
            "dense/bias": rng.standard_normal(512, dtype=np.float32)}  # fmt: skip


def kernel_run(lab, path: str, code: str) -> str:
    """Run ``code`` in the kernel of the notebook at ``path`` (found through the server); its stdout
    and stderr."""
    sessions = json.load(urllib.request.urlopen(f"{lab['url']}/api/sessions?token={lab['token']}"))
    kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"] == path)
    client = BlockingKernelClient()
    client.load_connection_file(str(lab["runtime"] / f"kernel-{kernel_id}.json"))
    client.start_channels()
    try:
        out = []
        client.execute_interactive(code, output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=120)
        return "".join(out)
    finally:
        client.stop_channels()


def open_notebook(page, lab, path: str, cells: list) -> None:
    """Write a notebook of ``cells`` at ``path``, open it, wait for its kernel, open the panel."""
    (lab["root"] / path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata={"kernelspec": KERNELSPEC}),
                   lab["root"] / path)  # fmt: skip
    page.goto(f"{lab['url']}/lab/workspaces/{re.sub(r'[^a-z0-9]', '-', path)}/tree/{path}?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=60_000)
    if not page.locator("#nbversion-panel").is_visible():
        page.locator(".jp-SideBar [title='Versions'], .jp-SideBar [data-id='nbversion-panel']").first.click()
    page.locator("#nbversion-panel").wait_for(timeout=30_000)


def run_all(page) -> None:
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run").click()
    page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()


def linked(page) -> None:
    page.locator("#nbversion-panel [data-testid='nbversion-kernel-status']").get_by_text(
        "kernel linked", exact=True).wait_for(timeout=60_000)  # fmt: skip


def current_label_is(label: str) -> str:
    return f"document.querySelector(\"#nbversion-panel [data-current='true']\")?.dataset.label === '{label}'"


def saved_pins(path) -> dict:
    """The pins in the notebook file as saved (read again while JupyterLab is writing it)."""
    for _ in range(50):
        try:
            return nbformat.read(path, as_version=4).metadata.get("nbversion", {}).get("pins", {})
        except ValueError:
            time.sleep(0.1)
    raise AssertionError(f"{path} never read as a notebook")


def test_the_pin_the_kernel_asks_for_is_written_into_the_open_notebook_and_saved(page, lab):
    path = "pinning/p.ipynb"
    cells = ["%load_ext nbversion", MODEL, "%commit_weights model -m first",
             "model['dense/bias'] += 1\n%commit_weights model -m second"]  # fmt: skip
    open_notebook(page, lab, path, cells)
    run_all(page)
    linked(page)
    page.wait_for_function(current_label_is("v2"), timeout=60_000)
    with nbversion.Repo(lab["root"] / "pinning" / ".nbversion") as repo:
        v1 = repo.show("v1", "model").cid
    said = kernel_run(lab, path, "%nbversion pin v1 model")
    assert "through the JupyterLab panel" in said, said
    deadline = time.monotonic() + 30
    while saved_pins(lab["root"] / path) != {"model": str(v1)}:
        assert time.monotonic() < deadline, saved_pins(lab["root"] / path)
        time.sleep(0.1)
    notice = page.locator("#nbversion-panel [data-testid='nbversion-notice']")
    assert notice.inner_text() == "The kernel pinned model to v1 in the notebook's metadata (saved)."
    # the open document holds it too (the next save keeps it), and has nothing left unsaved
    assert not page.locator(".jp-NotebookPanel:visible .jp-mod-dirty, .lm-TabBar-tab.jp-mod-dirty").count()
    pinned = kernel_run(lab, path, "from nbversion.notebooks import pins\nprint(pins.pin_for('model', 'p.ipynb'))")
    assert pinned.strip() == str(v1)


def test_versions_peers_announce_are_listed_once_verified_and_load_from_the_list(
    page, lab, tmp_path, ipfs_node, peer_node, artifacts
):
    topic = "nbversion-ui-announced"
    path = "peers/w.ipynb"
    open_notebook(page, lab, path, ["%load_ext nbversion", MODEL, f"%nbversion watch {topic} --from {peer_node.url}"])
    panel = page.locator("#nbversion-panel")
    assert panel.locator("[data-testid='nbversion-announced']").count() == 0  # no watch: no section
    run_all(page)
    linked(page)
    section = panel.locator("[data-testid='nbversion-announced']")
    section.wait_for(timeout=60_000)  # a watch runs: the section is there, empty
    assert "Announced by peers (0)" in section.inner_text() and topic in section.inner_text()

    theirs = weights(71)
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as repo:
        v1 = repo.commit(theirs, model="model", message="a colleague's <b>model</b>", metrics={"acc": 0.91})
        repo.push("model", ipfs_node.url)
        wait_until_subscribed(ipfs_node.url, peer_node, topic)
        repo.announce("model", topic, ipfs_node.url)
    row = section.locator(f"[data-testid='nbversion-announced-row'][data-cid='{v1.cid}']")
    row.wait_for(timeout=120_000)  # fetched over bitswap from node A through node B, verified, then listed
    assert "Announced by peers (1)" in section.inner_text()
    assert "a colleague's <b>model</b>" in row.inner_text() and "acc=0.91" in row.inner_text()
    assert panel.locator("b").count() == 0  # text, never HTML
    assert f"…{ipfs_node.peer_id[-8:]}" in row.inner_text()
    page.wait_for_function("document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\").length === 1")
    page.screenshot(path=str(artifacts / "panel-announced.png"))

    row.locator("[data-testid='nbversion-announced-load']").click()
    page.wait_for_function(current_label_is("v1"), timeout=60_000)
    proof = kernel_run(lab, path, "import nbversion\nv = nbversion.Repo().load('model')\n"
                                  "print(all(model[k].tobytes() == v[k].tobytes() for k in v))")  # fmt: skip
    assert proof.strip() == "True"
    row.locator(".jp-mod-current").wait_for()  # the row says it is what the model holds now

    kernel_run(lab, path, f"%nbversion watch {topic} --stop")
    section.wait_for(state="detached", timeout=30_000)  # no watch: no section


def test_loading_a_version_only_on_the_node_shows_a_progress_bar_until_the_kernel_replies(page, lab, tmp_path, ipfs_node):
    """The kernel opened v2 from the node (its record and v1's are here; v1's tensors are not):
    loading v1 from the panel fetches them, and the details and v1's row in the graph show how
    far that got."""
    with nbversion.Repo(tmp_path / "shared" / ".nbversion") as repo:
        v1 = repo.commit({**weights(81), **{f"extra{i}": weights(100 + i)["dense/kernel"] for i in range(8)}},
                         model="model", message="first")  # fmt: skip
        v2 = repo.commit({**weights(82), **{f"extra{i}": weights(90 + i)["dense/kernel"] for i in range(8)}},
                         model="model", message="second")  # fmt: skip
        repo.push("model", ipfs_node.url)
    path = "remote/r.ipynb"
    cells = ["%load_ext nbversion", MODEL + "\nmodel.update({f'extra{i}': np.zeros((512, 512), np.float32) for i in range(8)})",
             f"%checkout {v2.cid} model --from {ipfs_node.url}"]  # fmt: skip
    open_notebook(page, lab, path, cells)
    run_all(page)
    linked(page)
    page.wait_for_function(current_label_is("v2"), timeout=120_000)
    panel = page.locator("#nbversion-panel")
    page.wait_for_function("document.querySelectorAll(\"#nbversion-panel [data-testid='nbversion-node']\").length === 2")
    # every progress bar the panel draws, as drawn (a Load from the node takes a moment, not long)
    page.evaluate("""() => { window.nbvProgress = []; window.nbvRowProgress = [];
        new MutationObserver(() => {
          document.querySelectorAll("[data-testid='nbversion-progress'] progress")
            .forEach(p => window.nbvProgress.push([Number(p.value), Number(p.max)]));
          document.querySelectorAll("[data-testid='nbversion-node'] [role='progressbar']")
            .forEach(p => { const row = p.closest("[data-testid='nbversion-node']");
              window.nbvRowProgress.push({cid: row.dataset.cid, busy: row.getAttribute('aria-busy'),
                testid: p.dataset.testid, min: Number(p.getAttribute('aria-valuemin')),
                now: Number(p.getAttribute('aria-valuenow')), max: Number(p.getAttribute('aria-valuemax')),
                title: p.title, text: p.getAttribute('aria-valuetext'), tooltip: row.title,
                height: p.getBoundingClientRect().height,
                width: p.getBoundingClientRect().width}); });
        }).observe(document.getElementById('nbversion-panel'), {subtree: true, childList: true, attributes: true}); }""")
    panel.locator("[data-testid='nbversion-node'][data-label='v1']").click()
    page.locator("[data-testid='nbversion-details']").wait_for()
    page.locator("[data-testid='nbversion-load']").click()
    page.wait_for_function(current_label_is("v1"), timeout=120_000)
    seen = page.evaluate("window.nbvProgress")
    total = 9 * 512 * 512 * 4 + 512 * 4  # v1's tensors, none of them here before
    assert seen and {m for _, m in seen} == {total}, seen
    assert all(0 < v <= total for v, _ in seen)
    assert page.locator("[data-testid='nbversion-progress']").count() == 0  # gone with the reply
    # the same Load on v1's row in the graph: a slim bar, only on that row, read out in bytes
    on_row = page.evaluate("window.nbvRowProgress")
    assert on_row, "no bar on the row"
    assert {(b["cid"], b["busy"], b["testid"]) for b in on_row} == {(str(v1.cid), "true", "nbversion-row-progress")}
    assert all(b["min"] == 0 and b["max"] == total and 0 < b["now"] <= total for b in on_row), on_row
    assert [b["now"] for b in on_row] == sorted(b["now"] for b in on_row)  # it only grows
    for b in on_row:
        assert re.fullmatch(r"Loading \d+\.\d of 9\.0 MiB from http://127\.0\.0\.1:\d+/?", b["title"]), b["title"]
        assert b["text"] == b["title"] and b["tooltip"].startswith(b["title"] + "\nv1 ")
        assert 0 < b["height"] <= 4 and b["width"] > 4 * b["height"]  # slim, along the row
    assert page.locator("[data-testid='nbversion-row-progress']").count() == 0  # gone with the reply
    assert page.locator("#nbversion-panel [aria-busy]").count() == 0
    proof = kernel_run(lab, path, f"import nbversion\nv = nbversion.Repo().load('{v1.cid}')\n"
                                  "print(all(model[k].tobytes() == v[k].tobytes() for k in v))")  # fmt: skip
    assert proof.strip() == "True"
