"""Start a real JupyterLab on loopback, isolated from the user's config (tests and bench share it).

The panel it serves is the one built in this tree (``nbversion/labextension``), put first on
JupyterLab's extension path: an install's copy of an older build (an editable install copies the
build into ``share/jupyter/labextensions`` when it is made) would otherwise win."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator


BUILT_PANEL = Path(__file__).resolve().parents[2] / "nbversion" / "labextension"
CHROMIUM = os.environ.get("NBVERSION_CHROMIUM", "/usr/lib/chromium/chromium")  # Debian's, not a download
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(base: Path) -> Iterator[Dict]:
    """JupyterLab serving ``base/root``, with its config, runtime and settings under ``base``."""
    root, runtime = base / "root", base / "runtime"
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    root.mkdir(exist_ok=True)
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    extensions = base / "jupyter" / "labextensions"
    extensions.mkdir(parents=True, exist_ok=True)
    if not (extensions / "nbversion").exists():
        (extensions / "nbversion").symlink_to(BUILT_PANEL, target_is_directory=True)
    port, token = _free_port(), "nbversion-ui-test"
    env = dict(os.environ)
    env.pop("NBVERSION_DIR", None)
    env.update(
        JUPYTER_PATH=os.pathsep.join(p for p in [str(base / "jupyter"), env.get("JUPYTER_PATH", "")] if p),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    log_path = base / "lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
             f"--ServerApp.root_dir={root}"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                    break
                except Exception:
                    if proc.poll() is not None:
                        raise RuntimeError(log_path.read_text())
                    time.sleep(0.1)
            else:
                raise RuntimeError("JupyterLab did not start:\n" + log_path.read_text())
            yield {"url": url, "token": token, "root": root, "runtime": runtime, "log": log_path}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
