"""Data versions from notebook cells, in a real IPython shell: ``%commit_data``, ``%commit_weights
--data``, ``%checkout --with-data``, ``%history`` of a data set and of a model linking one, and a
data ref given where a model is expected. The model is a NumPy one (a dict of arrays) so the tests
stay light; every framework goes through the same magics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run
from IPython.core.error import UsageError

import nbversion

SETUP = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
X_train = rng.normal(size=(30, 4)).astype("float32")
y_train = (np.arange(30) % 3).astype("int64")
meta = pd.DataFrame({"id": np.arange(3), "source": ["a", "b", "a"]})
model = {"w": np.zeros((4, 3), np.float32), "b": np.zeros(3, np.float32)}
"""


def repo(tmp_path) -> nbversion.Repo:
    return nbversion.Repo(tmp_path / ".nbversion")


def test_commit_data_versions_variables_and_a_rerun_is_unchanged_not_an_error(ip, tmp_path, capsys):
    run(ip, SETUP)
    run(ip, '%commit_data digits X_train y_train meta -m "digits, part 1" --tag d1')
    out = capsys.readouterr().out
    assert out.startswith("digits v1 ") and '"digits, part 1" [d1]: 3 items' in out
    r = repo(tmp_path)
    v1 = r.show("d1")
    assert v1.kind == "data" and v1.message == "digits, part 1" and v1.context["cell"]["source"].startswith("%commit_data")
    assert v1.environment is not None and r.environment(v1)["python"]  # made with what, as model versions record
    assert np.array_equal(r.load_data("d1")["X_train"], ip.user_ns["X_train"])
    run(ip, '%commit_data digits X_train y_train meta -m "digits, part 1" --tag d1')  # the notebook re-run
    assert "digits is unchanged: its items are already v1" in capsys.readouterr().out
    assert len(r.log("digits")) == 1
    with pytest.raises(UsageError, match="'nothing_here' is neither a variable nor a file or folder here"):
        run(ip, "%commit_data digits X_train nothing_here")


def test_commit_weights_links_data_by_variable_or_ref_and_history_shows_the_links(ip, tmp_path, capsys):
    run(ip, SETUP)
    run(ip, "%commit_data digits X_train y_train")
    run(ip, "source = meta['source']\n%commit_data extra meta source")
    run(ip, "model['w'] += 1")
    run(ip, "%commit_weights model -m first --metric acc=0.5 --data train=X_train --data meta=source")
    r = repo(tmp_path)
    m1 = r.show("model")
    assert m1.data == {"train": r.resolve("digits"), "meta": r.resolve("extra")}
    run(ip, "X_train = X_train * 2")  # a new array: not what digits v1 holds
    run(ip, "%commit_data digits X_train y_train -m doubled")
    run(ip, "model['w'] += 1")
    run(ip, "%commit_weights model -m second --data train=X_train")
    assert r.show("model").data == {"train": r.resolve("digits")} and r.resolve("digits") != m1.data["train"]
    run(ip, "X_train[0, 0] = 99")  # changed in place since it was committed
    run(ip, "model['w'] += 1")
    with pytest.raises(UsageError, match="variable 'X_train' holds no data committed in this kernel \\(or it changed since\\)"):
        run(ip, "%commit_weights model --data train=X_train")
    with pytest.raises(UsageError, match="Data link train=model names model v2, a weights version, not a data version"):
        run(ip, "%commit_weights model --data train=model")

    capsys.readouterr()
    table = run(ip, "%history model -o hist")
    shown = capsys.readouterr().out
    assert "train=digits v2" in shown and "meta=extra v1, train=digits v1" in shown
    assert list(ip.user_ns["hist"]["data"]) == ["train=digits v2", "meta=extra v1, train=digits v1"]
    run(ip, "%history digits")
    shown = capsys.readouterr().out
    assert "doubled" in shown and "y_train int64[30] (3 classes)" in shown and "X_train float32[30, 4]" in shown
    assert table is None or "train=digits v2" in table._repr_html_()


def test_checkout_with_data_restores_the_linked_data_into_the_namespace(ip, tmp_path, capsys):
    run(ip, SETUP)
    run(ip, "%commit_data digits X_train y_train meta --tag d1")
    run(ip, "model['w'] += 1")
    run(ip, "%commit_weights model --data train=d1 --tag m1")
    first_w, first_x = ip.user_ns["model"]["w"].copy(), ip.user_ns["X_train"].copy()
    run(ip, "X_train = X_train + 5; y_train = y_train[:10]; del meta")
    run(ip, "%commit_data digits X_train y_train")
    run(ip, "model['w'] += 1")
    run(ip, "%commit_weights model --data train=digits")
    capsys.readouterr()
    run(ip, "%checkout m1 model --with-data")
    out = capsys.readouterr().out
    assert "with data train=digits v1" in out and "X_train, meta, y_train" in out
    assert np.array_equal(ip.user_ns["model"]["w"], first_w) and np.array_equal(ip.user_ns["X_train"], first_x)
    assert len(ip.user_ns["y_train"]) == 30
    run(ip, "model['w'] += 3")
    run(ip, "%commit_weights model -m 'retrained on part 1' --data train=X_train")  # restored: it names d1 again
    r = repo(tmp_path)
    assert r.show("model").data == {"train": r.resolve("d1")}
    pd.testing.assert_frame_equal(ip.user_ns["meta"], pd.DataFrame({"id": np.arange(3), "source": ["a", "b", "a"]}))


def test_checkout_with_data_changes_nothing_when_the_model_does_not_fit(ip, tmp_path):
    run(ip, SETUP)
    run(ip, "%commit_data digits X_train y_train")
    run(ip, "%commit_weights model --data train=digits --tag m1")
    run(ip, "X_train = X_train + 1; other = {'w': np.zeros((5, 3), np.float32), 'b': np.zeros(3, np.float32)}")
    changed = ip.user_ns["X_train"]
    with pytest.raises(UsageError, match="does not fit the live model, so nothing was changed"):
        run(ip, "%checkout m1 other --with-data")
    assert ip.user_ns["X_train"] is changed


def test_a_data_ref_where_a_model_is_expected_is_a_clear_error(ip, tmp_path):
    run(ip, SETUP)
    run(ip, "%commit_data digits X_train y_train")
    before = ip.user_ns["model"]["w"].copy()
    with pytest.raises(UsageError, match="digits v1 is a data version, not a model's weights"):
        run(ip, "%checkout digits model")
    assert np.array_equal(ip.user_ns["model"]["w"], before)
    with pytest.raises(UsageError, match="'digits' names a data set; a weights version cannot join its history"):
        run(ip, "digits = {'w': np.ones(2)}\n%commit_weights digits")


def test_a_notebook_versions_its_data_links_it_and_checks_it_out_again_in_a_real_kernel(tmp_path, monkeypatch):
    """The ML-Git story in a kernel nbclient runs: data, a model trained on it, more data, retrain,
    then back to version 1 with its data."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    cells = [
        "%load_ext nbversion",
        SETUP,
        '%commit_data digits X_train y_train -m "part 1"',
        "model['w'] += X_train[:4, :3]\n%commit_weights model -m 'on part 1' --metric acc=0.9 --data train=X_train",
        (
            "X_train = np.concatenate([X_train, X_train + 1]); y_train = np.concatenate([y_train, y_train])\n"
            '%commit_data digits X_train y_train -m "parts 1-2"'
        ),
        "model['w'] += 1\n%commit_weights model -m 'on parts 1-2' --metric acc=0.95 --data train=digits",
        "%history model",
        "%checkout v1 model --with-data\nassert X_train.shape == (30, 4), X_train.shape",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = ["".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in c.outputs) for c in notebook.cells]
    assert "train=digits v2" in outputs[6] and "train=digits v1" in outputs[6]
    assert "with data train=digits v1" in outputs[7] and "model is now at v1" in outputs[7]
    r = repo(tmp_path)
    assert [v.message for v in r.history("digits")] == ["parts 1-2", "part 1"] and r.fsck().ok
    assert r.show("v1", "model").data == {"train": r.resolve("v1", "digits")}


def test_commit_data_takes_folders_and_checkout_with_data_puts_them_back(ip, tmp_path, capsys):
    run(ip, SETUP)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.txt").write_text("first")
    run(ip, "%commit_data pets images y_train")
    run(ip, "%commit_weights model --data train=pets --tag m1")
    (tmp_path / "images" / "a.txt").unlink()
    run(ip, "%checkout m1 model --with-data")
    assert (tmp_path / "images" / "a.txt").read_text() == "first"  # put back where it was committed from
    (tmp_path / "images" / "a.txt").write_text("edited")
    with pytest.raises(UsageError, match="differs from pets v1's item 'images' \\(a.txt\\); move it away \\(nothing was changed\\)"):
        run(ip, "%checkout m1 model --with-data")
    assert (tmp_path / "images" / "a.txt").read_text() == "edited"
