"""A real JupyterLab server and Debian's Chromium, driven by Playwright, for the panel's tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("NBVERSION_CHROMIUM", "/usr/lib/chromium/chromium")
ARTIFACTS = Path(os.environ.get("NBVERSION_UI_ARTIFACTS", Path(__file__).parent / "artifacts"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with its own config, runtime and settings folders."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium.")
    base = tmp_path_factory.mktemp("lab")
    root, runtime = base / "root", base / "runtime"
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    root.mkdir()
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), "nbversion-ui-test"
    env = dict(os.environ)
    env.pop("NBVERSION_DIR", None)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    log = open(base / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
         f"--ServerApp.root_dir={root}", "--ServerApp.jpserver_extensions={'nbversion': True}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError((base / "lab.log").read_text())
            time.sleep(0.1)
    else:
        raise RuntimeError("JupyterLab did not start:\n" + (base / "lab.log").read_text())
    yield {"url": url, "token": token, "root": root, "runtime": runtime, "log": base / "lab.log"}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (kept by CI as test artifacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """The UI tests run JupyterLab in its own process and drive it with Playwright's sync API,
    which owns the event loop: pytest-jupyter's per-test loop (autouse) must stay out of the way."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield
