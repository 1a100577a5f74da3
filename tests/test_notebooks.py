"""The example notebooks, executed top to bottom in a real kernel with nbclient."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbversion

NOTEBOOKS = sorted((Path(__file__).parent.parent / "example_notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_example_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    shutil.copy(path, tmp_path / path.name)
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / path.name))  # what jupyter_server tells a kernel
    notebook = nbformat.read(tmp_path / path.name, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails
    outputs = "".join(
        o.get("text", "") + "".join(o.get("data", {}).get("text/plain", "")) for c in notebook.cells for o in c.get("outputs", [])
    )
    assert "model v1 " in outputs and " written" in outputs
    repo = nbversion.Repo(tmp_path / ".nbversion")
    assert repo.fsck().ok
    versions = repo.log("model")
    assert len(versions) == 3
    assert all(v.context["cell"]["source"].startswith("acc = ") for v in versions)
    assert all(v.context["notebook"] == str(tmp_path / path.name) for v in versions)
