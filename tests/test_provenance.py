"""Code and environment in every version committed from a notebook (issue 12, point 3).

A commit from a kernel records the notebook (outputs stripped, the committing cell's id) and the
environment (Python, platform, CPU/GPU, installed distributions); ``show`` summarises both,
``show --code`` prints the code up to the committing cell, ``env-diff`` says what changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import nbformat
import numpy as np
import pytest

import nbversion
from conftest import run
from nbversion import cli, present
from nbversion.jupyter.code import notebook_code
from nbversion.repo import compare_environments, current_environment

WEIGHTS = "import numpy as np\nw = {'a': np.zeros(3, dtype='float32')}"


def shell_out(capsys, *argv: str) -> str:
    assert cli.main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


# -- the environment record ------------------------------------------------------------------


def test_the_environment_record_is_deterministic_and_shared_by_two_commits(repo):
    env = current_environment()
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["numpy"] == np.__version__ and env["nbversion"] == nbversion.__version__
    assert list(env["packages"]) == sorted(env["packages"])
    assert {"system", "release", "machine", "cpu", "cpus", "gpus", "implementation"} <= set(env)
    # Another process on this machine describes the same environment (nothing volatile is in it).
    other = subprocess.run(
        [sys.executable, "-c", "import json; from nbversion.repo import current_environment; "
         "print(json.dumps(current_environment()))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(other.stdout) == env

    v1 = repo.commit({"a": np.zeros(3)}, model="m", environment=current_environment())
    v2 = repo.commit({"a": np.ones(3)}, model="m", environment=current_environment())
    assert v1.environment is not None and v1.environment == v2.environment  # one record, stored once
    assert repo.environment("m~1") == repo.environment("m") == env
    assert repo.env_diff("m~1", "m").same
    # What changed since a version was made: its record against this process's environment.
    since = compare_environments(repo.environment(v1), {**env, "python": "3.99.0"}, v1)
    assert since.fields == [("python", env["python"], "3.99.0")] and not since.added
    assert present.env_diff_text(since).splitlines() == [
        "m v1 -> this environment: 1 fields, 0 packages added, 0 removed, 0 changed.",
        f"  python: {env['python']} -> 3.99.0",
    ]


def test_a_distribution_installed_between_two_commits_appears_in_env_diff(tmp_path, capsys):
    """pip installing is simulated by distribution folders on a sys.path entry, read by the real
    importlib.metadata, in one process committing before and after (so the cache must notice)."""
    site = tmp_path / "site"
    site.mkdir()

    script = textwrap.dedent(
        f"""
        import shutil, sys
        from pathlib import Path
        import numpy as np
        sys.path.insert(0, {str(site)!r})
        import nbversion
        from nbversion.repo import current_environment

        def install(name, version):
            for old in Path({str(site)!r}).glob(name + "-*.dist-info"):
                shutil.rmtree(old)
            info = Path({str(site)!r}) / f"{{name}}-{{version}}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\\nName: {{name}}\\nVersion: {{version}}\\n")

        install("Fake_Pkg", "1.0")
        install("gone", "0.5")
        repo = nbversion.Repo({str(tmp_path / ".nbversion")!r})
        repo.commit({{"a": np.zeros(2)}}, model="w", environment=current_environment())
        install("Fake_Pkg", "2.0")
        install("newpkg", "0.1")
        shutil.rmtree(Path({str(site)!r}) / "gone-0.5.dist-info")
        repo.commit({{"a": np.ones(2)}}, model="w", environment=current_environment())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    out = shell_out(capsys, "--repo", str(tmp_path), "env-diff", "v1", "v2", "--model", "w")
    assert "~ fake-pkg 1.0 -> 2.0" in out
    assert "+ newpkg 0.1" in out and "- gone 0.5" in out
    assert "1 packages added, 1 removed, 1 changed" in out
    data = json.loads(shell_out(capsys, "--repo", str(tmp_path), "env-diff", "v1", "v2", "--model", "w", "--json"))
    assert data["changed"] == {"fake-pkg": {"old": "1.0", "new": "2.0"}} and data["added"] == {"newpkg": "0.1"}
    assert data["fields"] == [] and not data["same"]


# -- the code, from a notebook run by a real kernel ------------------------------------------


def training_notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# Training", id="intro"),
        nbformat.v4.new_code_cell("%load_ext nbversion\n" + WEIGHTS, id="setup"),
        nbformat.v4.new_code_cell("print('an output to strip')", id="talk"),
        nbformat.v4.new_code_cell("%commit_weights w -m first --allow-empty", id="commit-1"),
        nbformat.v4.new_code_cell("w['a'] += 1", id="train"),
        nbformat.v4.new_code_cell("%commit_weights w -m first --allow-empty", id="commit-2"),  # the same source again
        nbformat.v4.new_code_cell("print('after the commits')", id="after"),
    ]
    return nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )


def execute(path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("JPY_SESSION_NAME", str(path))  # what jupyter_server tells a kernel
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return notebook


@pytest.mark.slow
def test_a_notebook_run_by_a_kernel_records_its_code_without_outputs_and_the_committing_cell(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    path = tmp_path / "train.ipynb"
    nbformat.write(training_notebook(), path)
    executed = execute(path, monkeypatch)
    assert executed.cells[2].outputs  # it did print
    repo = nbversion.Repo(tmp_path / ".nbversion")
    first, second = repo.log("w")[::-1]

    notebook, cell = repo.code(first)
    assert cell == "commit-1" and repo.code(second)[1] == "commit-2"  # the k-th cell for the k-th run of a source
    assert first.context["code_source"] == "notebook"
    assert [c["id"] for c in notebook["cells"]] == [c.id for c in training_notebook().cells]
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code_cells)
    assert first.code.notebook == second.code.notebook  # the same code: one file
    assert first.environment == second.environment

    # Saved with its outputs and run again, the notebook is the same code: the same CID.
    nbformat.write(executed, path)
    execute(path, monkeypatch)
    third = repo.show("w")
    assert third.code.notebook == first.code.notebook and third.environment == first.environment

    shown = shell_out(capsys, "--repo", str(tmp_path), "show", "v1", "--model", "w")
    assert f"code:      {path}  {first.code.notebook}" in shown
    assert "committed by cell commit-1 (4 of 7 cells)" in shown
    assert "    %commit_weights w -m first --allow-empty" in shown
    assert f"environment: {first.environment}" in shown
    assert f"python {sys.version.split()[0]}" in shown and f"numpy {np.__version__}" in shown
    script = shell_out(capsys, "--repo", str(tmp_path), "show", "--code", "v2", "--model", "w")
    assert script.splitlines()[2:] == [
        "", "# %% [markdown]", "# # Training",
        "", "# %% id=setup", "%load_ext nbversion", *WEIGHTS.splitlines(),
        "", "# %% id=talk", "print('an output to strip')",
        "", "# %% id=commit-1", "%commit_weights w -m first --allow-empty",
        "", "# %% id=train", "w['a'] += 1",
        "", "# %% id=commit-2", "%commit_weights w -m first --allow-empty",
    ]  # fmt: skip
    data = json.loads(shell_out(capsys, "--repo", str(tmp_path), "show", "v2", "--model", "w", "--json"))
    assert data["code"] == {"cid": str(second.code.notebook), "notebook": str(path), "cell": "commit-2",
                            "source": "%commit_weights w -m first --allow-empty", "origin": "notebook"}  # fmt: skip
    assert data["environment"]["cid"] == str(first.environment)
    assert data["environment"]["packages"]["numpy"] == np.__version__
    assert "same environment" in shell_out(capsys, "--repo", str(tmp_path), "env-diff", "v1", "v3", "--model", "w")


# -- the code in a plain IPython shell: its inputs ---------------------------------------------


def test_in_a_plain_ipython_shell_the_code_is_the_inputs_in_order_the_committing_one_last(
    ip, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ip.user_ns.pop("__session__", None)
    run(ip, WEIGHTS)
    run(ip, "w['a'] += 2")
    result = ip.run_cell("%commit_weights w -m shell", store_history=True)
    assert result.success
    repo = nbversion.Repo(tmp_path / ".nbversion")
    version = repo.show("w")
    notebook, cell = repo.code(version)
    n = result.execution_count
    assert version.context["code_source"] == "history"
    assert cell == f"in-{n}" and notebook["cells"][-1]["id"] == cell
    sources = ["".join(c["source"]) for c in notebook["cells"]]
    assert sources[-3:] == [WEIGHTS, "w['a'] += 2", "%commit_weights w -m shell"]
    assert [c["id"] for c in notebook["cells"]] == [f"in-{i}" for i in range(1, n + 1)]  # In[1..n]
    assert version.environment is not None

    run(ip, "%nbversion show v1 w")
    shown = capsys.readouterr().out
    assert "(no notebook file), from the kernel's inputs" in shown and f"committed by cell in-{n}" in shown
    run(ip, "%nbversion show --code v1 w")
    assert capsys.readouterr().out.splitlines()[-5:] == [
        f"# %% id=in-{n - 1}", "w['a'] += 2", "", f"# %% id=in-{n}", "%commit_weights w -m shell",
    ]  # fmt: skip
    run(ip, "%nbversion env-diff v1 v1 w")
    assert "same environment" in capsys.readouterr().out


def test_a_notebook_file_without_the_committing_cell_falls_back_to_the_inputs(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="saved")]), path)
    inputs = ["x = 1", "%commit_weights w"]
    unsaved = notebook_code(inputs, "nb.ipynb", "not-saved-yet", str(tmp_path))  # relative to the kernel's cwd
    assert unsaved.source == "history" and unsaved.cell == "not-saved-yet"
    assert [c["id"] for c in json.loads(unsaved.notebook)["cells"]] == ["in-1", "not-saved-yet"]
    saved = notebook_code(["x = 1"], "nb.ipynb", "saved", str(tmp_path))
    assert saved.source == "notebook" and saved.cell == "saved"
    assert saved.notebook == notebook_code(["x = 1"], str(path), "saved", "/").notebook  # same code, same bytes
    assert notebook_code([], None, None) is None
    # VS Code sends a cell's URI, no nbformat id: the cell is found by what ran.
    vscode = notebook_code(["x = 1"], str(path), "vscode-notebook-cell:/nb.ipynb#W0sZmlsZQ==", "/")
    assert vscode.source == "notebook" and vscode.cell == "saved"


# -- versions from before ------------------------------------------------------------------------


def test_versions_without_code_or_environment_say_not_recorded(repo, tmp_path, capsys):
    repo.commit({"a": np.zeros(2)}, model="old")
    repo.commit({"a": np.ones(2)}, model="old", environment=current_environment())
    assert repo.code("old~1") is None and repo.environment("old~1") is None
    shown = shell_out(capsys, "--repo", str(repo.path), "show", "old~1")
    assert "code:      not recorded" in shown and "environment: not recorded" in shown
    assert "No code recorded for old v1" in shell_out(capsys, "--repo", str(repo.path), "show", "--code", "old~1")
    data = json.loads(shell_out(capsys, "--repo", str(repo.path), "show", "old~1", "--json"))
    assert data["code"] is None and data["environment"] is None
    out = shell_out(capsys, "--repo", str(repo.path), "env-diff", "old~1", "old")
    assert "environment not recorded for old v1" in out
