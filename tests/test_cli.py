"""The `nbversion` command, run as a user runs it (a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nbversion
from conftest import pattern, run_cli, weights

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "unixfs_cids.json").read_text())["vectors"]


@pytest.fixture
def filled(tmp_path):
    repo = nbversion.Repo(tmp_path / ".nbversion")
    v1 = repo.commit(weights(1), model="clf", message="first", metrics={"acc": 0.9})
    v2 = repo.commit(weights(2), model="clf", message="second", metrics={"acc": 0.95})
    repo.tag("part1", "v1")
    repo.close()
    return tmp_path, v1, v2


def cli(tmp_path, *args):
    return run_cli("--repo", str(tmp_path / ".nbversion"), *args)


def test_help_is_everywhere():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ["log", "show", "diff", "tag", "export", "import", "hash", "cat", "fsck", "gc", "checkout", "remote", "push", "pull"]:
        assert command in out.stdout
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "usage: nbversion " + command in sub.stdout


def test_log_as_table_and_json(filled):
    tmp_path, v1, v2 = filled
    out = cli(tmp_path, "log", "clf")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["model", "version", "cid", "time", "(UTC)", "message", "tags", "acc"]
    assert "v2" in lines[1] and "second" in lines[1] and "0.95" in lines[1]
    assert "part1" in lines[2]
    data = json.loads(cli(tmp_path, "log", "--json").stdout)
    assert [d["cid"] for d in data] == [str(v2.cid), str(v1.cid)]
    assert data[1]["tags"] == ["part1"] and data[0]["parents"] == [str(v1.cid)]


def test_show_and_diff(filled):
    tmp_path, v1, v2 = filled
    shown = json.loads(cli(tmp_path, "show", "part1", "--json").stdout)
    assert shown["cid"] == str(v1.cid) and shown["metrics"] == {"acc": 0.9}
    assert {t["name"] for t in shown["tensors"]} == {"dense/kernel", "dense/bias", "embed/table"}
    text = cli(tmp_path, "show", "clf~1").stdout
    assert "first" in text and "embed/table" in text
    diff = {d["name"]: d for d in json.loads(cli(tmp_path, "diff", "v1", "v2", "--json").stdout)}
    assert diff["dense/bias"]["status"] == "unchanged" and diff["dense/kernel"]["status"] == "changed"
    assert diff["dense/kernel"]["l2"] > 0


def test_tag_commands(filled):
    tmp_path, v1, v2 = filled
    assert cli(tmp_path, "tag", "best", "v2").returncode == 0
    assert json.loads(cli(tmp_path, "tag", "--json").stdout) == {"best": str(v2.cid), "part1": str(v1.cid)}
    assert cli(tmp_path, "tag", "-d", "best").returncode == 0
    assert "best" not in cli(tmp_path, "tag").stdout


def test_errors_are_one_clear_line(filled):
    tmp_path, _, _ = filled
    out = cli(tmp_path, "show", "part4")
    assert out.returncode == 1
    assert out.stderr.strip() == "nbversion: error: Unknown ref 'part4'. Known tags: part1. See `nbversion log`."
    out = cli(tmp_path, "checkout", "v1", "-o", str(tmp_path / "w.pkl"))
    assert out.returncode == 1 and ".npz or .safetensors" in out.stderr


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["size"] < 50_000_000], ids=lambda v: str(v["size"]))
def test_hash_prints_kubos_cid_for_each_file(tmp_path, vector):
    path = tmp_path / "payload.bin"
    path.write_bytes(pattern(vector["size"]).tobytes())
    out = run_cli("hash", str(path))
    assert out.stdout == f"{vector['cid']}  {path}\n"


def test_export_import_cat_round_trip(filled):
    tmp_path, v1, v2 = filled
    car = tmp_path / "clf.car"
    assert cli(tmp_path, "export", "clf", "-o", str(car)).returncode == 0
    other = tmp_path / "other"
    out = run_cli("--repo", str(other), "import", str(car))
    assert out.returncode == 0 and "Imported clf v1" in out.stdout and "Imported clf v2" in out.stdout
    repo = nbversion.Repo(other)
    entry = repo.manifest("v2").by_name()["embed/table"]
    raw = subprocess.run(
        [sys.executable, "-m", "nbversion.cli", "--repo", str(other), "cat", str(entry.data)], capture_output=True
    ).stdout
    assert raw == repo.load("v2")["embed/table"].tobytes()


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_checkout_writes_npz_or_safetensors(filled, suffix):
    tmp_path, v1, _ = filled
    out_file = tmp_path / f"w{suffix}"
    assert cli(tmp_path, "checkout", "part1", "-o", str(out_file)).returncode == 0
    if suffix == ".npz":
        with np.load(out_file, allow_pickle=False) as data:
            loaded = dict(data)
    else:
        from safetensors.numpy import load_file

        loaded = load_file(str(out_file))
    expected = weights(1)
    assert sorted(loaded) == sorted(expected)
    for name in expected:
        assert np.array_equal(loaded[name], expected[name])


def test_fsck_and_gc(filled):
    tmp_path, v1, _ = filled
    out = json.loads(cli(tmp_path, "fsck", "--json").stdout)
    assert out["ok"] and out["versions_checked"] == 2
    assert "Removed 0 unused blocks" in cli(tmp_path, "gc").stdout
    repo = nbversion.Repo(tmp_path / ".nbversion")
    leaf = repo.manifest("v1").by_name()["dense/kernel"].data
    pack, offset = repo.store.db.execute("SELECT pack, offset FROM blocks WHERE cid=?", (bytes(leaf),)).fetchone()
    with open(repo.store.packs / pack, "r+b") as f:
        f.seek(offset)
        f.write(b"\x00\x01\x02")
    out = cli(tmp_path, "fsck")
    assert out.returncode == 1
    assert f"corrupt block {leaf}: used by clf v1 ({v1.cid})" in out.stdout


def test_demo_runs_on_the_embedded_store(tmp_path):
    env = dict(os.environ)
    env.pop("NBVERSION_DIR", None)
    out = run_cli("demo", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "restored v1" in out.stdout and "Repository is healthy." in out.stdout
    assert len(nbversion.Repo(tmp_path / ".nbversion").log("demo")) == 3


def test_progress_bar_is_drawn_only_on_a_terminal(tmp_path):
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    repo = nbversion.Repo(tmp_path / ".nbversion")
    repo.commit({"w": np.random.rand(3_000_000)}, model="m")
    repo.close()
    args = [sys.executable, "-m", "nbversion.cli", "--repo", str(tmp_path / ".nbversion"), "export", "m", "-o"]
    plain = subprocess.run(args + [str(tmp_path / "a.car")], capture_output=True, text=True)
    assert plain.returncode == 0 and plain.stderr == ""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    proc = subprocess.run(args + [str(tmp_path / "b.car")], stdout=subprocess.PIPE, stderr=follower)
    drawn = os.read(leader, 65536).decode(errors="replace") if select.select([leader], [], [], 5)[0] else ""
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 0 and "export" in drawn and "B/s" in drawn
