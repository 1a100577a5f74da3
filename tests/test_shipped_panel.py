"""The built panel committed in nbversion/labextension/ is exactly what this source builds.

The package ships the panel prebuilt, so installing from a clone needs no Node.js (hatch-jupyter-builder
skips the build when the bundle is there). That is only honest while the committed bundle is the
build of the committed TypeScript: this test builds the source and compares the result, file by file
and byte by byte, with what git holds (a stale bundle shows up as a changed file to commit). The build is reproducible across folders because
labextension/webpack.config.js numbers modules by order instead of hashing their absolute paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "labextension"
SHIPPED = "nbversion/labextension"
REBUILD = "cd labextension && jlpm build:prod, then commit nbversion/labextension/"

pytestmark = pytest.mark.slow


def committed_bundle() -> dict[str, bytes]:
    """The shipped panel as git's index holds it: path under nbversion/labextension -> bytes."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", SHIPPED], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = {}
    for path in filter(None, listed):
        blob = subprocess.run(["git", "show", f":{path.decode()}"], cwd=ROOT, capture_output=True, check=True)
        files[path.decode()[len(SHIPPED) + 1 :]] = blob.stdout
    return files


def build_from_source() -> dict[str, bytes]:
    """``jlpm build:prod`` of labextension/, in place (as an editable install does); returns the bundle.

    In place, not in a scratch copy: the minifier's output depends on where node_modules resolves, and
    a build here writes the same bytes in any clone, wherever it lives.
    """
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["jlpm", "build:prod"], cwd=LAB, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = ROOT / SHIPPED
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_the_committed_panel_is_the_build_of_this_source():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing committed to compare with")
    assert (LAB / "node_modules").is_dir(), "install the panel's dependencies first (cd labextension && jlpm install)"
    committed = committed_bundle()
    assert "static/style.js" in committed, f"{SHIPPED}/ is not committed: {REBUILD}"
    built = build_from_source()
    assert sorted(built) == sorted(committed), f"the shipped panel's files differ from a fresh build: {REBUILD}"
    stale = [name for name in built if built[name] != committed[name]]
    assert not stale, f"the shipped panel is not the build of this source ({', '.join(stale)} differ): {REBUILD}"
