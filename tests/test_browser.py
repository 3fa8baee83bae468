"""The built-in page in a real browser (§5.5): Chromium driven by Playwright.

The page is the server's live status page: it polls `/api/health`, opens a
WebSocket to the server that served it and shows servers, users and events the way
d-zone receives them. Servers are driven either from the command line (mock events)
or through the Python API on a loop of their own, so a test can push presence and
message events exactly when it wants them.

The browser is Debian's chromium by default; set `D_BACK_CHROMIUM` to use another
executable (CI uses the one `playwright install` downloads).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import d_back
import pytest
from d_back.server import WebSocketServer
from helpers import HOST, TIMEOUT, CliProcess, free_port, wait_serving
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from websockets.sync.client import connect as ws_connect

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
HEALTH_PERIOD_MS = 5_000  # the page's refresh period of /api/health
RECONNECT_MS = 3_000  # the page's WebSocket reconnect delay
TICKER_SIZE = 50

# Mock data (src/provider/mock_data.rs).
DWORLD = "232769614004748288"
VEGETA = "123456789012345001"
DWORLD_USERS = {  # username -> (status, rgb of roleColor)
    "vegeta897": ("online", "rgb(255, 107, 107)"),
    "Cog-Creators": ("idle", "rgb(78, 205, 196)"),
    "d-zone-org": ("dnd", "rgb(69, 183, 209)"),
    "NNTin": ("online", "rgb(150, 206, 180)"),
}
AUTH_REQUIRED = "This server requires Discord authentication. Please login with Discord."


# --------------------------------------------------------------------------- fixtures


@dataclass
class Watched:
    """A page with everything it requested and every script error it raised."""

    page: Page
    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:  # something the page needs was blocked
            self.csp.append(message.text)

    def open(self, port: int, path: str = "/") -> None:
        response = self.page.goto(f"http://{HOST}:{port}{path}")
        assert response is not None and response.status == 200

    def row(self, username: str):
        return self.page.locator("#users li", has=self.page.locator(".name", has_text=username))

    def assert_clean(self, port: int) -> None:
        """No script errors, no blocked loads, no request to anywhere but the server."""
        assert self.errors == []
        assert self.csp == []
        allowed = (f"http://{HOST}:{port}/", f"ws://{HOST}:{port}/", "data:")
        outside = [url for url in self.urls if not url.startswith(allowed)]
        assert outside == [], outside


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"no browser at {CHROMIUM}: install Debian's chromium or set D_BACK_CHROMIUM"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT * 1000)
        watch = Watched(page)
        page.on("request", lambda request: watch.urls.append(request.url))
        page.on("websocket", lambda ws: watch.urls.append(ws.url))
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.on("console", watch.on_console)
        yield watch
    finally:
        context.close()


class ApiServer:
    """A `WebSocketServer` run through the Python API on its own loop in a thread,
    the way a bot runs it; the test thread drives it with `call`."""

    def __init__(self, port: int = 0, **callbacks: Callable[..., Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # No mock events unless a test sends them (mock data is still served).
        self.server = WebSocketServer(
            port=port, host=HOST, mock_presence_interval=3600, mock_message_interval=3600
        )
        for name, callback in callbacks.items():
            getattr(self.server, name)(callback)
        self.task: asyncio.Future[None] | None = None
        self.port = 0

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(15)

    def start(self) -> int:
        async def _start() -> int:
            self.task = asyncio.ensure_future(self.server.start())
            return await wait_serving(self.server, self.task)

        self.port = self.call(_start())
        return self.port

    def stop(self) -> None:
        async def _stop() -> None:
            await self.server.stop()
            if self.task is not None:
                await self.task

        self.call(_stop())

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(15)
            self.loop.close()

    def presence(self, server: str, uid: str, status: str, **extra: Any) -> None:
        self.call(self.server.broadcast_presence(server=server, uid=uid, status=status, **extra))

    def message(self, server: str, uid: str, message: str) -> None:
        self.call(
            self.server.broadcast_message(server=server, uid=uid, message=message, channel="1")
        )


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    """Mock data, no mock events, driven from the test."""
    server = ApiServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def cli_server(tmp_path) -> Iterator[int]:
    proc = CliProcess(["--port", "0", "--host", HOST], env=FAST_ENV, cwd=str(tmp_path))
    try:
        yield proc.wait_ready()
    finally:
        proc.interrupt()
        try:
            proc.wait(15)
        finally:
            proc.kill()


# --------------------------------------------------------------------------- tests


def test_builtin_page_shows_live_mock_events(cli_server, watched):
    page = watched.page
    watched.open(cli_server)

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
    expect(page.locator("#connection-state")).to_have_text("connected")
    expect(page.locator("#server-list")).to_contain_text("D-World")
    expect(page.locator("#users")).to_contain_text("vegeta897")
    expect(page.locator("#events li[data-kind=message]").first).to_be_visible()
    expect(page.locator("#events li[data-kind=presence]").first).to_be_visible()
    watched.assert_clean(cli_server)


def test_users_show_name_role_colour_and_presence(api_server, watched):
    page = watched.page
    watched.open(api_server.port)

    expect(page.locator("#server-list li")).to_have_count(4)
    expect(page.locator("#server-list li.joined")).to_have_text(re.compile("^D-World"))
    expect(page.locator("#joined-server")).to_have_text("watching “D-World”")
    expect(page.locator("#users li")).to_have_count(len(DWORLD_USERS))
    expect(page.locator("#user-count")).to_have_text("(4)")
    expect(page.locator("#user-summary")).to_have_text("2 online · 1 idle · 1 dnd")
    for username, (status, rgb) in DWORLD_USERS.items():
        row = watched.row(username)
        expect(row.locator(".user-status")).to_have_text(status)
        expect(row.locator(".swatch")).to_have_css("background-color", rgb)
    # Sorted by name, case-insensitively.
    names = page.locator("#users li .name").all_text_contents()
    assert names == sorted(DWORLD_USERS, key=str.lower)
    watched.assert_clean(api_server.port)


def test_presence_events_update_the_user_list_live(api_server, watched):
    page = watched.page
    watched.open(api_server.port)
    vegeta = watched.row("vegeta897")
    expect(vegeta.locator(".user-status")).to_have_text("online")

    api_server.presence(DWORLD, VEGETA, "idle")
    expect(vegeta.locator(".user-status")).to_have_text("idle")
    expect(vegeta.locator(".user-status")).to_have_class(re.compile(r"\bidle\b"))
    expect(page.locator("#events li").first).to_contain_text("vegeta897: online → idle")
    expect(page.locator("#user-summary")).to_have_text("1 online · 2 idle · 1 dnd")

    # A user the page has not seen yet arrives with name and colour.
    api_server.presence(DWORLD, "999", "dnd", username="Newcomer", role_color="#010203")
    newcomer = watched.row("Newcomer")
    expect(newcomer.locator(".user-status")).to_have_text("dnd")
    expect(newcomer.locator(".swatch")).to_have_css("background-color", "rgb(1, 2, 3)")
    expect(page.locator("#user-count")).to_have_text("(5)")

    # A known user changes colour and goes offline.
    api_server.presence(DWORLD, "999", "offline", role_color="#ffffff")
    expect(newcomer.locator(".user-status")).to_have_text("offline")
    expect(newcomer.locator(".swatch")).to_have_css("background-color", "rgb(255, 255, 255)")

    # `delete` removes the user.
    api_server.presence(DWORLD, VEGETA, "offline", delete=True)
    expect(vegeta).to_have_count(0)
    expect(page.locator("#events li").first).to_contain_text("vegeta897 left")
    expect(page.locator("#user-count")).to_have_text("(4)")
    expect(page.locator("#users li")).to_have_count(4)
    watched.assert_clean(api_server.port)


def test_ticker_shows_newest_first_and_stays_bounded(api_server, watched):
    page = watched.page
    watched.open(api_server.port)
    expect(watched.row("vegeta897")).to_have_count(1)

    for i in range(TICKER_SIZE + 10):
        api_server.message(DWORLD, VEGETA, f"message {i}")
    events = page.locator("#events li")
    expect(events.first).to_contain_text(f"vegeta897: message {TICKER_SIZE + 9}")
    expect(events).to_have_count(TICKER_SIZE)
    expect(events.last).to_contain_text("vegeta897: message 10")
    # 60 messages plus the "joined" line.
    expect(page.locator("#event-count")).to_have_text(f"(last {TICKER_SIZE} of 61)")

    # Presence changes go into the same ticker.
    api_server.presence(DWORLD, VEGETA, "dnd")
    expect(events.first).to_contain_text("vegeta897: online → dnd")
    expect(events).to_have_count(TICKER_SIZE)
    watched.assert_clean(api_server.port)


def test_choosing_a_server_switches_the_user_list(api_server, watched):
    page = watched.page
    watched.open(api_server.port)
    expect(watched.row("vegeta897")).to_have_count(1)

    page.locator("#server-list li", has_text="My Repos").click()
    expect(page.locator("#server-list li.joined")).to_have_text(re.compile("^My Repos"))
    expect(page.locator("#joined-server")).to_have_text("watching “My Repos”")
    expect(page.locator("#users li")).to_have_count(21)
    expect(watched.row("Red-kun").locator(".user-status")).to_have_text("dnd")
    expect(watched.row("vegeta897")).to_have_count(0)

    # Events for the old server no longer reach this page; the new server's do.
    api_server.presence(DWORLD, VEGETA, "idle", username="vegeta897")
    api_server.presence("987654321098765432", "423456789012345009", "online")
    expect(watched.row("Red-kun").locator(".user-status")).to_have_text("online")
    expect(watched.row("vegeta897")).to_have_count(0)

    # A passworded server without a Discord login: the server's error is shown and
    # the page keeps watching the server it had.
    page.locator("#server-list li", has_text="OAuth2 Protected Server").click()
    expect(page.locator("#live-error")).to_have_text(
        f"Could not join “OAuth2 Protected Server”: {AUTH_REQUIRED}"
    )
    expect(page.locator("#events li").first).to_contain_text(AUTH_REQUIRED)
    expect(page.locator("#server-list li.joined")).to_have_text(re.compile("^My Repos"))
    expect(page.locator("#users li")).to_have_count(21)

    # Keyboard works too, and a successful join clears the error.
    page.locator("#server-list li", has_text="D-World").press("Enter")
    expect(page.locator("#joined-server")).to_have_text("watching “D-World”")
    expect(page.locator("#users li")).to_have_count(4)
    expect(page.locator("#live-error")).to_have_text("")
    watched.assert_clean(api_server.port)


def test_odd_data_is_shown_as_text_and_nothing_leaves_the_origin(watched):
    html = '<img src="http://example.invalid/x.png" onerror="window.pwned=1">'
    servers = {
        "1": {"id": "main", "name": html, "default": True, "passworded": False},
        "2": {"id": 7, "name": {"nested": ["name"]}},  # unusable id
        "3": "not an object",
        "4": None,
        "__proto__": {"id": "proto", "name": "Prototype"},
    }
    users = {
        "u1": {"uid": "u1", "username": html, "status": "online", "roleColor": "#abcdef"},
        "u2": {
            "uid": "u2",
            "username": "styled",
            "status": {"weird": True},
            "roleColor": "url(http://example.invalid/c.png)",
        },
        "u3": {"user": {"id": "u3", "username": "nested form"}, "status": "idle"},
        "u4": {"uid": "u4", "username": "x" * 5000, "status": "dnd", "roleColor": 12},
        "u5": None,
        "u6": {"uid": "u6", "status": "online"},  # no name: not shown, as in d-zone
        "__proto__": {"uid": "__proto__", "username": "proto user", "status": "offline"},
    }
    api = ApiServer(on_get_server_data=lambda: servers, on_get_user_data=lambda key: users)
    api.start()
    try:
        page = watched.page
        watched.open(api.port)
        expect(page.locator("#joined-server")).to_have_text(f"watching “{html}”")
        expect(page.locator("#server-list li .name").first).to_have_text(html)
        expect(page.locator("#server-list li.disabled")).to_have_count(1)
        expect(page.locator("#server-list")).to_contain_text("Prototype")
        expect(page.locator("#users li")).to_have_count(5)
        expect(watched.row("<img").locator(".swatch")).to_have_css(
            "background-color", "rgb(171, 205, 239)"
        )
        expect(watched.row("nested form").locator(".user-status")).to_have_text("idle")
        expect(watched.row("proto user").locator(".user-status")).to_have_text("offline")
        expect(watched.row("styled").locator(".user-status")).to_have_text('{"weird":true}')
        long_name = watched.row("xxxx").locator(".name")
        assert len(long_name.text_content() or "") <= 301

        api.message("1", "u1", html)
        api.call(api.server.broadcast_message(server="1", uid=[1], message=None, channel={}))
        api.presence("1", "__proto__", "idle")
        expect(page.locator("#events li").first).to_contain_text("proto user: offline → idle")
        expect(page.locator("#events")).to_contain_text(f"{html}: {html}")
        expect(page.locator("#events")).to_contain_text("[1]: (empty)")

        assert page.locator("img").count() == 0
        assert page.evaluate("window.pwned") is None
        watched.assert_clean(api.port)
    finally:
        api.close()


def test_reconnects_to_the_same_server_after_a_restart(watched):
    api = ApiServer(port=free_port())
    api.start()
    try:
        page = watched.page
        page.clock.install()
        watched.open(api.port)
        page.locator("#server-list li", has_text="My Repos").click()
        expect(page.locator("#users li")).to_have_count(21)

        api.stop()
        expect(page.locator("#connection-state")).to_have_text("disconnected")
        expect(page.locator("#live-grid")).to_have_class(re.compile(r"\bis-stale\b"))
        # Checked at once when the socket closes; the port is closed by now, or the
        # retry after the reconnect delay sees it closed.
        page.clock.fast_forward(RECONNECT_MS)
        expect(page.locator("#server-status")).to_have_text("unreachable")
        expect(page.locator("#status-banner")).to_have_class(re.compile(r"\bis-bad\b"))

        api.start()
        page.clock.fast_forward(RECONNECT_MS)
        expect(page.locator("#connection-state")).to_have_text("connected")
        expect(page.locator("#joined-server")).to_have_text("watching “My Repos”")
        expect(page.locator("#users li")).to_have_count(21)
        expect(page.locator("#live-grid")).not_to_have_class(re.compile(r"\bis-stale\b"))
        expect(page.locator("#server-status")).to_have_text(re.compile("^(serving|running)$"))
        watched.assert_clean(api.port)
    finally:
        api.close()


def test_status_line_follows_the_health_endpoint(api_server, watched):
    """Needs `GET /api/health`."""
    page = watched.page
    page.clock.install()
    watched.open(api_server.port)
    expect(page.locator("#server-status")).to_have_text("serving")
    expect(page.locator("#status-banner")).to_have_class("banner")
    # The page's own WebSocket is counted.
    expect(page.locator("#connections-open")).to_have_text("1")
    expect(page.locator("#connections-item")).to_be_visible()

    with ws_connect(f"ws://{HOST}:{api_server.port}/", open_timeout=TIMEOUT) as other:
        other.recv(TIMEOUT)  # server-list: the connection is registered
        page.clock.fast_forward(HEALTH_PERIOD_MS)
        expect(page.locator("#connections-open")).to_have_text("2")
    watched.assert_clean(api_server.port)


def test_status_line_without_health_endpoint(watched, tmp_path):
    """Where `api/` does not reach d-back (here: the page served from a subdirectory,
    so its relative `api/health` and `api/version` answer 404), the live view still
    works and the status line says only what the page knows."""
    nested = tmp_path / "nested"
    nested.mkdir()
    shutil.copy(Path(d_back.__file__).parent / "dist" / "index.html", nested / "index.html")
    api = ApiServer()
    api.server.static_dir = tmp_path
    api.start()
    try:
        page = watched.page
        watched.open(api.port, "/nested/index.html")
        expect(page.locator("#connection-state")).to_have_text("connected")
        expect(page.locator("#users li")).to_have_count(len(DWORLD_USERS))
        expect(page.locator("#health-checked")).to_contain_text("checked")
        expect(page.locator("#server-status")).to_have_text("running")
        expect(page.locator("#status-banner")).to_have_class("banner")
        expect(page.locator("#connections-item")).to_be_hidden()
        expect(page.locator("#version")).to_have_text("Unknown")
        watched.assert_clean(api.port)
    finally:
        api.close()
