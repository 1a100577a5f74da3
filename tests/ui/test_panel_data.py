"""Data versions in the panel, in a real browser: a data set is listed apart from the models,
its rows carry the data badge, it offers no Load into a model, and its details list its items
with their summaries; a model version trained on it shows the link (which selects the data
version) and one line each for the code and environment it was committed with."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
CELLS = [
    "%load_ext nbversion",
    "import numpy as np\nX_train = np.arange(240.0).reshape(60, 4)\ny_train = np.repeat(np.arange(3), 20)",
    '%commit_data digits X_train y_train -m "digits, part 1"',
    "model = {'dense/kernel': X_train[:4, :3].copy(), 'dense/bias': np.zeros(3)}",
    '%commit_weights model -m "part 1" --data train=digits --metric acc=0.9',
]


def test_a_data_version_is_shown_as_data_and_the_model_version_links_it(page, lab, artifacts):
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS], metadata={"kernelspec": KERNELSPEC}),
                   lab["root"] / "digits.ipynb")  # fmt: skip
    page.goto(f"{lab['url']}/lab/workspaces/digits/tree/digits.ipynb?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=60_000)
    if not page.locator("#nbversion-panel").is_visible():
        page.locator(".jp-SideBar [title='Versions'], .jp-SideBar [data-id='nbversion-panel']").first.click()
    panel = page.locator("#nbversion-panel")
    panel.wait_for(timeout=30_000)
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run").click()
    page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()

    # the selector lists the model, then the data set in a group of its own; the panel starts on the model
    select = panel.locator("[data-testid='nbversion-model-select']")
    grouped = "[data-testid='nbversion-model-select'] optgroup[label='Data sets'] option"
    page.wait_for_function(f"document.querySelectorAll(\"{grouped}\").length === 1", timeout=60_000)
    assert select.locator("optgroup[label='Models'] option").all_inner_texts() == ["model"]
    assert select.locator("optgroup[label='Data sets'] option").all_inner_texts() == ["digits"]
    assert select.input_value() == "model"

    # the model version's details: the data link, the notebook and cell it came from, the environment
    model_row = panel.locator("[data-testid='nbversion-node'][data-label='v1']")
    model_row.wait_for(timeout=30_000)
    assert model_row.locator("[data-testid='nbversion-data-badge']").count() == 0
    model_row.click()
    link = panel.locator("[data-testid='nbversion-data-link']")
    link.wait_for(timeout=30_000)
    assert link.get_attribute("data-role") == "train" and link.inner_text() == "digits v1"
    assert "train = digits v1" in panel.locator("[data-testid='nbversion-data-links']").inner_text()
    code = panel.locator("[data-testid='nbversion-code']")
    page.wait_for_function("!document.querySelector(\"[data-testid='nbversion-code']\").textContent.startsWith('…')")
    assert re.match(r"^\S*digits\.ipynb, cell \S+$", code.inner_text()), code.inner_text()
    environment = panel.locator("[data-testid='nbversion-environment']").inner_text()
    assert environment.startswith("Python 3.") and "numpy " in environment, environment
    assert panel.locator("[data-testid='nbversion-load']").count() == 1
    page.screenshot(path=str(artifacts / "panel-data-links.png"))

    # following the link selects the data version: its row has the data badge, read out as text
    link.click()
    page.wait_for_function("document.querySelector(\"[data-testid='nbversion-model-select']\").value === 'digits'")
    data_row = panel.locator("[data-testid='nbversion-node'][data-label='v1']")
    badge = data_row.locator("[data-testid='nbversion-data-badge']")
    assert badge.count() == 1 and badge.get_attribute("title") == "Data version"
    assert badge.inner_text() == "data version"  # the text screen readers read (visually hidden)
    assert data_row.get_attribute("aria-selected") == "true"
    box = data_row.evaluate("r => ({ height: r.clientHeight, needed: r.scrollHeight })")
    assert box["height"] == box["needed"], box  # one line

    # ...its details: a data chip, no Load into a model, and the items with their summaries
    details = panel.locator("[data-testid='nbversion-details']")
    assert details.locator("[data-testid='nbversion-details-kind']").inner_text() == "data"
    items = panel.locator("[data-testid='nbversion-item']")
    items.first.wait_for(timeout=30_000)
    texts = items.all_inner_texts()
    assert len(texts) == 2, texts
    assert "X_train float64[60, 4]" in texts[0] and "array" in texts[0]
    assert "y_train int64[60] (3 classes)" in texts[1] and "0: 20, 1: 20, 2: 20" in texts[1]
    assert panel.locator("[data-testid='nbversion-load']").count() == 0
    assert panel.locator("[data-testid='nbversion-pin']").count() == 0
    assert panel.locator("[data-testid='nbversion-compare']").count() == 1
    assert "Data set" in details.inner_text() and "digits, part 1" in details.inner_text()

    # Compare works on data: item by item, through the kernel
    panel.locator("[data-testid='nbversion-compare']").click()
    diff = panel.locator("[data-testid='nbversion-diff']")
    diff.wait_for(timeout=30_000)
    assert "0 of 2 items differ" in diff.inner_text(), diff.inner_text()
