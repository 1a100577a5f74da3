"""A real JupyterLab server and Debian's Chromium, driven by Playwright, for the panel's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from labserver import CHROMIUM, CHROMIUM_ARGS, running_lab

ARTIFACTS = Path(os.environ.get("NBVERSION_UI_ARTIFACTS", Path(__file__).parent / "artifacts"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with its own config, runtime and settings folders."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium.")
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
