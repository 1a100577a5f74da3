"""Issue 9, findings 5, 6, 7 and 9: a tampered index, a full disk at open and export, a server that
must stay inside its root, and the smaller ones (masked arrays, ``log -n``, ``--repo``, files that
``checkout -o`` writes). Each test names the finding it reproduces; faults are real (bytes changed
in the real files, a real full tmpfs), never mocks.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError

import nbversion
from conftest import weights
from nbversion import cli
from nbversion.errors import (
    CorruptIndexError,
    DamagedIndexWarning,
    NbversionError,
    NbversionWarning,
    RepoNotFoundError,
    StoreFullError,
    TensorError,
)
from nbversion.formats import dagcbor
from test_integrity import small_disk, take_free_space


def nbv(capsys, *args: str) -> tuple:
    """``nbversion ARGS`` run in this process: (exit status, stdout, stderr). Any exception that
    is not turned into one line escapes and fails the test."""
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def three_versions(path: Path) -> list:
    """Three versions of model ``m`` (w = 0, 1, 2) in a closed repository at ``path``."""
    with nbversion.Repo(path) as repo:
        return [repo.commit({"w": np.full(8, float(i))}, model="m", message=f"v{i + 1}") for i in range(3)]


def set_row(path: Path, version_cid, **columns) -> None:
    """Change columns of a version's row in ``index.sqlite`` directly, as a tamperer would."""
    db = sqlite3.connect(path / "index.sqlite")
    with db:
        for column, value in columns.items():
            db.execute(f"UPDATE versions SET {column}=? WHERE cid=?", (value, str(version_cid)))
    db.close()


def row_block(path: Path, cid) -> bytes:
    db = sqlite3.connect(path / "index.sqlite")
    (block,) = db.execute("SELECT block FROM versions WHERE cid=?", (str(cid),)).fetchone()
    db.close()
    return block


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def drop_block(path: Path, cid) -> None:
    """Take a block out of the block store's own index (its bytes become unreachable)."""
    db = sqlite3.connect(path / "blocks" / "blocks.sqlite")
    with db:
        db.execute("DELETE FROM blocks WHERE cid=?", (bytes(cid),))
    db.close()


# -- finding 5: the index's copies of version blocks --------------------------------------------


def test_a_swapped_manifest_link_in_the_index_is_caught_and_load_returns_the_versions_own_tensors(tmp_path):
    path = tmp_path / ".nbversion"
    v1, v2, v3 = three_versions(path)
    forged = dagcbor.encode(replace(v3, manifest=v1.manifest).to_ipld())  # v3's row now says: v1's tensors
    set_row(path, v3.cid, block=forged)
    repo = nbversion.Repo(path)
    with pytest.warns(DamagedIndexWarning, match=f"{v3.cid}.*read from the block store"):
        assert np.array_equal(repo.load("v3")["w"], np.full(8, 2.0))
    with pytest.warns(DamagedIndexWarning):
        assert repo.show(v3.cid).manifest == v3.manifest
    report = repo.fsck()
    assert not report.ok
    assert report.problems == [
        f"index row m v3 ({v3.cid}): its copy of the version block does not match the CID; "
        "the block store holds an intact copy: `nbversion gc` rewrites it."
    ]
    with pytest.warns(NbversionWarning, match=f"Rewrote .* {v3.cid}"):
        assert repo.gc() == (0, 0)
    assert row_block(path, v3.cid) != forged and repo.fsck().ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [v.cid for v in repo.log()] == [v3.cid, v2.cid, v1.cid]
        assert np.array_equal(repo.load("v3")["w"], np.full(8, 2.0))
    repo.close()


def test_a_damaged_copy_with_no_intact_block_is_an_error_naming_the_version_and_listings_go_on(tmp_path, capsys):
    path = tmp_path / ".nbversion"
    v1, v2, v3 = three_versions(path)
    set_row(path, v2.cid, block=flip(row_block(path, v2.cid), 100))
    drop_block(path, v2.cid)
    repo = nbversion.Repo(path)
    with pytest.raises(CorruptIndexError, match=f"m v2 \\({v2.cid}\\) is damaged.*no intact copy"):
        repo.load(v2.cid)
    with pytest.warns(DamagedIndexWarning, match=f"{v2.cid}.*left out of this list"):
        assert [v.cid for v in repo.log()] == [v3.cid, v1.cid]
    blocks_before = sorted(map(str, repo.store.cids()))
    with pytest.raises(CorruptIndexError, match="gc removed nothing"):
        repo.gc()
    assert sorted(map(str, repo.store.cids())) == blocks_before
    repo.close()

    code, out, err = nbv(capsys, "--repo", path, "log", "--all", "--json")
    assert code == 0 and [v["cid"] for v in json.loads(out)] == [str(v3.cid), str(v1.cid)]
    assert err.startswith("nbversion: warning: ") and str(v2.cid) in err and len(err.splitlines()) == 1
    code, out, err = nbv(capsys, "--repo", path, "fsck", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and report["versions_checked"] == 3
    assert any(str(v2.cid) in p and "no intact copy" in p for p in report["problems"])
    code, out, err = nbv(capsys, "--repo", path, "show", str(v2.cid))
    assert code == 1 and err.startswith("nbversion: error: ") and len(err.splitlines()) == 1


def test_single_bit_flips_in_the_index_copies_never_abort_log_show_or_fsck(tmp_path, capsys):
    """Every flip is caught: listings stay complete (each copy is read from the block store), show
    gives the real version, fsck reports the row and exits 1, gc puts it right."""
    path = tmp_path / ".nbversion"
    versions = three_versions(path)
    tried = held = 0
    for version in versions:
        good = row_block(path, version.cid)
        for bit in range(3, len(good) * 8, 61):  # spread over every field of the record
            tried += 1
            set_row(path, version.cid, block=flip(good, bit))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DamagedIndexWarning)
                log_code, log_out, log_err = nbv(capsys, "--repo", path, "log", "--all", "--json")
                show_code, show_out, _ = nbv(capsys, "--repo", path, "show", version.cid, "--json")
                fsck_code, fsck_out, _ = nbv(capsys, "--repo", path, "fsck", "--json")
            listed = [v["cid"] for v in json.loads(log_out)]
            shown = json.loads(show_out)
            problems = json.loads(fsck_out)["problems"]
            held += (
                log_code == 0
                and listed == [str(v.cid) for v in reversed(versions)]
                and str(version.cid) in log_err
                and show_code == 0
                and shown["message"] == version.message
                and fsck_code == 1
                and len(problems) == 1
                and str(version.cid) in problems[0]
            )
            set_row(path, version.cid, block=good)
    assert tried >= 60 and held == tried, f"{held} of {tried} flips held"


def test_damaged_cid_name_and_number_columns_are_reported_not_fatal(tmp_path, capsys):
    path = tmp_path / ".nbversion"
    v1, v2, v3 = three_versions(path)
    set_row(path, v3.cid, name="n")  # the name column no longer says whose version it is
    code, out, err = nbv(capsys, "--repo", path, "fsck")
    assert code == 1 and f"index row n v3 ({v3.cid}): its name column says 'n' but the version is of 'm'" in out
    with pytest.warns(NbversionWarning, match="Rewrote"):
        nbversion.Repo(path).gc()
    assert nbv(capsys, "--repo", path, "fsck")[0] == 0
    set_row(path, v1.cid, seq="one")  # v1's number is lost: gc gives it the one the others leave free
    assert nbv(capsys, "--repo", path, "fsck")[0] == 1
    with pytest.warns(NbversionWarning, match="Rewrote"):
        nbversion.Repo(path).gc()
    assert nbv(capsys, "--repo", path, "fsck")[0] == 0 and nbversion.Repo(path).show("v1").cid == v1.cid
    bad_cid = str(v2.cid)[:-3] + "000"  # characters changed in the CID column: no longer a CID
    set_row(path, v2.cid, cid=bad_cid)
    set_row(path, v1.cid, seq="one")
    code, out, err = nbv(capsys, "--repo", path, "log", "--all", "--json")
    assert code == 0 and [v["cid"] for v in json.loads(out)] == [str(v3.cid), str(v1.cid)]
    assert "its CID is malformed" in err and "its sequence number is not a number" in err
    code, out, err = nbv(capsys, "--repo", path, "fsck", "--json")
    problems = json.loads(out)["problems"]
    assert code == 1 and any("its CID is malformed" in p and "no intact copy" in p for p in problems)
    assert any(p.startswith("index row m v'one'") for p in problems)


def test_random_damage_to_the_index_file_gives_a_report_or_one_line_never_a_traceback(tmp_path, capsys):
    path = tmp_path / ".nbversion"
    with nbversion.Repo(path) as repo:
        for i in range(12):
            repo.commit({"w": np.full(4, float(i))}, model="m", tag=f"t{i}")
    original = (path / "index.sqlite").read_bytes()
    rng = random.Random(9)
    tried, failures = 0, []
    for _ in range(40):
        damaged = bytearray(original)
        for _ in range(rng.choice([1, 1, 4, 32])):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        (path / "index.sqlite").write_bytes(bytes(damaged))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DamagedIndexWarning)
            for args in (["log", "--all"], ["log"], ["show", "t5"], ["fsck", "--json"]):
                tried += 1
                try:
                    code, out, err = nbv(capsys, "--repo", path, *args)
                    assert code in (0, 1) and all(line.startswith("nbversion: ") for line in err.splitlines()), err
                    assert args[0] != "fsck" or "ok" in json.loads(out)
                except Exception as exc:  # anything but a report or one line of ours is a finding
                    failures.append(f"{args}: {type(exc).__name__}: {exc}")
    (path / "index.sqlite").write_bytes(original)
    assert not failures, f"{len(failures)} of {tried} runs failed: {failures[:5]}"


# -- finding 6: a full disk when opening a repository, and at export ------------------------------


def test_a_full_disk_at_open_or_export_is_a_clear_error_and_loses_nothing(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    with small_disk(tmp_path / "disk", "4m") as disk:
        path = disk / ".nbversion"
        with nbversion.Repo(path) as repo:
            v1 = repo.commit(weights(1), model="m")
            v2 = repo.commit(weights(2), model="m")
            repo.tag("best", "v1")
            repo.export_car("m", outside / "m.car")
        filler = disk / "filler"
        tried, failures = 0, []
        for free in (0, 8 << 10, 40 << 10, 160 << 10, 600 << 10):
            take_free_space(filler)  # then give `free` bytes back
            if free:
                os.truncate(filler, max(0, filler.stat().st_size - free))
            operations = {
                "log": lambda r: r.log(),
                "history": lambda r: r.history("m"),
                "load": lambda r: r.load("m"),
                "fsck": lambda r: r.fsck(),
                "gc": lambda r: r.gc(),
                "tag": lambda r: r.tag(f"t{free}", "v2"),
                "commit": lambda r: r.commit(weights(3), model="m"),
                "import": lambda r: r.import_car(outside / "m.car"),
            }
            for name, operation in operations.items():
                tried += 1
                repo = nbversion.Repo(path)
                try:
                    operation(repo)
                except StoreFullError as exc:
                    if "full" not in str(exc) or "\n" in str(exc):
                        failures.append(f"{free} {name}: {exc}")
                finally:
                    repo.close()
            for args in (["log"], ["fsck"], ["export", "m", "-o", disk / "m.car"], ["checkout", "m", "-o", disk / "m.npz"]):
                tried += 1
                code, out, err = nbv(capsys, "--repo", path, *args)
                if code != 0 and not (code == 1 and err.startswith("nbversion: error: ") and "full" in err and len(err.splitlines()) == 1):
                    failures.append(f"{free} {args[0]}: {code} {err} {out}")
            filler.unlink()
            for leftover in (disk / "m.car", disk / "m.npz"):
                leftover.unlink(missing_ok=True)
        assert not failures, f"{len(failures)} of {tried} failed: {failures}"
        with nbversion.Repo(path) as repo:  # nothing was lost
            assert repo.fsck().ok
            assert repo.tags()["best"] == v1.cid
            for version in repo.log():
                assert repo.load(version.cid)["dense/bias"].shape == (32,)
            assert {v1.cid, v2.cid} <= {v.cid for v in repo.log()}


def test_no_free_inodes_is_a_full_disk_too(tmp_path):
    """Opening a repository creates SQLite's -wal and -shm files: with no inode left, that fails too."""
    with small_disk(tmp_path / "disk", "20m,nr_inodes=40") as disk:
        with nbversion.Repo(disk / ".nbversion") as repo:
            v1 = repo.commit({"w": np.arange(5.0)}, model="m")
        taken = []
        with pytest.raises(OSError):
            while True:
                taken.append(disk / f"f{len(taken)}")
                taken[-1].touch()
        for operation in (lambda r: r.log(), lambda r: r.load("m"), lambda r: r.commit({"w": np.ones(5)}, model="m")):
            with nbversion.Repo(disk / ".nbversion") as repo, pytest.raises(StoreFullError, match="is full"):
                operation(repo)
        with pytest.raises(StoreFullError, match="is full"):
            nbversion.Repo(disk / "new").commit({"w": np.ones(5)}, model="m")
        for path in taken[:-1]:
            path.unlink()
        with nbversion.Repo(disk / ".nbversion") as repo:
            assert repo.fsck().ok and [v.cid for v in repo.log()] == [v1.cid]


def test_export_car_to_a_full_disk_raises_store_full_error(tmp_path):
    with small_disk(tmp_path / "disk", "2m") as disk:
        repo = nbversion.Repo(tmp_path / ".nbversion")
        repo.commit({"w": np.random.default_rng(0).random(400_000)}, model="m")  # a 3.2 MB CAR
        with pytest.raises(StoreFullError, match="full") as err:
            repo.export_car("m", disk / "m.car")
        assert isinstance(err.value, OSError)
        assert list(disk.iterdir()) == []  # no partial file is left
        repo.close()


# -- finding 7: the server's root, and JSON errors from every route ------------------------------


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbversion": True}}}


@pytest.fixture
def no_env_repo(monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)


async def test_a_repository_above_the_server_root_is_not_served(jp_fetch, jp_root_dir, no_env_repo):
    above = nbversion.Repo(jp_root_dir.parent / ".nbversion")
    above.commit({"w": np.zeros(3)}, model="secret")
    above.close()
    data = json.loads((await jp_fetch("nbversion", "history", params={"path": "nb.ipynb"})).body)
    assert data["versions"] == [] and data["models"] == {}
    (jp_root_dir / "work").mkdir()
    (jp_root_dir / "work" / ".nbversion").symlink_to(jp_root_dir.parent / ".nbversion")  # a link out of the root
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbversion", "history", params={"path": "work/nb.ipynb"})
    assert err.value.code == 400
    assert "outside" in json.loads(err.value.response.body)["error"]["message"]


async def test_a_repository_inside_the_root_is_still_found_from_a_subfolder(jp_fetch, jp_root_dir, no_env_repo):
    inside = nbversion.Repo(jp_root_dir / ".nbversion")
    v1 = inside.commit({"w": np.zeros(3)}, model="clf")
    inside.close()
    (jp_root_dir / "a" / "b").mkdir(parents=True)
    data = json.loads((await jp_fetch("nbversion", "history", params={"path": "a/b/nb.ipynb"})).body)
    assert [v["cid"] for v in data["versions"]] == [str(v1.cid)]


async def test_a_corrupted_index_answers_a_clear_json_error(jp_fetch, jp_root_dir, no_env_repo):
    repo = nbversion.Repo(jp_root_dir / "work" / ".nbversion")
    v1 = repo.commit({"w": np.zeros(3)}, model="clf")
    repo.close()
    index = jp_root_dir / "work" / ".nbversion" / "index.sqlite"
    index.write_bytes(b"\x00garbage" * 4096)
    for route, params in (("history", {"path": "work/nb.ipynb"}), ("version", {"path": "work/nb.ipynb", "cid": str(v1.cid)})):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("nbversion", route, params=params)
        assert err.value.code == 500
        error = json.loads(err.value.response.body)["error"]
        assert error["type"] == "CorruptIndexError" and "is damaged" in error["message"]


async def test_a_damaged_index_row_is_read_from_the_block_store_by_the_server(jp_fetch, jp_root_dir, no_env_repo):
    path = jp_root_dir / "work" / ".nbversion"
    v1, v2, v3 = three_versions(path)
    set_row(path, v2.cid, block=flip(row_block(path, v2.cid), 42))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedIndexWarning)
        data = json.loads((await jp_fetch("nbversion", "history", params={"path": "work/nb.ipynb"})).body)
        detail = json.loads((await jp_fetch("nbversion", "version", params={"path": "work/nb.ipynb", "cid": str(v2.cid)})).body)
    assert [v["cid"] for v in data["versions"]] == [str(v3.cid), str(v2.cid), str(v1.cid)]
    assert detail["message"] == "v2"


async def test_a_missing_argument_answers_a_json_error(jp_fetch, jp_root_dir, no_env_repo):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbversion", "version", params={"path": "nb.ipynb"})
    assert err.value.code == 400
    assert json.loads(err.value.response.body)["error"]["message"] == "The request lacks the 'cid' argument."


# -- finding 9: the smaller ones ------------------------------------------------------------------


def test_a_masked_array_is_refused_with_a_tensor_error(repo):
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TensorError, match=r"'w' is a masked array.*\.filled\(.*\.data"):
        repo.commit({"w": masked}, model="m")
    assert repo.log() == []
    repo.commit({"w": masked.filled(0.0)}, model="m")
    assert np.array_equal(repo.load("m")["w"], [1.0, 0.0, 3.0])


@pytest.mark.parametrize("n", ["-1", "0", "two"])
def test_log_n_must_be_a_whole_number_of_at_least_one(tmp_path, capsys, n):
    three_versions(tmp_path / ".nbversion")
    with pytest.raises(SystemExit) as exit:
        cli.main(["--repo", str(tmp_path / ".nbversion"), "log", "-n", n])
    assert exit.value.code == 2 and "argument -n: " in capsys.readouterr().err
    code, out, _ = nbv(capsys, "--repo", tmp_path / ".nbversion", "log", "-n", "2", "--json")
    assert code == 0 and [v["message"] for v in json.loads(out)] == ["v3", "v2"]


def test_a_repo_option_that_names_no_repository_is_an_error_for_reading_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    code, out, err = nbv(capsys, "--repo", "/etc/passwd", "log")
    assert code == 1 and out == "" and err == "nbversion: error: /etc/passwd is a file, not a repository folder.\n"
    for command in (["fsck"], ["log"], ["gc"], ["show", "HEAD"], ["tag"]):
        code, out, err = nbv(capsys, "--repo", tmp_path / "nothing", *command)
        assert code == 1 and out == "" and err.startswith(f"nbversion: error: No nbversion repository at {tmp_path / 'nothing'}.")
    monkeypatch.setenv("NBVERSION_DIR", str(tmp_path / "nothing"))
    assert nbv(capsys, "fsck")[0] == 1
    monkeypatch.delenv("NBVERSION_DIR")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    code, out, err = nbv(capsys, "fsck")  # no repository here: not "healthy"
    assert code == 1 and "No nbversion repository" in err
    assert not (tmp_path / "nothing").exists() and not (tmp_path / "empty" / ".nbversion").exists()


def test_repo_option_and_nbversion_dir_accept_the_project_folder(tmp_path, capsys, monkeypatch):
    project = tmp_path / "project"
    v1, v2, v3 = three_versions(project / ".nbversion")
    code, out, _ = nbv(capsys, "--repo", project, "log", "--json")
    assert code == 0 and [v["cid"] for v in json.loads(out)] == [str(v3.cid), str(v2.cid), str(v1.cid)]
    monkeypatch.setenv("NBVERSION_DIR", str(project))
    monkeypatch.chdir(tmp_path)
    assert nbversion.Repo().path == project / ".nbversion"
    assert nbv(capsys, "fsck")[:2] == (0, nbv(capsys, "--repo", project / ".nbversion", "fsck")[1])
    assert nbversion.Repo(project).path == project / ".nbversion"
    with pytest.raises(RepoNotFoundError):
        nbversion.Repo(project / ".nbversion" / "index.sqlite")
    other = tmp_path / "fresh"  # a command that creates a repository may still name a new folder
    code, _, err = nbv(capsys, "--repo", other, "import", _car_of(project, tmp_path))
    assert code == 0, err
    assert (other / "index.sqlite").exists()


def _car_of(project: Path, tmp_path: Path) -> Path:
    with nbversion.Repo(project) as repo:
        repo.export_car("m", tmp_path / "m.car")
    return tmp_path / "m.car"


@pytest.mark.parametrize(
    "name", ["../../evil", "/etc/evil", "a/../../evil", "a/./b", "a//b", "a\\..\\b", "C:evil", "c:/evil", "a\x00b", "a\nb", ""]
)
def test_npz_member_names_never_leave_the_archive(name):
    with pytest.raises(NbversionError, match="cannot name a file inside an .npz"):
        cli.npz_member(name)


@pytest.mark.parametrize("name", ["dense/kernel", "layer1.0.conv1.weight", "dense/kernel#2", "bias:0", "a b/..c", "名前"])
def test_npz_member_names_of_real_tensors_are_kept(name):
    assert cli.npz_member(name) == name + ".npy"


def test_checkout_to_npz_never_writes_a_member_or_file_outside_the_target(tmp_path, capsys, monkeypatch):
    """With every name check before the writer switched off (as if a manifest had slipped
    through), the .npz writer still refuses, and nothing is written anywhere."""
    from nbversion.formats import records

    monkeypatch.setattr(records, "tensor_name_problem", lambda name: None)
    path = tmp_path / "deep" / "er" / ".nbversion"
    with nbversion.Repo(path) as repo:
        repo.commit({"../../evil": np.ones(3), "ok": np.zeros(2)}, model="m")
    out = tmp_path / "deep" / "er" / "out" / "w.npz"
    out.parent.mkdir()
    code, stdout, err = nbv(capsys, "--repo", path, "checkout", "m", "-o", out)
    assert code == 1 and "'../../evil' cannot name a file inside an .npz" in err
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert not [p for p in tmp_path.rglob("*") if "evil" in p.name]


def test_checkout_to_npz_keeps_tensors_named_like_numpys_own_arguments(tmp_path, capsys):
    tensors = {"file": np.arange(3.0), "allow_pickle": np.ones(2, np.int8), "dense/kernel": np.eye(2, dtype=np.float32)}
    with nbversion.Repo(tmp_path / ".nbversion") as repo:
        repo.commit(tensors, model="m")
    out = tmp_path / "w.npz"
    code, _, err = nbv(capsys, "--repo", tmp_path / ".nbversion", "checkout", "m", "-o", out)
    assert code == 0, err
    assert sorted(zipfile.ZipFile(out).namelist()) == ["allow_pickle.npy", "dense/kernel.npy", "file.npy"]
    with np.load(out, allow_pickle=False) as data:
        loaded = dict(data)
    assert sorted(loaded) == sorted(tensors)
    for name, value in tensors.items():
        assert loaded[name].dtype == value.dtype and np.array_equal(loaded[name], value)


@pytest.mark.parametrize("name", ["../../evil", "/abs", "a//b", "a/./b", "a\\b", "a\x00b", "tab\there", ""])
def test_local_tensor_names_follow_the_rule_manifests_are_held_to(repo, name):
    with pytest.raises(TensorError, match="is not allowed"):
        repo.commit({name: np.ones(2)}, model="m")
    assert repo.log() == []
