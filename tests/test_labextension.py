"""The panel's TypeScript: its unit tests (node's test runner) and the installed, prebuilt panel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LAB = Path(__file__).parent.parent / "labextension"


def test_the_panels_typescript_unit_tests_pass():
    assert (LAB / "node_modules").is_dir(), (
        f"{LAB / 'node_modules'} is missing: install the panel's JavaScript dependencies first "
        "(cd labextension && jlpm install; tests/run does it)"
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # jlpm calls jlpm
    result = subprocess.run(["jlpm", "test"], cwd=LAB, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass " in result.stdout


def test_the_installed_package_ships_the_prebuilt_panel_and_enables_the_server_extension():
    out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True)
    assert "nbversion" in out.stdout + out.stderr and "enabled" in out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"], capture_output=True, text=True)
    listing = out.stdout + out.stderr
    assert "nbversion enabled" in listing.replace("\x1b[32m", "").replace("\x1b[0m", "")
