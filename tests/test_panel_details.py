"""What the panel's details pane reads (``GET nbversion/version``) of data versions and of what a
model version was made with, through a real Jupyter server: a data version's items with their
summaries (not a "not a model's weights" error), a model version's data links named, its code and
environment in a few fields, and "not recorded" (null) for a version committed outside a notebook."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nbversion
from nbversion.repo import current_environment

NOTEBOOK = {"cells": [{"cell_type": "code", "id": "c1", "source": "fit()", "metadata": {}, "outputs": [],
                       "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbversion": True}}}


@pytest.fixture
def versions(jp_root_dir, monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    with nbversion.Repo(jp_root_dir / ".nbversion") as repo:
        digits = repo.commit_data("digits", {"X": np.zeros((60, 4)), "y": np.repeat(np.arange(3), 20)}, "part 1")
        trained = repo.commit({"w": np.ones(3)}, model="clf", message="trained", data={"train": "digits"},
                              code=(json.dumps(NOTEBOOK).encode(), "c1"), environment=current_environment(),
                              context={"notebook": "work/train.ipynb"})  # fmt: skip
        bare = repo.commit({"w": np.zeros(3)}, model="clf", message="from a script")
    return digits, trained, bare


async def details(jp_fetch, cid) -> dict:
    return json.loads((await jp_fetch("nbversion", "version", params={"path": "a.ipynb", "cid": str(cid)})).body)


async def test_a_data_versions_details_list_its_items_with_their_summaries(jp_fetch, versions):
    digits, _, _ = versions
    d = await details(jp_fetch, digits.cid)
    assert d["kind"] == "data" and "tensors" not in d
    assert [(i["name"], i["text"]) for i in d["items"]] == [("X", "X float64[60, 4]"), ("y", "y int64[60] (3 classes)")]
    assert d["items"][1]["summary"]["classes"] == {"0": 20, "1": 20, "2": 20}


async def test_a_model_versions_details_name_its_data_and_summarise_its_code_and_environment(jp_fetch, versions):
    digits, trained, bare = versions
    d = await details(jp_fetch, trained.cid)
    assert d["data"] == {"train": str(digits.cid)} and d["data_labels"] == {str(digits.cid): "digits v1"}
    assert d["code"] == {"cid": str(trained.code.notebook), "notebook": "work/train.ipynb", "cell": "c1"}
    env = current_environment()
    assert d["environment"]["python"] == env["python"] and d["environment"]["packages"] == len(env["packages"])
    assert d["environment"]["key_packages"]["numpy"] == np.__version__
    assert d["tensors"][0]["name"] == "w"
    d = await details(jp_fetch, bare.cid)
    assert d["code"] is None and d["environment"] is None and d["data_labels"] == {}
