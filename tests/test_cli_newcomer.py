"""A newcomer's first hour with the `nbversion` command (issue 10, points 5, 6 and 10): every
mistake a user makes on the command line gets one line in the command line's own words, never a
traceback, and a pipe closed early ends the command quietly, as git's does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nbversion
from conftest import run_cli, weights
from nbversion.repo import file_cid


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder whose .nbversion holds two models (clf: v1, v2; reg: v1)."""
    with nbversion.Repo(tmp_path / ".nbversion") as repo:
        for seed in range(2):
            repo.commit(weights(seed), model="clf", message=f"clf {seed}")
        repo.commit(weights(9), model="reg", message="reg")
        repo.tag("best", "v1", model="clf")
    return tmp_path


def one_line_error(out: subprocess.CompletedProcess) -> str:
    """The single `nbversion: error:` line a failed command prints (and no traceback)."""
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbversion: error: "), out.stderr
    return lines[0]


# point 5: one line, not a traceback


def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly(project):
    read, write = os.pipe()
    os.close(read)  # `| head` that has already read what it wanted and gone
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nbversion.cli", "log", "--all"],
            cwd=project,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 141  # what git's status is when its reader goes (128 + SIGPIPE)


def test_piping_into_head_prints_the_first_lines_and_no_error(project):
    shell = f"{sys.executable} -m nbversion.cli log --all | head -1; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(["bash", "-c", shell], cwd=project, capture_output=True, text=True, timeout=600)
    assert proc.stdout.startswith("model") and proc.stderr == ""
    assert proc.returncode in (0, 141)


def test_import_of_a_missing_file_or_a_folder_says_so(project):
    line = one_line_error(run_cli("import", "nowhere.car", cwd=project))
    assert "nowhere.car" in line and "no such file" in line.lower()
    line = one_line_error(run_cli("import", str(project), cwd=project))
    assert str(project) in line and "folder" in line


@pytest.mark.parametrize("command", ["export", "checkout"])
def test_writing_into_a_missing_folder_names_the_users_path(project, command):
    target = "nodir/out.car" if command == "export" else "nodir/out.npz"
    line = one_line_error(run_cli(command, "clf", "-o", target, cwd=project))
    assert target in line and "nodir" in line and ".partial" not in line
    assert not (project / "nodir").exists()


@pytest.mark.parametrize("command", ["export", "checkout"])
def test_writing_onto_a_folder_says_it_is_a_folder(project, command):
    (project / "out.npz").mkdir()
    target = "out.npz"
    line = one_line_error(run_cli(command, "clf", "-o", target, cwd=project))
    assert "out.npz" in line and "folder" in line and ".partial" not in line


# point 10: the command line's words


def test_a_ref_needing_a_model_names_the_model_flag(project):
    line = one_line_error(run_cli("show", "HEAD", cwd=project))
    assert "--model" in line


def test_moving_a_tag_names_the_force_flag(project):
    line = one_line_error(run_cli("tag", "best", "v2", "--model", "clf", cwd=project))
    assert "--force on the command line" in line


def test_hash_prints_every_good_file_and_one_line_for_a_missing_one(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    out = run_cli("hash", "a", "missing", "b", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert [line.split()[1] for line in out.stdout.splitlines()] == ["a", "b"]
    assert out.stdout.split()[0] == str(file_cid(tmp_path / "a"))
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 1 and "missing" in errors[0] and "no such file" in errors[0].lower()


def test_version_flag_prints_the_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"nbversion {nbversion.__version__}"


# point 6: where the repository is (or is not)


def test_show_with_no_repository_says_where_it_looked_and_how_to_name_one(tmp_path):
    line = one_line_error(run_cli("show", "HEAD", cwd=tmp_path))
    assert "No nbversion repository" in line and str(tmp_path) in line
    assert "--repo" in line and "NBVERSION_DIR" in line


def test_cat_with_no_repository_creates_nothing(tmp_path):
    out = run_cli("cat", str(file_cid(__file__)), cwd=tmp_path)
    one_line_error(out)
    assert list(tmp_path.iterdir()) == []


def test_log_with_no_repository_still_invites_a_first_commit(tmp_path):
    out = run_cli("log", cwd=tmp_path)
    assert out.returncode == 0 and "No versions yet" in out.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["--repo", "NBVERSION_DIR"])
@pytest.mark.parametrize("where", ["project", "repo", "file", "missing"])
def test_a_named_repository_may_be_the_project_folder_and_anything_else_is_refused(
    project, tmp_path_factory, how, where
):
    path = {
        "project": project,
        "repo": project / ".nbversion",
        "file": Path("/etc/passwd"),
        "missing": project / "nowhere",
    }[where]
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no repository here or above
    if how == "--repo":
        out = run_cli("--repo", str(path), "log", "clf", cwd=elsewhere)
    else:
        out = run_cli("log", "clf", cwd=elsewhere, env={**os.environ, "NBVERSION_DIR": str(path)})
    if where in ("project", "repo"):
        assert out.returncode == 0 and "clf 1" in out.stdout
    else:
        assert str(path) in one_line_error(out)
