"""Follow-ups to data versions (issue 12): ``%checkout --with-data --force`` overwrites files that
differ (and still refuses everything else first); a data set new here that a version opened from a
node links gets a head, so its history shows; ``nbversion run`` with a kernel that cannot start
leaves no output behind; a re-run of ``%commit_data`` does not hash again what the kernel knows it
committed unchanged, and still sees an array changed in place."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from conftest import run, run_cli
from IPython.core.error import UsageError
from nbformat.v4 import new_code_cell, new_notebook

import nbversion

pytest_plugins = ["conftest_ipfs"]

SETUP = """
import numpy as np
X_train = np.arange(120, dtype=np.float32).reshape(30, 4)
y_train = (np.arange(30) % 3).astype("int64")
model = {"w": np.zeros((4, 3), np.float32)}
"""


# --- %checkout --with-data --force ------------------------------------------------------------------


def test_checkout_with_data_force_overwrites_files_that_differ_but_still_checks_everything_first(ip, tmp_path, capsys):
    run(ip, SETUP)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.txt").write_text("first")
    (tmp_path / "notes.txt").write_text("notes")
    run(ip, "%commit_data pets images notes.txt y_train")
    run(ip, "model['w'] += 1\n%commit_weights model --data train=pets --tag m1")
    run(ip, "model['w'] += 1\n%commit_weights model")
    (tmp_path / "images" / "a.txt").write_text("edited")
    (tmp_path / "images" / "extra.txt").write_text("mine")
    with pytest.raises(UsageError, match="move it away \\(nothing was changed\\), or add --force to overwrite it"):
        run(ip, "%checkout m1 model --with-data")
    assert (tmp_path / "images" / "a.txt").read_text() == "edited"

    (tmp_path / "notes.txt").unlink()
    (tmp_path / "notes.txt").mkdir()  # a folder where the version has a file: --force does not override that
    with pytest.raises(UsageError, match="notes.txt is a folder where the version has a file"):
        run(ip, "%checkout m1 model --with-data --force")
    assert (tmp_path / "images" / "a.txt").read_text() == "edited" and ip.user_ns["model"]["w"][0, 0] == 2  # unchanged

    (tmp_path / "notes.txt").rmdir()
    run(ip, "%checkout m1 model --with-data --force")
    assert (tmp_path / "images" / "a.txt").read_text() == "first" and (tmp_path / "notes.txt").read_text() == "notes"
    assert (tmp_path / "images" / "extra.txt").read_text() == "mine"  # files the version does not hold are left alone
    assert ip.user_ns["model"]["w"][0, 0] == 1 and "with data train=pets v1" in capsys.readouterr().out
    with pytest.raises(UsageError, match="--force goes with --with-data"):
        run(ip, "%checkout m1 model --force")


# --- a version opened from a node: the data sets it links get a head ------------------------------


def test_a_data_set_new_here_that_a_fetched_version_links_gets_a_head_an_existing_one_keeps_its_own(
    repo, tmp_path, ipfs_api
):
    rng = np.random.default_rng(0)
    d1 = repo.commit_data("digits", {"X": rng.normal(size=(20, 4)), "y": np.arange(20) % 2}, "part 1")
    m1 = repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": "digits"})
    d2 = repo.commit_data("digits", {"X": rng.normal(size=(40, 4)), "y": np.arange(40) % 2}, "parts 1-2")
    m2 = repo.commit({"w": np.full(3, 2, np.float32)}, model="clf", data={"train": "digits"})
    repo.push("clf", ipfs_api)
    where = tmp_path / "colleague" / ".nbversion"
    with nbversion.Repo(where, remote=ipfs_api) as other:
        other.locate(str(m1.cid))
        assert other.head("digits")[1] == d1.cid and [v.cid for v in other.log("digits")] == [d1.cid]
        other.locate(str(m2.cid))  # digits v2 comes too, but the data set here stays where it was
        assert other.head("digits")[1] == d1.cid and other.version(d2.cid).model == "digits"
        assert other.head("clf")[1] == m1.cid
    log = run_cli("--repo", str(where), "log", "digits")
    assert log.returncode == 0, log.stderr
    assert "part 1" in log.stdout


# --- nbversion run: a kernel that cannot start -------------------------------------------------------


def test_a_run_whose_kernel_cannot_start_leaves_no_output_and_keeps_an_earlier_one(tmp_path, monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    nbversion.Repo(tmp_path / ".nbversion").commit({"w": np.zeros(3)}, model="model")
    nb = tmp_path / "train.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('never runs')")]), str(nb))
    done = run_cli("run", str(nb), "--kernel", "nope", cwd=tmp_path)
    assert done.returncode == 1 and "No Jupyter kernel named 'nope'" in done.stderr
    assert not (tmp_path / "train.out.ipynb").exists()
    (tmp_path / "out.ipynb").write_text("an earlier run's output")
    done = run_cli("run", str(nb), "--kernel", "nope", "-o", "out.ipynb", cwd=tmp_path)
    assert done.returncode == 1 and (tmp_path / "out.ipynb").read_text() == "an earlier run's output"


# --- %commit_data re-run: what the kernel knows unchanged is not hashed again -------------------------


def test_a_rerun_of_commit_data_takes_what_the_kernel_knows_unchanged_and_still_sees_an_in_place_change(ip, tmp_path):
    session = ip.magics_manager.registry["NbversionMagics"].session
    run(ip, SETUP)
    first = session.commit_data("digits", {"X_train": ip.user_ns["X_train"], "y_train": ip.user_ns["y_train"]})
    assert first.stats["known_items"] == 0  # new to the kernel: hashed
    again = session.commit_data("digits", {"X_train": ip.user_ns["X_train"], "y_train": ip.user_ns["y_train"]})
    assert again.cid == first.cid and again.stats["unchanged"] and again.stats["known_items"] == 2

    run(ip, "X_train[0, 0] = 99")  # changed in place: the same object, other bytes
    run(ip, "%commit_data digits X_train y_train -m 'one value changed'")
    r = nbversion.Repo(tmp_path / ".nbversion")
    second = r.show("digits")
    assert second.label == "v2" and second.message == "one value changed"
    assert r.load_data("digits")["X_train"][0, 0] == 99 and r.load_data(first.cid)["X_train"][0, 0] == 0
    assert r.open("digits").entries["y_train"] == r.open(first.cid).entries["y_train"]  # the unchanged one, reused

    run(ip, "Z = X_train; X_train = np.zeros_like(Z)")  # another array under the name digits v2 has X_train for
    third = session.commit_data("digits", {"X_train": ip.user_ns["Z"], "y_train": ip.user_ns["y_train"]})
    assert third.cid == r.resolve("digits") and third.stats["unchanged"]  # Z is v2's X_train, known under that name
    renamed = session.commit_data("other", {"Z": ip.user_ns["Z"], "X_train": ip.user_ns["X_train"]})
    assert renamed.stats["known_items"] == 0  # Z was committed as X_train; the zeros never were: both hashed
    loaded = r.load_data(renamed.cid)
    assert loaded["Z"][0, 0] == 99 and not loaded["X_train"].any() and r.fsck().ok


def test_commit_data_ignores_a_known_version_that_does_not_fit_the_item(repo):
    v1 = repo.commit_data("digits", {"X": np.ones((4, 2)), "y": np.arange(4)})
    other = {"X": np.zeros((4, 3)), "y": np.arange(4)}  # X: another shape than v1's X
    v2 = repo.commit_data("digits", other, known={"X": v1.cid, "y": v1.cid, "nothing": v1.cid})
    assert v2.stats["known_items"] == 1 and np.array_equal(repo.load_data(v2)["X"], other["X"])
