"""The built-in page in a real browser (§5.5): Chromium driven by Playwright.

The browser is Debian's chromium by default; set `D_BACK_CHROMIUM` to use another
executable (CI uses the one `playwright install` downloads).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import d_back
import pytest
from helpers import HOST, CliProcess
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("D_BACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAST_ENV = {"D_BACK_MOCK_PRESENCE_INTERVAL": "0.05", "D_BACK_MOCK_MESSAGE_INTERVAL": "0.05"}
TITLE = "D-Back WebSocket Server"


@pytest.fixture
def cli_server(tmp_path):
    proc = CliProcess(["--port", "0", "--host", HOST], env=FAST_ENV, cwd=str(tmp_path))
    try:
        yield proc.wait_ready()
    finally:
        proc.interrupt()
        try:
            proc.wait(15)
        finally:
            proc.kill()


@pytest.fixture
def page():
    assert Path(CHROMIUM).exists(), (
        f"no browser at {CHROMIUM}: install Debian's chromium or set D_BACK_CHROMIUM"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_builtin_page_shows_live_mock_events(cli_server, page):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"http://{HOST}:{cli_server}/")
    assert response is not None and response.status == 200

    # The page as upstream's browser test sees it.
    expect(page).to_have_title(TITLE)
    expect(page.locator("h1").first).to_contain_text(TITLE)
    expect(page.locator(".container").first).to_be_visible()
    expect(page.locator(".status").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("ws://localhost:3000")
    for heading in ("How to Run This Module", "WebSocket API", "Features", "Package Information"):
        expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    code_blocks = page.locator(".code")
    assert code_blocks.count() > 0
    for i in range(code_blocks.count()):
        font = code_blocks.nth(i).evaluate("el => getComputedStyle(el).fontFamily")
        assert re.search(r"mono|courier|consolas|menlo", font, re.I), font

    # Filled by fetch('api/version').
    expect(page.locator("#version")).to_have_text(f"v{d_back.__version__}")
    expect(page.locator("#version-text")).to_have_text(d_back.__version__)

    # Live: the page opens a WebSocket to the server it came from and shows mock events.
    expect(page.locator("#connection-state")).to_have_text("connected", timeout=10_000)
    expect(page.locator("#server-list")).to_contain_text("D-World", timeout=10_000)
    expect(page.locator("#users")).to_contain_text("vegeta897", timeout=10_000)
    page.wait_for_function("document.querySelector('#events').children.length >= 3", timeout=10_000)
    assert errors == []
