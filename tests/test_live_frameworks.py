"""Checkout into live Keras and PyTorch models as it happens after training: the weights are in no
version, the model takes the version's values without copies it does not need, keeps its variable
objects (so optimizers stay valid), and a fault after the model was touched puts everything back."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from test_live import corrupt

from nbversion.adapters import adapter_for
from nbversion.errors import CorruptBlockError
from nbversion.formats.tensors import same_bytes
from nbversion.live import OPTIMIZER_PREFIX, checkout_model, commit_model, live_matches


def keras_model():
    """A compiled Keras model, its optimizer argument for commits, a training step, its variables."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.rand(32, 8).astype("float32"), np.random.rand(32, 3).astype("float32")
    return model, True, lambda: model.fit(x, y, epochs=1, verbose=0), lambda: list(model.weights)


def torch_model():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.Linear(16, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    x, y = torch.randn(32, 8), torch.randn(32, 3)

    def train():
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()

    return net, opt, train, lambda: list(net.state_dict(keep_vars=True).values())


FRAMEWORKS = {"keras": keras_model, "torch": torch_model}


def values(model) -> dict:
    return {n: np.array(a, copy=True) for n, a in adapter_for(model).read(model).items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same_bytes(a[n], b[n]) for n in a)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkout_after_training_brings_back_the_version_in_the_same_variables(repo, framework):
    model, _, train, variables = FRAMEWORKS[framework]()
    train()
    commit_model(repo, model, "m", "one")
    one, before = values(model), variables()
    train()  # the live weights are in no version now
    report = checkout_model(repo, "v1", model, "m", measure_change=True)
    assert report.replaced > 0 and report.max_abs_change > 0
    assert same(values(model), one)
    assert all(a is b for a, b in zip(variables(), before))  # optimizers and callbacks stay valid
    assert live_matches(repo, model, "m", "v1", known=report.fingerprints)
    train()  # training goes on from the version; the version itself is untouched
    assert not same(values(model), one)
    assert not live_matches(repo, model, "m", "v1", known=report.fingerprints)
    assert same(dict(repo.load("v1")), one)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_fault_after_the_weights_are_written_puts_the_trained_weights_back(repo, framework):
    model, optimizer, train, variables = FRAMEWORKS[framework]()
    train()
    commit_model(repo, model, "m", "with optimizer", optimizer=optimizer)
    train()
    trained, before = values(model), variables()
    stored = repo.manifest("v1").by_name()
    corrupt(repo, next(e for n, e in stored.items() if n.startswith(OPTIMIZER_PREFIX) and e.size))
    with pytest.raises(CorruptBlockError):  # the optimizer state is read after the weights are written
        checkout_model(repo, "v1", model, "m", optimizer=optimizer)
    assert same(values(model), trained)
    assert all(a is b for a, b in zip(variables(), before))


def test_keras_reads_are_read_only_snapshots():
    from nbversion.adapters.keras import KerasAdapter

    model, _, train, _ = keras_model()
    read = KerasAdapter().read(model)
    before = {n: a.copy() for n, a in read.items()}
    assert not any(a.flags.writeable for a in read.values())
    train()
    assert same(read, before)  # what was read is what the model held then
    assert not same(values(model), before)


def test_a_checkout_that_only_flips_the_sign_of_zero_still_writes_it(repo):
    model = {"w": np.zeros(3)}
    commit_model(repo, model, "m", "positive zeros")
    model["w"][1] = -0.0  # equal as numbers, different bytes (and a different CID)
    report = checkout_model(repo, "v1", model, "m")
    assert report.replaced == 1 and not np.signbit(model["w"]).any()


def test_same_bytes_compares_bytes_not_values():
    a = np.arange(3_000_000, dtype=np.float32)
    assert same_bytes(a, a.copy())
    b = a.copy()
    b[-1] = 0  # only the last slice differs
    assert not same_bytes(a, b)
    assert not same_bytes(np.array([0.0]), np.array([-0.0]))
    nan = np.array([np.nan])
    assert same_bytes(nan, nan.copy())
