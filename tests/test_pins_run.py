"""Pins (``metadata.nbversion.pins``), ``%checkout --pinned``, ``%nbversion pin`` and ``nbversion run``.

Runs start real kernels through nbclient; there are two of them (a run that loads its pin, takes
parameters and commits; a run that fails), since kernels are slow on small machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest
from IPython.core.error import UsageError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import nbversion
from conftest import run, run_cli
from nbversion.notebooks import pins

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def train_notebook(path, pinned=None):
    """A notebook that starts a plain-dict model from its pin, trains it a parameterised number of
    steps and commits it with a metric."""
    cells = [
        new_markdown_cell("# Train from the pinned version"),
        new_code_cell("%load_ext nbversion"),
        new_code_cell("steps = 1\nlabel = 'base'", metadata={"tags": ["parameters"]}),
        new_code_cell("import numpy as np\nmodel = {'w': np.zeros(3)}"),
        new_code_cell("%checkout --pinned model"),
        new_code_cell("model['w'] = model['w'] + steps\nprint('w is', model['w'].tolist(), label)"),
        new_code_cell('%commit_weights model -m "{label}" --metric steps={steps}'),
    ]
    meta = {"kernelspec": KERNELSPEC, "authors": [{"name": "kept as it is"}]}
    if pinned:
        meta["nbversion"] = {"pins": pinned, "other": "kept"}
    nbformat.write(new_notebook(cells=cells, metadata=meta), str(path))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a repository holding model v1 (w = 10) and v2 (w = 20)."""
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    monkeypatch.delenv(pins.PINS_ENV, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    repo = nbversion.Repo(tmp_path / ".nbversion")
    v1 = repo.commit({"w": np.full(3, 10.0)}, model="model", message="ten", tag="ten")
    v2 = repo.commit({"w": np.full(3, 20.0)}, model="model", message="twenty")
    repo.close()
    return tmp_path, v1, v2


# -- pins in the file ----------------------------------------------------------------------------


def test_pins_round_trip_through_the_file_keeping_everything_else(project):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb", pinned={"other_model": str(v2.cid)})
    before = nbformat.read(str(nb), as_version=4)
    done = run_cli("pin", str(nb), "model=ten", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert pins.read_pins(nb) == {"model": str(v1.cid), "other_model": str(v2.cid)}  # a ref is stored as its CID
    after = nbformat.read(str(nb), as_version=4)
    assert after.cells == before.cells
    assert after.metadata.authors == before.metadata.authors and after.metadata.nbversion.other == "kept"
    listed = run_cli("pin", str(nb), "--json", cwd=folder)
    assert json.loads(listed.stdout) == {"model": str(v1.cid), "other_model": str(v2.cid)}
    assert run_cli("pin", str(nb), "-d", "other_model", cwd=folder).returncode == 0
    assert pins.read_pins(nb) == {"model": str(v1.cid)}
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]  # the temporary file is gone


def test_pin_to_an_unknown_ref_is_refused_and_the_file_unchanged(project):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb")
    before = nb.read_bytes()
    done = run_cli("pin", str(nb), "model=v9", cwd=folder)
    assert done.returncode == 1 and "model=v9" in done.stderr and "no version v9" in done.stderr
    assert nb.read_bytes() == before


# -- the magics ------------------------------------------------------------------------------------


def test_checkout_pinned_loads_the_pin_a_run_gives_over_the_file(ip, project, monkeypatch):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb", pinned={"model": str(v1.cid)})
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    run(ip, "import numpy as np; model = {'w': np.zeros(3)}")
    run(ip, "%checkout --pinned model")
    assert ip.user_ns["model"]["w"].tolist() == [10.0] * 3  # the file's pin
    monkeypatch.setenv(pins.PINS_ENV, json.dumps({"model": str(v2.cid)}))
    run(ip, "%checkout --pinned model")
    assert ip.user_ns["model"]["w"].tolist() == [20.0] * 3  # a run's pin wins


def test_checkout_pinned_says_what_is_missing_and_changes_nothing(ip, project, monkeypatch):
    folder, v1, v2 = project
    run(ip, "import numpy as np; model = {'w': np.zeros(3)}")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(UsageError, match="does not know its notebook file"):
        run(ip, "%checkout --pinned model")
    nb = train_notebook(folder / "train.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    with pytest.raises(UsageError, match=r"No pin for 'model' in .*train.ipynb.*%nbversion pin REF model"):
        run(ip, "%checkout --pinned model")
    stranger = nbversion.Repo(folder / "elsewhere").commit({"w": np.ones(3)}, model="model")
    monkeypatch.setenv(pins.PINS_ENV, json.dumps({"model": str(stranger.cid)}))
    with pytest.raises(UsageError, match=f"pinned to {stranger.cid}, which is not in the repository"):
        run(ip, "%checkout --pinned model")
    assert ip.user_ns["model"]["w"].tolist() == [0.0] * 3


def test_nbversion_pin_writes_the_file_when_no_panel_is_attached(ip, project, monkeypatch, capsys):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    run(ip, "%nbversion pin ten model")
    assert pins.read_pins(nb) == {"model": str(v1.cid)}
    assert f"Pinned model to v1 ({v1.cid}) in {nb}" in capsys.readouterr().out
    with pytest.raises(UsageError, match="no version v7"):
        run(ip, "%nbversion pin v7 model")


def test_nbversion_pin_goes_through_the_panel_when_one_is_attached(ip, project, monkeypatch, capsys):
    from nbversion.jupyter.bridge import Bridge

    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    magics = ip.magics_manager.registry["NbversionMagics"]
    sent = []
    bridge = Bridge(magics.session)
    bridge.comm = type("Comm", (), {"send": lambda self, data: sent.append(data)})()
    monkeypatch.setattr(magics, "bridge", bridge)
    bridge._on_msg({"content": {"data": {"protocol": 1, "id": 1, "op": "list"}}})  # the panel asks: it is attached
    sent.clear()
    run(ip, "%nbversion pin v2 model")
    assert sent == [{"protocol": 1, "event": "pin", "model": "model", "cid": str(v2.cid), "notebook": str(nb)}]
    assert pins.read_pins(nb) == {}  # the panel writes the open document and saves it
    assert "through the JupyterLab panel" in capsys.readouterr().out
    bridge.unsubscribe()
    bridge.unsubscribe_events()


# -- nbversion run -----------------------------------------------------------------------------------


def test_run_starts_from_the_pin_takes_parameters_and_records_the_run(project):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb", pinned={"model": str(v2.cid)})
    source = nb.read_bytes()
    done = run_cli("run", str(nb), "--pin", "model=ten", "-p", "steps=2", "-p", "label=tuned run", "-o", "out.ipynb", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert nb.read_bytes() == source  # the source notebook is never written
    repo = nbversion.Repo(folder / ".nbversion")
    new = repo.show("model")
    assert new.label == "v3" and new.parents == (v1.cid,)  # started from the --pin, not the notebook's own pin
    assert repo.load(new)["w"].tolist() == [12.0] * 3 and new.metrics == {"steps": 2} and new.message == "tuned run"
    assert f"model v3  {new.cid}  steps=2" in done.stdout
    out = nbformat.read(str(folder / "out.ipynb"), as_version=4)
    injected = out.cells[3]
    assert "injected-parameters" in injected.metadata.tags and "steps = 2\nlabel = 'tuned run'\n" in injected.source
    assert "w is [12.0, 12.0, 12.0] tuned run" in "".join(o.get("text", "") for o in out.cells[6].outputs)
    assert out.metadata.nbversion.pins == {"model": str(v1.cid)}
    assert out.metadata.nbversion.run == {
        "source": str(nb), "pins": {"model": str(v1.cid)}, "parameters": {"steps": 2, "label": "tuned run"},
        "committed": [{"model": "model", "cid": str(new.cid), "label": "v3", "metrics": {"steps": 2}}], "ok": True,
    }  # fmt: skip
    assert new.context["cell"]["id"] == out.cells[7].id  # the committing cell, known in a headless run too


def test_a_failing_run_keeps_the_partial_output_and_names_the_cell(project):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb")  # no pin anywhere: the %checkout --pinned cell fails
    done = run_cli("run", str(nb), cwd=folder)
    assert done.returncode == 1
    cell = nbformat.read(str(nb), as_version=4).cells[4]
    assert f"cell 4 (id {cell.id}: '%checkout --pinned model') failed: UsageError: No pin for 'model'" in done.stderr
    out = nbformat.read(str(folder / "train.out.ipynb"), as_version=4)  # the default output, next to the source
    assert out.cells[3].outputs == [] and out.cells[3].execution_count  # ran
    assert "UsageError: No pin for 'model'" in out.cells[4].outputs[-1].text  # IPython shows a UsageError in one red line
    assert out.cells[5].execution_count is None  # never ran
    assert out.metadata.nbversion.run["ok"] is False and out.metadata.nbversion.run["failed"]["index"] == 4
    assert "It committed no versions." in done.stdout
    assert [v.label for v in nbversion.Repo(folder / ".nbversion").log("model")] == ["v2", "v1"]


def test_a_run_with_an_unknown_pin_is_refused_before_anything_runs(project):
    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb")
    done = run_cli("run", str(nb), "--pin", "model=nowhere", cwd=folder)
    assert done.returncode == 1
    assert "Pin model=nowhere: Unknown ref 'nowhere'" in done.stderr and "Nothing was run." in done.stderr
    assert not (folder / "train.out.ipynb").exists()


def test_parameter_values_are_literals_else_text():
    from nbversion.notebooks.run import parse_value

    assert [parse_value(t) for t in ("2", "0.5", "[1, 2]", "'a'", "True", "hello world", "1e-3")] == [
        2, 0.5, [1, 2], "a", True, "hello world", 0.001,
    ]  # fmt: skip


def test_a_kernel_that_dies_before_the_first_cell_is_named_and_leaves_no_output(project, tmp_path):
    """A real kernel process that exits at start (here: a kernelspec whose command fails)."""
    folder, v1, v2 = project
    spec = tmp_path / "jupyter" / "kernels" / "dying"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, "-c", "raise SystemExit(3)", "{connection_file}"], "display_name": "dies", "language": "python"}
    ))  # fmt: skip
    nb = train_notebook(folder / "train.ipynb", pinned={"model": "ten"})
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter")}
    done = run_cli("run", str(nb), "--kernel", "dying", cwd=folder, env=env)
    assert done.returncode == 1
    assert "The kernel 'dying' stopped before the first cell ran" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "train.out.ipynb").exists()


def test_a_run_on_a_terminal_draws_a_bar_of_cells(project):
    """On a terminal (a real pseudo-terminal here) the run shows how many cells have run."""
    import fcntl
    import pty
    import struct
    import termios

    folder, v1, v2 = project
    nb = train_notebook(folder / "train.ipynb", pinned={"model": "ten"})
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns, as a window has
    try:
        done = subprocess.run([sys.executable, "-m", "nbversion.cli", "run", str(nb)], cwd=folder, stdout=subprocess.PIPE,
                              stderr=terminal, timeout=600)  # fmt: skip
        os.close(terminal)
        drawn = b""
        with contextlib.suppress(OSError):  # (EIO once everything written is read)
            while chunk := os.read(master, 1 << 16):
                drawn += chunk
    finally:
        os.close(master)
    assert done.returncode == 0, drawn.decode(errors="replace")
    assert re.search(rb"train\.ipynb: +\d+%.*\b[1-6]/6\b", drawn), drawn  # cells run, of the six
