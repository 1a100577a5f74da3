"""The Jupyter server extension's REST routes, through a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError

import nbversion



@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbversion": True}}}


@pytest.fixture
def project(jp_root_dir, monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    (jp_root_dir / "work" / "deep").mkdir(parents=True)
    repo = nbversion.Repo(jp_root_dir / "work" / ".nbversion")
    v1 = repo.commit({"w": np.zeros(3)}, model="clf", message="<img src=x onerror=alert(1)>", metrics={"acc": 0.5})
    v2 = repo.commit({"w": np.ones(3)}, model="clf", message="two")
    repo.tag("best", "v1")
    repo.close()
    return v1, v2


async def test_history_of_the_notebooks_repository(jp_fetch, project):
    v1, v2 = project
    reply = await jp_fetch("nbversion", "history", params={"path": "work/deep/train.ipynb"})
    data = json.loads(reply.body)
    assert data["protocol"] == 1
    assert [v["cid"] for v in data["versions"]] == [str(v2.cid), str(v1.cid)]
    assert data["versions"][1]["message"] == "<img src=x onerror=alert(1)>"  # data, to be shown as text
    assert data["models"]["clf"] == {"head": str(v2.cid), "branch": "main", "branches": {"main": str(v2.cid)}}
    assert data["tags"] == {"best": str(v1.cid)}


async def test_history_is_the_indexs_listing_and_the_version_route_has_the_rest(jp_fetch, project, jp_root_dir):
    v1, _ = project
    data = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb"})).body)
    with nbversion.Repo(jp_root_dir / "work" / ".nbversion") as repo:
        assert data["versions"] == [json.loads(item) for item in repo.log_json()]
    assert data["versions"][1]["tags"] == ["best"] and "context" not in data["versions"][1]
    detail = json.loads((await jp_fetch("nbversion", "version", params={"path": "work/a.ipynb", "cid": str(v1.cid)})).body)
    assert "context" in detail and detail["message"] == data["versions"][1]["message"]


async def test_polling_with_the_fingerprint_answers_unchanged_until_something_changes(jp_fetch, project, jp_root_dir):
    first = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb"})).body)
    since = first["fingerprint"]
    again = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb", "since": since})).body)
    assert again == {"protocol": 1, "unchanged": True, "fingerprint": since}
    repo = nbversion.Repo(jp_root_dir / "work" / ".nbversion")
    repo.tag("newer", "v2")  # a ref moved: the fingerprint changes
    repo.close()
    changed = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb", "since": since})).body)
    assert "unchanged" not in changed and changed["tags"]["newer"] and changed["fingerprint"] != since


async def test_a_folder_without_a_repository_has_an_empty_history(jp_fetch, project, jp_root_dir):
    (jp_root_dir / "elsewhere").mkdir()
    data = json.loads((await jp_fetch("nbversion", "history", params={"path": "elsewhere/a.ipynb"})).body)
    assert data["versions"] == [] and data["models"] == {}


async def test_version_details_and_errors(jp_fetch, project):
    v1, _ = project
    detail = json.loads((await jp_fetch("nbversion", "version", params={"path": "work/a.ipynb", "cid": str(v1.cid)})).body)
    assert detail["tensors"] == [{"name": "w", "dtype": "float64", "shape": [3], "size": 24, "cid": detail["tensors"][0]["cid"]}]
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbversion", "version", params={"path": "work/a.ipynb", "cid": "part4"})
    assert err.value.code == 404
    assert json.loads(err.value.response.body)["error"]["message"].startswith("Unknown ref 'part4'")


async def test_paths_outside_the_root_are_refused(jp_fetch, project):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbversion", "history", params={"path": "../../etc/passwd"})
    assert err.value.code == 400


async def test_requests_without_the_token_are_refused(jp_fetch, project, jp_base_url, http_server_client):
    with pytest.raises(HTTPClientError) as err:
        await http_server_client.fetch(f"{jp_base_url}nbversion/history?path=work/a.ipynb", headers={})
    assert err.value.code in (401, 403)


async def test_repository_work_runs_off_the_servers_event_loop(jp_fetch, project, monkeypatch):
    import asyncio
    import threading

    from nbversion import present

    release = threading.Event()
    real = present.history_json_text

    def slow(repo, *page):  # holds its request until another request has been served
        assert release.wait(10), "no other request was served while this one worked"
        return real(repo, *page)

    monkeypatch.setattr(present, "history_json_text", slow)
    pending = asyncio.ensure_future(jp_fetch("nbversion", "history", params={"path": "work/a.ipynb"}))
    await asyncio.sleep(0.2)
    status = await jp_fetch("api", "status")  # the event loop answers meanwhile
    assert status.code == 200
    release.set()
    assert json.loads((await pending).body)["versions"]


async def test_history_in_pages_newest_first_each_with_the_next_pages_cursor(jp_fetch, project, jp_root_dir):
    repo = nbversion.Repo(jp_root_dir / "work" / ".nbversion")
    v3 = repo.commit({"w": np.full(3, 2.0)}, model="clf", message="three")
    repo.close()
    whole = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb"})).body)
    assert "next" not in whole  # no limit: the whole history, as before
    first = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb", "limit": "2"})).body)
    assert [v["cid"] for v in first["versions"]] == [str(v3.cid), whole["versions"][1]["cid"]]
    assert first["next"] == "2" and first["fingerprint"] == whole["fingerprint"]
    assert first["models"] == whole["models"] and first["tags"] == whole["tags"]
    params = {"path": "work/a.ipynb", "limit": "2", "cursor": first["next"]}
    second = json.loads((await jp_fetch("nbversion", "history", params=params)).body)
    assert second["versions"] == whole["versions"][2:] and second["next"] is None
    assert first["versions"] + second["versions"] == whole["versions"]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "ten"}, {"limit": "5", "cursor": "-1"}])
async def test_a_page_size_or_cursor_that_is_not_a_whole_number_is_a_bad_request(jp_fetch, project, query):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbversion", "history", params={"path": "work/a.ipynb", **query})
    assert err.value.code == 400
    assert "must be a whole number" in json.loads(err.value.response.body)["error"]["message"]
