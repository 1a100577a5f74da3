"""``nbversion reproduce``: a version re-derived from the code it recorded, in a scratch repository.

One ``nbversion run`` (a real kernel through nbclient) commits a seeded model, started from its
pin and with a parameter, and an unseeded one; each is then reproduced (one kernel each).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import nbversion
from conftest import run_cli

CELLS = [
    "%load_ext nbversion",
    "scale = 0.5",  # tagged parameters
    "import numpy as np\nmodel = {'w': np.zeros((4, 4), np.float32)}",
    "%checkout --pinned model",
    "rng = np.random.default_rng(0)\nmodel['w'] = model['w'] * scale + rng.normal(size=(4, 4)).astype(np.float32)\n"
    "acc = float(abs(model['w']).mean())",
    "%commit_weights model -m seeded --metric acc={acc}",
    "noisy = {'w': np.random.default_rng().normal(size=3)}",
    "%commit_weights noisy -m unseeded",
]


def snapshot(folder):
    """Every file of a repository: a SQLite database's rows (its file's bytes move when a reader's
    close checkpoints the write-ahead log), any other file's bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.endswith(("-wal", "-shm", ".lock")):
            continue
        if p.suffix == ".sqlite":
            with contextlib.closing(sqlite3.connect(p)) as db:
                out[str(p.relative_to(folder))] = list(db.iterdump())
        else:
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A project whose model v1 was committed from Python (no code), and whose notebook was run with
    ``--pin model=v1 -p scale=0.25``: model v2 (seeded) and noisy v1 (unseeded) carry their code."""
    folder = tmp_path_factory.mktemp("project")
    env = {k: v for k, v in os.environ.items() if k not in ("NBVERSION_DIR", "NBVERSION_PINS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    repo = nbversion.Repo(folder / ".nbversion")
    repo.commit({"w": np.ones((4, 4), np.float32)}, model="model", message="base")
    repo.close()
    cells = [new_code_cell(src, metadata={"tags": ["parameters"]} if src == "scale = 0.5" else {}) for src in CELLS]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), str(folder / "train.ipynb"))
    done = run_cli("run", "train.ipynb", "--pin", "model=v1", "-p", "scale=0.25", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    return folder, env


def test_a_seeded_version_reproduces_bit_for_bit_and_the_repository_is_unchanged(ran, tmp_path):
    folder, env = ran
    repo = nbversion.Repo(folder / ".nbversion")
    recorded = repo.show("v2", "model")
    assert recorded.parents == (repo.show("v1", "model").cid,) and recorded.code is not None
    before = snapshot(folder / ".nbversion")
    kept = tmp_path / "rerun"
    done = run_cli("reproduce", "v2", "--model", "model", "--keep", str(kept), "--json", cwd=folder, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["match"] is True and report["manifests"] == [str(recorded.manifest)] * 2
    assert report["pins"] == {"model": str(recorded.parents[0])}  # started from the recorded parent
    assert report["metrics"] == [{"name": "acc", "recorded": recorded.metrics["acc"], "rerun": recorded.metrics["acc"]}]
    assert snapshot(folder / ".nbversion") == before  # the user's repository was only read
    scratch = nbversion.Repo(kept / ".nbversion")
    assert scratch.show(report["reproduced"]).manifest == recorded.manifest
    rerun = nbformat.read(str(kept / "train.out.ipynb"), as_version=4)
    assert rerun.cells[-1].source.startswith("%commit_weights model")  # up to the committing cell, no further
    text = run_cli("reproduce", "model", cwd=folder, env=env)
    assert text.returncode == 0 and "model v2 reproduced bit for bit" in text.stdout


def test_an_unseeded_version_is_reported_as_different_tensor_by_tensor(ran):
    folder, env = ran
    before = snapshot(folder / ".nbversion")
    done = run_cli("reproduce", "noisy", cwd=folder, env=env)
    assert done.returncode == 1, done.stderr
    assert "noisy v1 was NOT reproduced" in done.stdout
    assert "w       changed" in done.stdout and "max abs change" in done.stdout
    assert "Environment, recorded -> rerun: noisy v1 -> noisy " in done.stdout and "same environment" in done.stdout
    assert snapshot(folder / ".nbversion") == before


def test_a_version_without_code_or_its_cell_is_refused(ran, tmp_path):
    folder, env = ran
    done = run_cli("reproduce", "v1", "--model", "model", cwd=folder, env=env)
    assert done.returncode == 1 and "model v1 recorded no code" in done.stderr
    repo = nbversion.Repo(tmp_path / ".nbversion")
    code = json.dumps(nbformat.v4.new_notebook(cells=[new_code_cell("x = 1")])).encode()
    repo.commit({"w": np.ones(2)}, model="m", code=(code, "not-there"))
    done = run_cli("--repo", str(tmp_path), "reproduce", "m", env=env)
    assert done.returncode == 1 and "does not hold its committing cell (not-there)" in done.stderr
