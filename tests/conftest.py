"""Shared fixtures: a fresh repository per test, payloads, and the independent JS tools."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nbversion

pytest_plugins = ["pytest_jupyter.jupyter_server", "conftest_ipfs"]  # jp_fetch & co.; a real IPFS node (tests/ipfs)

HERE = Path(__file__).parent
JS = HERE / "js"


@pytest.fixture(autouse=True)
def no_user_credentials(tmp_path_factory, monkeypatch):
    """No test reads the credentials file of the person running the suite."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    for name in ("NBVERSION_CREDENTIALS", "NBVERSION_IPFS_AUTH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> nbversion.Repo:
    with nbversion.Repo(tmp_path / ".nbversion") as r:
        yield r


def pattern(size: int) -> np.ndarray:
    """The fixture payload: byte i is i % 251 (as tests/js/gen_unixfs_fixtures.mjs makes it)."""
    return (np.arange(size, dtype=np.int64) % 251).astype(np.uint8)


def weights(seed: int = 0, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "dense/kernel": (rng.normal(size=(64, 32)) * scale).astype(np.float32),
        "dense/bias": np.zeros(32, np.float32),
        "embed/table": rng.normal(size=(300, 300)).astype(np.float32),  # 360 KB: a two-chunk file
    }


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """tests/js with its npm packages installed (``npm ci`` on first use)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed for the independent IPFS checks; .ci/run installs the tools.")
    if not (JS / "node_modules" / "@ipld" / "car").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    return JS


def car_check(js: Path, car: Path, *files: str) -> dict:
    """Run the independent @ipld/car + ipfs-unixfs-exporter checker on ``car``."""
    out = subprocess.run(
        ["node", str(js / "car_check.mjs"), str(car), *files], capture_output=True, text=True, timeout=300
    )
    return json.loads(out.stdout)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed ``nbversion`` command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "nbversion.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


@pytest.fixture
def ip(tmp_path, monkeypatch):
    """A real IPython shell with nbversion loaded, working in ``tmp_path`` (its variables removed after)."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.testing.globalipapp import start_ipython

    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    shell = start_ipython() or InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbversion")
    magics = shell.magics_manager.registry["NbversionMagics"]
    magics.current.clear()
    magics.repo_dir = None
    keep = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - keep:
        del shell.user_ns[name]


def run(ip, cell: str):
    """Run ``cell`` as a notebook would (stored in history); raise what it raised; return its value."""
    result = ip.run_cell(cell, store_history=True)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result
