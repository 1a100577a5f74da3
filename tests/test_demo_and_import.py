"""Issue 10, points 4 and 9: the demo a newcomer runs first, and moving a model after an import.

The demo is run as the README's Try-it command runs it: through a console script in a folder's
``.venv/bin`` that is not on PATH, and its closing hints are then typed into a shell as printed.
An import of a newer version of a model says that the model did not move, and how to move it;
``nbversion checkout REF`` (no ``-o``) moves it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import nbversion
from conftest import run_cli, weights

HEADINGS = ["Commit three versions", "History", "Diff v1 -> v3", "Restore v1", "Export", "Check"]


def path_without_nbversion() -> str:
    """This PATH less every folder holding an ``nbversion`` command, as on a fresh machine."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not os.path.exists(os.path.join(d, "nbversion")))


def console_script(project: Path) -> Path:
    """``project/.venv/bin/nbversion``, written as pip writes a console script."""
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "nbversion"
    script.write_text(
        f"#!{sys.executable}\nimport re, sys\nfrom nbversion.cli import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    script.chmod(0o755)
    return script


def shell(command: str, cwd: Path, path: Optional[str] = None) -> subprocess.CompletedProcess:
    """``command`` typed into a shell in ``cwd`` (PATH with no nbversion on it unless given)."""
    env = {k: v for k, v in os.environ.items() if k != "NBVERSION_DIR"}
    env["PATH"] = path if path is not None else path_without_nbversion()
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def hints(stdout: str) -> List[str]:
    """The commands the demo closes with, one a line after "Next, try:"."""
    tail = stdout.split("Next, try:", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.strip()]


def demo(project: Path) -> subprocess.CompletedProcess:
    out = shell(".venv/bin/nbversion demo", project)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh folder with nbversion installed in its ``.venv/bin``, which is not on PATH."""
    console_script(tmp_path)
    return tmp_path


# -- point 4: the demo -----------------------------------------------------------------------------


def test_the_demos_hints_work_as_typed_where_the_readme_runs_it(project):
    out = demo(project)
    typed = hints(out.stdout)
    assert typed and all(h.startswith(".venv/bin/nbversion ") for h in typed), typed
    assert ".venv/bin/nbversion show demo~1" in typed
    for command in typed:
        ran = shell(command, project)
        assert ran.returncode == 0, (command, ran.stderr)
    shown = shell(".venv/bin/nbversion show demo~1", project).stdout
    assert "v2" in shown and "trained on part 2" in shown


def test_the_demos_hints_use_the_bare_name_where_path_finds_it(project):
    path = os.pathsep.join([str(project / ".venv" / "bin"), path_without_nbversion()])
    out = shell("nbversion demo", project, path=path)
    assert out.returncode == 0, out.stderr
    assert "nbversion show demo~1" in hints(out.stdout)


def test_the_demo_leaves_no_car_file_behind(project):
    before = set(os.listdir(project))
    out = demo(project)
    assert set(os.listdir(project)) - before == {".nbversion"}
    assert not list(project.rglob("*.car"))
    assert "temporary" in out.stdout  # it says where the CAR went


def test_the_demos_sections_have_headings_in_order(project):
    stdout = demo(project).stdout
    places = [stdout.find(f"== {title} ==") for title in HEADINGS]
    assert -1 not in places, stdout
    assert places == sorted(places)


def test_the_demos_diff_names_the_versions_it_compares(project):
    stdout = demo(project).stdout
    section = stdout.split("== Diff v1 -> v3 ==", 1)[1].split("==", 1)[0]
    with nbversion.Repo(project / ".nbversion") as repo:
        v1, v3 = repo.show("v1", "demo"), repo.show("v3", "demo")
    assert "v1" in section and "v3" in section and v1.short in section and v3.short in section


def logged_metrics(project: Path, model: str) -> Dict[str, str]:
    """``{label: acc}`` as ``nbversion log MODEL`` prints it (acc, the only metric, is the last column)."""
    out = shell(f".venv/bin/nbversion log {model}", project).stdout.splitlines()
    assert out[0].split()[-1] == "acc"
    return {line.split()[1]: line.split()[-1] for line in out[1:]}


def test_the_demo_shows_metrics_as_the_log_does(project):
    stdout = demo(project).stdout
    committed = dict(re.findall(r"committed demo (v\d+) .*?acc=(\S+)", stdout))
    assert len(committed) == 3
    assert committed == logged_metrics(project, "demo")
    restored = re.search(r"restored v1: accuracy (\S+) \(recorded (\S+)\)", stdout)
    assert restored and restored.group(1) == restored.group(2) == committed["v1"]


def test_a_second_demo_tours_its_own_fresh_versions(project):
    demo(project)
    again = demo(project).stdout
    assert "restored v1" in again and "restored v4" not in again and "Diff v1 -> v3" in again
    assert "demo-2" in again and ".venv/bin/nbversion show demo-2~1" in hints(again)
    history = again.split("== History ==", 1)[1].split("== Diff", 1)[0]
    assert len([line for line in history.splitlines() if line.startswith("demo-2 ")]) == 3
    with nbversion.Repo(project / ".nbversion") as repo:
        assert len(repo.log("demo")) == 3 and len(repo.log("demo-2")) == 3
    assert shell(".venv/bin/nbversion show demo-2~1", project).returncode == 0


# -- point 9: an import does not move an existing model; checkout does ----------------------------


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A project whose clf (v1) was imported from ``origin``, where clf has since reached v2, exported
    to ``tmp_path/v2.car``."""
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    with nbversion.Repo(origin / ".nbversion") as repo:
        repo.commit(weights(1), model="clf", message="first")
        repo.export_car("clf", tmp_path / "v1.car")
        repo.commit(weights(2), model="clf", message="second")
        repo.export_car("clf", tmp_path / "v2.car")
    with nbversion.Repo(clone / ".nbversion") as repo:
        repo.import_car(tmp_path / "v1.car")
    return clone


def head_label(project: Path, model: str) -> str:
    with nbversion.Repo(project / ".nbversion") as repo:
        return repo.show(model).label


def test_importing_a_newer_version_says_the_model_did_not_move_and_how_to_move_it(clone):
    out = run_cli("import", str(clone.parent / "v2.car"), cwd=clone)
    assert out.returncode == 0, out.stderr
    assert "Imported clf v2" in out.stdout
    note = [line for line in out.stdout.splitlines() if "did not move" in line]
    assert len(note) == 1 and "still at v1" in note[0] and "on branch main" in note[0]
    assert head_label(clone, "clf") == "v1"
    command = note[0].rsplit(": ", 1)[1].strip()
    assert command.endswith("checkout v2 --model clf")
    moved = shell(command, clone, path=os.environ.get("PATH", ""))
    assert moved.returncode == 0, moved.stderr
    assert head_label(clone, "clf") == "v2"
    log = run_cli("log", "clf", cwd=clone).stdout.splitlines()
    assert log[1].split()[1] == "v2"


def test_importing_a_new_model_or_nothing_new_adds_no_note(clone):
    fresh = clone.parent / "fresh"
    out = run_cli("--repo", str(fresh), "import", str(clone.parent / "v2.car"))
    assert out.returncode == 0 and "did not move" not in out.stdout  # its head is the import
    again = run_cli("--repo", str(fresh), "import", str(clone.parent / "v2.car"))
    assert "Nothing new" in again.stdout and "did not move" not in again.stdout


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    with nbversion.Repo(tmp_path / ".nbversion") as repo:
        repo.commit(weights(1), model="clf", message="first")
        repo.commit(weights(2), model="clf", message="second")
    return tmp_path


def test_checkout_without_a_file_moves_the_models_head(two_versions):
    out = run_cli("checkout", "v1", "--model", "clf", cwd=two_versions)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("clf is now at v1 (") and "detached" in out.stdout
    assert head_label(two_versions, "clf") == "v1"
    back = run_cli("checkout", "clf/main", cwd=two_versions)
    assert back.returncode == 0 and "clf is now at v2" in back.stdout and "on branch main" in back.stdout
    assert head_label(two_versions, "clf") == "v2"


def test_checkout_with_a_file_writes_it_and_moves_nothing(two_versions):
    out = run_cli("checkout", "v1", "--model", "clf", "-o", "w.npz", cwd=two_versions)
    assert out.returncode == 0 and (two_versions / "w.npz").is_file()
    assert head_label(two_versions, "clf") == "v2"


def test_checkout_of_an_unknown_ref_is_one_line_and_moves_nothing(two_versions):
    out = run_cli("checkout", "v9", "--model", "clf", cwd=two_versions)
    assert out.returncode == 1 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert head_label(two_versions, "clf") == "v2"


def test_the_import_note_keeps_the_repo_the_user_named(clone, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run_cli("--repo", str(clone), "import", str(clone.parent / "v2.car"), cwd=elsewhere)
    note = next(line for line in out.stdout.splitlines() if "did not move" in line)
    command = note.rsplit(": ", 1)[1].strip()
    assert f"--repo {clone}" in command
    assert shell(command, elsewhere, path=os.environ.get("PATH", "")).returncode == 0
    assert head_label(clone, "clf") == "v2"
