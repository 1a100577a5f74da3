"""The work a checkout skips, and why that is safe: the fingerprint of a tensor it reads comes
from the store's checksums of its blocks (each checked as it was read) and equals the hash of the
bytes the model then holds; a live tensor is taken to hold a version only when its bytes hash to
what they held then, however they were changed since (including ways PyTorch does not count);
arrays the model handed back are never written by later checkouts."""

from __future__ import annotations

import numpy as np
import pytest

from nbversion.adapters import adapter_for
from nbversion.live import checkout_model, commit_model, fingerprint


def torch_net():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch, torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 8))


def test_a_checkouts_fingerprints_from_block_checksums_equal_the_hash_of_what_the_model_holds(repo):
    rng = np.random.default_rng(5)
    model = {  # one leaf, two leaves (the last partial), many leaves, nothing, a 0-d value
        "small": rng.standard_normal(1000),
        "two": rng.standard_normal(100_000).astype(np.float32),
        "many": rng.standard_normal((512, 1100)),
        "empty": np.zeros((0, 3)),
        "scalar": np.array(2.5),
    }
    commit_model(repo, model, "m", "one")
    for value in model.values():
        value[...] = value + 1  # (the empty one stays empty)
    report = checkout_model(repo, "v1", model, "m")
    assert set(report.fingerprints) == set(model)
    for name, (print_, cid) in report.fingerprints.items():
        assert print_ == fingerprint(name, model[name])
        assert cid == repo.manifest("v1").by_name()[name].data


def test_tensors_held_from_before_a_checkout_keep_their_values_through_later_checkouts(repo):
    torch, net = torch_net()
    commit_model(repo, net, "m", "one")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    commit_model(repo, net, "m", "two")
    one, two = (dict(repo.load(v)) for v in ("v1", "v2"))
    checkout_model(repo, "v1", net, "m")
    held = net[0].weight.detach()  # a user keeps the values of this checkout
    for ref in ("v2", "v1", "v2"):
        checkout_model(repo, ref, net, "m")
        assert np.array_equal(held.numpy(), one["0.weight"])  # untouched by the checkouts after it
    assert np.array_equal(net[0].weight.detach().numpy(), two["0.weight"])


def _in_place_changes(torch, net):
    """Ways a notebook changes weights in place, some of which PyTorch's version counter misses."""

    def through_data():  # old-style SGD: p.data.add_(...) is not counted by p._version
        net[0].weight.data.mul_(2.0)

    def through_numpy():  # a NumPy view of the storage: invisible to PyTorch
        net[0].weight.detach().numpy()[3, 5] += 1.0

    def under_no_grad():
        with torch.no_grad():
            net[1].bias.add_(0.5)

    def by_optimizer():
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        net(torch.randn(4, 64)).sum().backward()
        opt.step()
        opt.zero_grad()

    return [through_data, through_numpy, under_no_grad, by_optimizer]


@pytest.mark.parametrize("how", range(4))
def test_a_tensor_changed_in_place_after_a_checkout_is_read_again(repo, how):
    torch, net = torch_net()
    commit_model(repo, net, "m", "one")
    one = dict(repo.load("v1"))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    report = checkout_model(repo, "v1", net, "m")
    _in_place_changes(torch, net)[how]()
    again = checkout_model(repo, "v1", net, "m", known=report.fingerprints)
    assert again.replaced >= 1
    live = adapter_for(net).read(net)
    assert all(np.array_equal(live[n], one[n]) for n in one)
