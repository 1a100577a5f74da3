"""The notebook magics in a real IPython shell, on live Keras, PyTorch and NumPy models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from IPython.core.error import UsageError

import nbversion
from conftest import run


def repo(tmp_path) -> nbversion.Repo:
    return nbversion.Repo(tmp_path / ".nbversion")


KERAS_MODEL = """
import numpy as np, keras
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
model.compile(optimizer="adam", loss="mse")
x, y = np.random.rand(64, 8).astype("float32"), np.random.rand(64, 3).astype("float32")
"""


def keras_weights(ip):
    return [w.copy() for w in ip.user_ns["model"].get_weights()]


def test_commit_checkout_history_on_a_live_keras_model(ip, tmp_path, capsys):
    run(ip, KERAS_MODEL)
    run(ip, '%commit_weights model -m "trained on part 1" --metric acc=0.961 --tag part1')
    first = keras_weights(ip)
    run(ip, "model.fit(x, y, epochs=2, verbose=0)")
    run(ip, '%commit_weights model -m "part 2" --metric acc=0.972')
    second = keras_weights(ip)
    r = repo(tmp_path)
    v1, v2 = r.resolve("part1"), r.resolve("model")
    assert r.version(v2).parents == (v1,)
    assert r.version(v1).message == "trained on part 1" and r.version(v1).metrics == {"acc": 0.961}
    assert r.version(v2).framework == "keras" and "keras" in r.version(v2).software

    variables_before = [id(v) for v in ip.user_ns["model"].weights]
    optimizer = ip.user_ns["model"].optimizer
    capsys.readouterr()
    run(ip, "%checkout part1 model")
    assert "model is now at v1" in capsys.readouterr().out
    assert all(np.array_equal(a, b) for a, b in zip(keras_weights(ip), first))
    assert [id(v) for v in ip.user_ns["model"].weights] == variables_before  # same objects, in place
    assert ip.user_ns["model"].optimizer is optimizer

    run(ip, "%checkout model~0 model")  # any ref syntax: model~0 is where HEAD is now (v1)
    run(ip, "model.fit(x, y, epochs=1, verbose=0)")
    run(ip, '%commit_weights model -m "branch from part 1"')
    side = r.version(r.resolve("model"))
    assert side.parents == (v1,)  # the parent is where the model was, so this is a branch
    assert r.head("model")[0] == "from-v1"
    assert r.branches("model")["model/main"] == v2

    run(ip, f"%checkout {v2} model")
    assert all(np.array_equal(a, b) for a, b in zip(keras_weights(ip), second))


def test_checkout_refuses_wrong_architecture_and_changes_nothing(ip, tmp_path):
    run(ip, KERAS_MODEL)
    run(ip, "%commit_weights model")
    run(ip, 'other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(17, activation="relu"), keras.layers.Dense(3)])')
    before = [w.copy() for w in ip.user_ns["other"].get_weights()]
    with pytest.raises(UsageError) as err:
        run(ip, "%checkout model other")
    message = str(err.value)
    assert "does not fit the live model, so nothing was changed" in message
    assert "[8, 17]" in message and "[8, 16]" in message
    assert all(np.array_equal(a, b) for a, b in zip(ip.user_ns["other"].get_weights(), before))


def test_model_is_guessed_only_when_there_is_exactly_one(ip, tmp_path):
    run(ip, KERAS_MODEL)
    run(ip, "%commit_weights -m only")
    assert repo(tmp_path).models() == ["model"]
    run(ip, "twin = keras.models.clone_model(model)")
    with pytest.raises(UsageError, match="Candidates: model, twin"):
        run(ip, "%commit_weights -m which")


def test_metrics_from_keras_history_and_evaluate(ip, tmp_path):
    run(ip, KERAS_MODEL)
    run(ip, "model.compile(optimizer='adam', loss='mse', metrics=['mae'])")
    run(ip, "hist = model.fit(x, y, epochs=2, verbose=0)")
    run(ip, "%commit_weights model --metrics-from hist")
    metrics = repo(tmp_path).show("model").metrics
    assert set(metrics) == {"loss", "mae"}
    assert metrics["loss"] == pytest.approx(ip.user_ns["hist"].history["loss"][-1])
    run(ip, "scores = model.evaluate(x, y, verbose=0, return_dict=True)")
    run(ip, "%commit_weights model --metrics-from scores --metric epoch=2 --allow-empty")
    metrics = repo(tmp_path).show("model").metrics
    assert metrics["epoch"] == 2 and metrics["mae"] == pytest.approx(ip.user_ns["scores"]["mae"])


def test_optimizer_state_round_trips_with_keras(ip, tmp_path):
    run(ip, KERAS_MODEL)
    run(ip, "model.fit(x, y, epochs=1, verbose=0)")
    run(ip, "%commit_weights model --with-optimizer")
    saved = [np.array(v.numpy()) for v in ip.user_ns["model"].optimizer.variables]
    assert len(saved) > 2 and any(a.any() for a in saved)  # Adam's iteration count and moments, trained
    stored = [e for e in repo(tmp_path).manifest("v1", "model").tensors if e.name.startswith("optimizer/")]
    assert len(stored) == len(saved)
    run(ip, "model.fit(x, y, epochs=2, verbose=0)")
    trained = [np.array(v.numpy()) for v in ip.user_ns["model"].optimizer.variables]
    assert not all(np.array_equal(a, b) for a, b in zip(saved, trained))
    run(ip, "%checkout v1 model --with-optimizer")
    restored = [np.array(v.numpy()) for v in ip.user_ns["model"].optimizer.variables]
    assert len(restored) == len(saved) and all(np.array_equal(a, b) for a, b in zip(saved, restored))


def test_pytorch_module_parameters_and_buffers(ip, tmp_path):
    run(ip, """
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
def step():
    opt.zero_grad(); net(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
step()
""")
    run(ip, "%commit_weights net -m one --with-optimizer opt")
    state = {k: v.clone() for k, v in ip.user_ns["net"].state_dict().items()}
    params = [id(p) for p in ip.user_ns["net"].parameters()]
    run(ip, "step(); step()")
    run(ip, "%checkout v1 net --with-optimizer opt")
    now = ip.user_ns["net"].state_dict()
    assert set(now) == set(state) and "1.running_mean" in now
    assert all(bool((now[k] == state[k]).all()) for k in state)
    assert [id(p) for p in ip.user_ns["net"].parameters()] == params
    run(ip, "step()")  # the optimizer still drives the same parameters
    assert repo(tmp_path).show("v1").framework == "torch"


def test_numpy_dict_of_arrays(ip, tmp_path):
    run(ip, "import numpy as np\nweights = {'w': np.arange(6.0).reshape(2, 3), 'b': np.zeros(3)}")
    run(ip, "%commit_weights weights -m start")
    run(ip, "original = weights['w']; weights['w'] += 10")
    run(ip, "%checkout v1 weights")
    assert np.array_equal(ip.user_ns["weights"]["w"], np.arange(6.0).reshape(2, 3))
    assert ip.user_ns["original"] is ip.user_ns["weights"]["w"]


def test_history_table_dataframe_and_csv(ip, tmp_path, capsys):
    run(ip, KERAS_MODEL)
    for i in range(3):
        run(ip, f'%commit_weights model -m "step {i}" --metric acc={0.5 + i / 10} --metric loss={1 - i / 10}')
        run(ip, "model.fit(x, y, epochs=1, verbose=0)")
    capsys.readouterr()
    run(ip, "%history model")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["version", "cid", "time", "(UTC)", "message", "tags", "acc", "loss"]
    assert lines[1].startswith("* v3") and "step 2" in lines[1] and "0.7" in lines[1]
    run(ip, f"%nbv_history model -n 2 -o frame --csv {tmp_path / 'h.csv'}")
    frame = ip.user_ns["frame"]
    assert list(frame["version"]) == ["v3", "v2"] and list(frame["acc"]) == [0.7, 0.6]
    assert (tmp_path / "h.csv").read_text().splitlines()[0].startswith("version,cid,time,message")


def test_history_html_escapes_everything(ip):
    run(ip, "import numpy as np\nw = {'a': np.zeros(2)}")
    run(ip, "%commit_weights w -m '<img src=x onerror=alert(1)>'")
    magics = ip.magics_manager.registry["NbversionMagics"]
    from nbversion.present import HistoryTable

    html = HistoryTable("w", magics.repo.history("w"))._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_builtin_history_still_works_unchanged(ip, capsys):
    builtin = ip.magics_manager.registry["NbversionMagics"]._builtin_history
    assert builtin.__self__.__class__.__name__ == "HistoryMagics"
    ip.run_cell("a_number = 41 + 1", store_history=True)
    ip.run_cell("print('hello')", store_history=True)
    for line in ["-n -l 2", "-l 1", "-g a_number", "-n 1-2"]:
        capsys.readouterr()
        ip.run_line_magic("history", line)
        ours = capsys.readouterr().out
        builtin(line)
        assert ours == capsys.readouterr().out, line
    assert "a_number = 41 + 1" in ours or line == "-n 1-2"


def test_nbversion_umbrella_commands(ip, tmp_path, capsys):
    run(ip, KERAS_MODEL)
    run(ip, '%commit_weights model -m "one"')
    run(ip, "model.fit(x, y, epochs=1, verbose=0)")
    capsys.readouterr()
    run(ip, "%nbversion status")
    status = capsys.readouterr().out
    assert "model: at v1" in status and "live weights changed since" in status
    run(ip, "%commit_weights model")
    run(ip, "%nbversion status")
    assert "live weights equal it" in capsys.readouterr().out
    run(ip, "%nbversion diff v1 v2")
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["tensor", "status"] and "l2 of change" in header  # the CLI's table
    assert any("/kernel" in row and " changed " in row for row in rows)
    run(ip, "%nbversion tag best v1")
    assert repo(tmp_path).resolve("best") == repo(tmp_path).resolve("v1", model="model")
    run(ip, "%nbversion show best")
    shown = capsys.readouterr().out
    assert "%commit_weights model -m \"one\"" in shown and "message:   one" in shown
    with pytest.raises(UsageError, match="Unknown ref 'nope'"):
        run(ip, "%checkout nope model")


def test_magics_show_real_help():
    from nbversion.jupyter.magics import NbversionMagics

    doc = NbversionMagics.commit_weights.__doc__
    assert "--metric NAME=VALUE" in doc and "--metrics-from VAR" in doc and "--tag" in doc
    assert "usage: %checkout" in NbversionMagics.checkout.__doc__.replace("::\n\n  %checkout", "usage: %checkout")


def test_a_keras_version_opens_without_the_code(ip, tmp_path):
    from nbversion.live import open_model

    run(ip, KERAS_MODEL)
    run(ip, "model.fit(x, y, epochs=1, verbose=0)")
    run(ip, "%commit_weights model")
    rebuilt = open_model(repo(tmp_path), "model")
    assert rebuilt is not ip.user_ns["model"]
    expected = ip.user_ns["model"].predict(ip.user_ns["x"], verbose=0)
    assert np.array_equal(rebuilt.predict(ip.user_ns["x"], verbose=0), expected)


def test_a_foreign_module_in_an_architecture_is_refused():
    from nbversion.adapters.keras import KerasAdapter

    evil = {"module": "keras", "class_name": "Sequential", "config": {"layers": [{"module": "os", "class_name": "system", "config": {}}]}}
    with pytest.raises(nbversion.NbversionError, match="outside Keras: os"):
        KerasAdapter().rebuild(evil)


def test_commit_with_a_taken_tag_changes_nothing(ip, tmp_path):
    run(ip, "import numpy as np\nw = {'a': np.zeros(3)}")
    run(ip, "%commit_weights w -m one --tag best")
    run(ip, "w['a'] += 1")
    with pytest.raises(UsageError, match="already names"):
        run(ip, "%commit_weights w -m two --tag best")
    run(ip, "%commit_weights w -m two")
    r = repo(tmp_path)
    assert [v.message for v in r.log("w")] == ["two", "one"]
    assert r.head("w")[0] == "main" and r.show("w").parents == (r.resolve("best"),)


def test_a_closed_widget_stops_listening(ip, tmp_path):
    from nbversion.jupyter.widgets import VersionTree

    run(ip, "import numpy as np\nw = {'a': np.zeros(3)}")
    run(ip, "%commit_weights w -m one")
    session = ip.magics_manager.registry["NbversionMagics"].session
    before = session.listeners
    tree = VersionTree(session, "w")
    assert session.listeners == before + 1
    tree.close()
    assert session.listeners == before
    run(ip, "w['a'] += 1")
    run(ip, "%commit_weights w -m two")  # a closed widget is not redrawn
    assert len(tree.list.options) == 1


def test_history_widget_loads_and_compares_inline(ip, tmp_path):
    run(ip, "import numpy as np\nw = {'a': np.zeros(3)}")
    run(ip, "%commit_weights w -m '<b>first</b>'")
    run(ip, "w['a'] += 2")
    run(ip, "%commit_weights w -m second")
    from nbversion.jupyter.widgets import VersionTree

    magics = ip.magics_manager.registry["NbversionMagics"]
    tree = VersionTree(magics.session, "w")
    assert [label for label, _ in tree.list.options][0].startswith("● v2")
    tree.select("v1")
    assert "&lt;b&gt;first&lt;/b&gt;" in tree.details.value and "<b>first</b>" not in tree.details.value
    tree.compare()
    assert "changed" in tree.status.value
    tree.load()
    assert np.array_equal(ip.user_ns["w"]["a"], np.zeros(3))
    assert [label for label, _ in tree.list.options][1].startswith("● v1")  # refreshed on the change
    run(ip, "w2 = {'a': np.zeros(5)}")
    bad = VersionTree(magics.session, "w")
    magics.session.namespace["w"] = {"a": np.zeros(5)}
    bad.select("v2")
    bad.load()
    assert "does not fit" in bad.status.value


def test_a_subclassed_keras_model_without_a_config_still_commits(ip, tmp_path):
    run(ip, KERAS_MODEL)
    run(ip, """
class Net(keras.Model):
    def __init__(self, units):
        super().__init__()
        self.dense = keras.layers.Dense(units)
    def call(self, x):
        return self.dense(x)
net = Net(3)
net(x)
""")
    run(ip, "%commit_weights net")
    assert repo(tmp_path).show("net").architecture == {"class_name": "Net"}
