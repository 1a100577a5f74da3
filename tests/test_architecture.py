"""The architecture's boundaries, as import-linter contracts in pyproject.toml: they hold for the
code as it is, and a deliberate violation of each kind breaks the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(project))  # the copy under test, not the installed package
    return subprocess.run([str(LINT), "--no-cache"], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_the_code_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


VIOLATIONS = {
    "formats reach up into the repository": ("formats/names.py", "from ..repo import Repo"),
    "a store imports the repository": ("stores/pack.py", "from ..repo.index import Index"),
    "the repository imports IPython": ("repo/read.py", "import IPython"),
    "the repository imports Keras": ("repo/commit.py", "import keras"),
    "an adapter imports a store": ("adapters/numpy.py", "from ..stores.pack import PackStore"),
    "a magic reaches into the pack store": ("jupyter/magics.py", "from ..stores.pack import PackStore"),
    "the CLI reaches into a verb module": ("cli.py", "from .repo.refs import resolve"),
    "the CLI imports a Jupyter surface": ("cli.py", "from .jupyter import session"),
}


@pytest.mark.parametrize("module, line", VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_a_deliberate_violation_breaks_a_contract(tmp_path, module, line):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "nbversion", tmp_path / "nbversion", ignore=shutil.ignore_patterns("labextension", "__pycache__"))
    target = tmp_path / "nbversion" / module
    target.write_text(target.read_text() + f"\n{line}  # a deliberate violation\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


def test_importing_the_core_loads_no_notebook_or_framework_package():
    """What the contracts cannot see (imports by name at run time): a fresh process that uses the
    core, the CLI and every adapter's module has loaded none of these."""
    code = (
        "import sys, nbversion, nbversion.cli, nbversion.live, nbversion.present, nbversion.stores.pack\n"
        "from nbversion.adapters import adapters; adapters()\n"
        "print(sorted(m for m in ('IPython', 'ipykernel', 'jupyter_server', 'keras', 'tensorflow', 'torch')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
