"""Integrity: hash-checked reads, fsck, crash safety, concurrent writers, a full disk."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import nbversion
from conftest import weights
from nbversion.errors import CorruptBlockError, StoreFullError


def block_location(repo: nbversion.Repo, cid) -> tuple:
    pack, offset, length = repo.store.db.execute(
        "SELECT pack, offset, length FROM blocks WHERE cid=?", (bytes(cid),)
    ).fetchone()
    return repo.store.packs / pack, offset, length


def flip_byte(repo: nbversion.Repo, cid, at: int = 0) -> None:
    path, offset, _ = block_location(repo, cid)
    with open(path, "r+b") as f:
        f.seek(offset + at)
        byte = f.read(1)
        f.seek(offset + at)
        f.write(bytes([byte[0] ^ 0xFF]))


def leaf_of(repo, version, tensor="embed/table"):
    from nbversion.formats.unixfs import file_leaves

    entry = repo.manifest(version).by_name()[tensor]
    return file_leaves(entry.data, repo.store.get, repo.store.size)[0][0]


@pytest.mark.parametrize("mode", ["checksum", "sha256"])
def test_corrupt_block_is_detected_on_read(tmp_path, mode):
    repo = nbversion.Repo(tmp_path / "r", verify=mode)
    v = repo.commit(weights(), model="m")
    flip_byte(repo, leaf_of(repo, v), at=1000)
    with pytest.raises(CorruptBlockError, match="nbversion fsck"):
        repo.load(v.cid)
    assert repo.load(v.cid, names=["dense/bias"])["dense/bias"].shape == (32,)  # other tensors still load


def test_fsck_names_corrupt_and_missing_blocks_and_the_versions_using_them(repo):
    v1 = repo.commit(weights(1), model="m")
    w2 = dict(weights(1), **{"dense/kernel": weights(2)["dense/kernel"]})
    v2 = repo.commit(w2, model="m")  # shares embed/table with v1
    assert repo.fsck().ok
    shared = leaf_of(repo, v1)
    flip_byte(repo, shared)
    lost = repo.manifest(v2).by_name()["dense/kernel"].data
    repo.store.db.execute("DELETE FROM blocks WHERE cid=?", (bytes(lost),))
    report = repo.fsck()
    assert not report.ok
    assert list(report.corrupt) == [shared]
    assert sorted(report.corrupt[shared]) == sorted([f"m v1 ({v1.cid})", f"m v2 ({v2.cid})"])
    assert report.missing == {lost: [f"m v2 ({v2.cid})"]}


def test_truncated_pack_is_reported_not_crashed_on(repo):
    v = repo.commit(weights(), model="m")
    path, offset, length = block_location(repo, leaf_of(repo, v))
    os.truncate(path, offset + 10)
    report = repo.fsck()
    assert not report.ok and report.missing
    with pytest.raises(nbversion.NbversionError):
        repo.load(v.cid)


WRITER = textwrap.dedent(
    """
    import sys, numpy as np, nbversion
    repo = nbversion.Repo(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    for i in range(int(sys.argv[3])):
        w = {"a": rng.random(int(sys.argv[4]), dtype=np.float32), "b": np.full(1000, i, np.float32)}
        v = repo.commit(w, model="m", message=f"{sys.argv[2]}-{i}")
        print(v.cid, flush=True)
    """
)


def test_two_processes_committing_at_once_both_succeed_with_no_lost_version(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "r"), str(seed), "6", "300000"], stdout=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    repo = nbversion.Repo(tmp_path / "r")
    history = repo.history("m")
    assert len(history) == 12
    assert {str(v.cid) for v in history} == set(outputs[0]) | set(outputs[1])
    assert sorted(v.seq for v in history) == list(range(1, 13))
    assert all(v.parents == (older.cid,) for v, older in zip(history, history[1:]))
    assert repo.fsck().ok


def test_commit_killed_at_any_point_leaves_a_valid_repository(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "r"
    committed: list = []
    for attempt, delay in enumerate([0.0, 0.05, 0.1, 0.15, 0.25, 0.4]):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), str(attempt + 10), "50", "2000000"], stdout=subprocess.PIPE, text=True
        )
        committed.append(proc.stdout.readline().strip())  # let one commit land, then kill mid-way
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        repo = nbversion.Repo(path)
        report = repo.fsck()
        assert report.ok, report
        cids = {str(v.cid) for v in repo.log()}
        assert set(committed) <= cids
        for version in repo.log():
            assert repo.load(version.cid)["b"].shape == (1000,)
        head_branch, head = repo.head("m")
        assert str(head) in cids
        repo.close()
    repo = nbversion.Repo(path)
    removed, freed = repo.gc()
    assert repo.fsck().ok and all(repo.load(c) for c in committed)


@contextlib.contextmanager
def small_disk(where: Path, size: str):
    """A real, small filesystem (tmpfs) at ``where``; the test is skipped where mounting needs root."""
    where.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if result.returncode != 0:
        pytest.skip("mounting a tmpfs needs root; test_file_size_limit_... covers the same path")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)])


def take_free_space(filler: Path) -> None:
    """Write zeros into ``filler`` until its filesystem has no free byte left."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_disk_full_is_a_clear_error_and_loses_nothing(tmp_path):
    with small_disk(tmp_path / "small-disk", "6m") as disk:
        repo = nbversion.Repo(disk / ".nbversion")
        small = {"w": np.arange(1000, dtype=np.float32)}
        v1 = repo.commit(small, model="m")
        with pytest.raises(StoreFullError, match="disk .* is full; nothing was committed") as err:
            repo.commit({"w": np.random.rand(2_000_000).astype(np.float32)}, model="m")
        assert isinstance(err.value, OSError)
        assert [v.cid for v in repo.log()] == [v1.cid]
        assert repo.fsck().ok
        assert np.array_equal(repo.load("m")["w"], small["w"])
        v2 = repo.commit({"w": np.ones(1000, np.float32)}, model="m")  # the failed bytes were given back
        assert v2.parents == (v1.cid,)
        repo.close()


def test_a_completely_full_disk_fails_cleanly_whichever_write_hits_it(tmp_path):
    """A tiny commit on a full disk may fit in the pack's last page and fail in SQLite instead."""
    with small_disk(tmp_path / "full-disk", "4m") as disk:
        repo = nbversion.Repo(disk / ".nbversion")
        v1 = repo.commit({"w": np.arange(5, dtype=np.float32)}, model="m")
        take_free_space(disk / "filler")
        failures = 0
        for i in range(5):
            try:
                repo.commit({"w": np.full(5, i, dtype=np.float32)}, model="m")
            except StoreFullError as exc:
                assert "full" in str(exc) and "nothing was committed" in str(exc)
                failures += 1
        assert failures >= 1
        (disk / "filler").unlink()
        assert repo.fsck().ok
        assert all(repo.load(v.cid)["w"].shape == (5,) for v in repo.log())
        assert repo.log()[-1].cid == v1.cid
        assert repo.commit({"w": np.ones(5, np.float32)}, model="m").seq == len(repo.log())
        repo.close()


def test_file_size_limit_is_reported_like_a_full_disk(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes (EFBIG) without root."""
    script = textwrap.dedent(
        """
        import resource, signal, sys, numpy as np, nbversion
        from nbversion.errors import StoreFullError
        repo = nbversion.Repo(sys.argv[1])
        v1 = repo.commit({"w": np.arange(10, dtype=np.float32)}, model="m")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, resource.RLIM_INFINITY))
        try:
            repo.commit({"w": np.random.rand(4_000_000).astype(np.float32)}, model="m")
        except StoreFullError as exc:
            print("refused:", exc)
        print("versions:", len(repo.log()))
        """
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "r")], capture_output=True, text=True)
    assert "refused: " in out.stdout and "nothing was committed" in out.stdout, out.stderr
    assert "versions: 1" in out.stdout
    assert nbversion.Repo(tmp_path / "r").fsck().ok


def test_only_a_full_disk_is_reported_as_one(tmp_path):
    import sqlite3

    from nbversion.stores.sqlite import connect, is_disk_full, transaction

    db = connect(tmp_path / "x.sqlite", "CREATE TABLE IF NOT EXISTS t (a);")
    with pytest.raises(sqlite3.OperationalError) as err:  # an error whose text says "full", on a roomy disk
        with transaction(db):
            db.execute("SELECT * FROM full_disk_table")
    assert not isinstance(err.value, StoreFullError) and not is_disk_full(err.value)
