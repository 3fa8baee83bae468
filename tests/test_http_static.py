"""Plain HTTP on the WebSocket port (§5): static files, /api/version, errors, containment."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

import d_back
import pytest
from helpers import http_get, raw_http, request_bytes

NOT_FOUND = b"<h1>404 Not Found</h1><p>The requested file was not found.</p>"
SECRET = b"TOP-SECRET-b3f1c2d4"

CONTENT_TYPES = {
    "a.html": "text/html",
    "a.htm": "text/html",
    "a.css": "text/css",
    "a.js": "text/javascript",
    "a.mjs": "text/javascript",
    "a.json": "application/json",
    "a.png": "image/png",
    "a.jpg": "image/jpeg",
    "a.jpeg": "image/jpeg",
    "a.gif": "image/gif",
    "a.svg": "image/svg+xml",
    "a.ico": "image/vnd.microsoft.icon",
    "a.wasm": "application/wasm",
    "a.txt": "text/plain",
    "a.webp": "image/webp",
    "a.woff": "font/woff",
    "a.woff2": "font/woff2",
    "a.xml": "application/xml",
    "a.map": "application/octet-stream",
    "a.unknownext": "application/octet-stream",
    "noext": "application/octet-stream",
    "UPPER.PNG": "image/png",
}


@pytest.fixture
def static_tree(tmp_path: Path) -> Path:
    """tmp/static (served), tmp/static2/secret.txt (a sibling sharing the prefix),
    tmp/outside/secret2.txt (reached only through symlinks inside static)."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_bytes(b"<!doctype html><h1>custom index</h1>")
    for name in CONTENT_TYPES:
        (static / name).write_bytes(f"content of {name}".encode())
    (static / "css").mkdir()
    (static / "css" / "main.css").write_bytes(b"body { color: red }")
    (static / "img").mkdir()
    (static / "img" / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (static / "hello world.txt").write_bytes(b"spaced out")
    (tmp_path / "static2").mkdir()
    (tmp_path / "static2" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret2.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "outside" / "secret2.txt", static / "link.txt")
    os.symlink(tmp_path / "outside", static / "linkdir")
    return tmp_path


@pytest.fixture
async def static_server(serve, static_tree):
    return await serve(static_dir=static_tree / "static")


async def get_or_refused(port: int, target: str):
    """GET that also accepts "connection dropped" (for hostile request targets)."""
    try:
        return await http_get(port, target)
    except (http.client.HTTPException, ConnectionError):
        return None


class TestBuiltinPage:
    @pytest.mark.parametrize("target", ["/", "/index.html", "/?foo=bar", "/index.html?v=2"])
    async def test_index(self, mock_server, target):
        response = await http_get(mock_server.port, target)
        assert response.status == 200
        assert response.content_type == "text/html"
        body = response.body.decode()
        assert "D-Back WebSocket Server" in body
        assert "ws://localhost:3000" in body
        for heading in (
            "How to Run This Module",
            "WebSocket API",
            "Features",
            "Package Information",
        ):
            assert heading in body
        assert "api/version" in body

    @pytest.mark.parametrize("target", ["/api/version", "/api/version?x=1"])
    async def test_version_api(self, mock_server, target):
        response = await http_get(mock_server.port, target)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert response.body == json.dumps({"version": d_back.__version__}).encode()

    async def test_version_api_with_custom_static_dir(self, static_server):
        response = await http_get(static_server.port, "/api/version")
        assert json.loads(response.body) == {"version": d_back.__version__}

    @pytest.mark.parametrize(
        "target", ["/missing.txt", "/api", "/api/version/", "/ws", "/dzone", "/sub/", "/index.htm"]
    )
    async def test_not_found(self, mock_server, target):
        response = await http_get(mock_server.port, target)
        assert response.status == 404
        assert response.content_type == "text/html"
        assert response.body == NOT_FOUND


class TestStaticFiles:
    @pytest.mark.parametrize(("name", "content_type"), sorted(CONTENT_TYPES.items()))
    async def test_content_types(self, static_server, name, content_type):
        response = await http_get(static_server.port, f"/{name}")
        assert response.status == 200
        assert response.content_type == content_type
        assert response.body == f"content of {name}".encode()

    async def test_custom_index_and_nested_files(self, static_server, static_tree):
        response = await http_get(static_server.port, "/")
        assert response.body == b"<!doctype html><h1>custom index</h1>"
        response = await http_get(static_server.port, "/css/main.css?cache=1")
        assert (response.status, response.content_type) == (200, "text/css")
        assert response.body == b"body { color: red }"
        response = await http_get(static_server.port, "/img/dot.png")
        assert response.body == (static_tree / "static" / "img" / "dot.png").read_bytes()

    @pytest.mark.parametrize("target", ["/css", "/css/", "/img/", "//"])
    async def test_directories_are_not_found(self, static_server, target):
        response = await http_get(static_server.port, target)
        assert response.status == 404
        assert response.body == NOT_FOUND

    async def test_percent_decoding(self, static_server):
        response = await http_get(static_server.port, "/hello%20world.txt")
        assert response.status == 200
        assert response.body == b"spaced out"
        response = await http_get(static_server.port, "/css/%6Dain.css")
        assert response.body == b"body { color: red }"

    async def test_static_dir_changes_take_effect_live(self, static_server, static_tree, tmp_path):
        other = tmp_path / "other"
        other.mkdir()
        (other / "a.txt").write_bytes(b"from the other dir")
        assert (await http_get(static_server.port, "/a.txt")).body == b"content of a.txt"
        static_server.server.static_dir = other
        assert (await http_get(static_server.port, "/a.txt")).body == b"from the other dir"
        assert (await http_get(static_server.port, "/css/main.css")).status == 404

    async def test_static_dir_as_str(self, static_server, static_tree):
        """§7 #9: upstream answered 500 to every request when `static_dir` was a str."""
        static_server.server.static_dir = str(static_tree / "static")
        response = await http_get(static_server.port, "/a.css")
        assert (response.status, response.body) == (200, b"content of a.css")


class TestContainment:
    async def test_sibling_prefix_is_forbidden(self, static_server):
        """§7 #7: upstream served /x/static2/secret.txt for static_dir=/x/static."""
        response = await http_get(static_server.port, "/../static2/secret.txt")
        assert response.status == 403
        assert response.content_type == "text/plain"
        assert response.body == b"Forbidden"

    @pytest.mark.parametrize(
        "target",
        [
            "/../static2/secret.txt",
            "/./../static2/secret.txt",
            "/css/../../static2/secret.txt",
            "/static/../../static2/secret.txt",
            "//../static2/secret.txt",
            "/%2e%2e/static2/secret.txt",
            "/%2E%2E/static2/secret.txt",
            "/..%2fstatic2%2fsecret.txt",
            "/..%2Fstatic2/secret.txt",
            "/%2e%2e%2fstatic2%2fsecret.txt",
            "/css/%2e%2e/%2e%2e/static2/secret.txt",
            "/..%5cstatic2%5csecret.txt",
            "/%252e%252e/static2/secret.txt",
            "/..;/static2/secret.txt",
            "../static2/secret.txt",
            "/../../../../../../../../../../../../etc/passwd",
            "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        ],
    )
    async def test_traversal_is_never_served(self, static_server, target):
        response = await get_or_refused(static_server.port, target)
        if response is not None:
            assert response.status != 200
            assert SECRET not in response.body
            assert b"root:" not in response.body

    async def test_absolute_paths_stay_inside(self, static_server, static_tree):
        secret = static_tree / "static2" / "secret.txt"
        for target in (f"/{secret}", f"//{secret}", f"/%2F{str(secret).lstrip('/')}"):
            response = await get_or_refused(static_server.port, target)
            if response is not None:
                assert response.status != 200, target
                assert SECRET not in response.body

    @pytest.mark.parametrize("target", ["/link.txt", "/linkdir/secret2.txt"])
    async def test_symlinks_pointing_outside_are_not_served(self, static_server, target):
        response = await http_get(static_server.port, target)
        assert response.status != 200
        assert SECRET not in response.body


class TestHttpProtocol:
    @pytest.mark.parametrize("target", ["/", "/api/version", "/missing", "/../static2/secret.txt"])
    async def test_content_length(self, static_server, target):
        response = await raw_http(
            static_server.port, request_bytes("GET", target, static_server.port)
        )
        assert "content-length" in response.headers, response.raw_head
        assert int(response.headers["content-length"]) == len(response.body)

    @pytest.mark.parametrize("target", ["/", "/css/main.css", "/api/version", "/missing"])
    async def test_head_sends_headers_only(self, static_server, target):
        port = static_server.port
        get = await raw_http(port, request_bytes("GET", target, port))
        head = await raw_http(port, request_bytes("HEAD", target, port), head=True)
        assert head.status == get.status
        assert head.content_type == get.content_type
        assert head.headers.get("content-length") == str(len(get.body))
        assert head.extra == b"", "HEAD response carried a body"

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    async def test_other_methods_are_not_allowed(self, static_server, method):
        port = static_server.port
        response = await raw_http(port, request_bytes(method, "/index.html", port, body=b"x=1"))
        assert response.status == 405

    async def test_http_1_0(self, static_server):
        port = static_server.port
        request = f"GET /a.txt HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        response = await raw_http(port, request)
        assert response.status == 200
        assert response.body == b"content of a.txt"

    async def test_keep_alive_serves_several_requests(self, static_server):
        def two_requests():
            conn = http.client.HTTPConnection("127.0.0.1", static_server.port, timeout=5)
            try:
                bodies = []
                for target in ("/a.txt", "/a.css"):
                    conn.request("GET", target)
                    bodies.append(conn.getresponse().read())
                return bodies
            finally:
                conn.close()

        import asyncio

        assert await asyncio.to_thread(two_requests) == [b"content of a.txt", b"content of a.css"]


class TestStaticRequestCallback:
    async def test_override_default_and_arguments(self, serve, static_tree):
        seen = []
        target = static_tree / "static2" / "secret.txt"  # no containment check for overrides

        async def on_static(path):
            seen.append(path)
            if path == "/custom":
                return ("application/x-custom", str(target))
            if path == "/as-path":
                return ("text/plain", target)
            return None

        running = await serve(static_dir=static_tree / "static", on_static_request=on_static)
        response = await http_get(running.port, "/custom?x=1")
        assert (response.status, response.content_type, response.body) == (
            200,
            "application/x-custom",
            SECRET,
        )
        assert (await http_get(running.port, "/as-path")).body == SECRET
        response = await http_get(running.port, "/a.css")
        assert (response.status, response.content_type) == (200, "text/css")
        response = await http_get(running.port, "/")
        assert response.body == b"<!doctype html><h1>custom index</h1>"
        assert seen == ["/custom", "/as-path", "/a.css", "/"]

    async def test_override_precedes_api_version(self, serve, tmp_path):
        async def on_static(path):
            return ("text/plain", str(tmp_path / "does-not-exist"))

        running = await serve(on_static_request=on_static)
        response = await http_get(running.port, "/api/version")
        assert response.status == 404
        assert response.body == NOT_FOUND

    async def test_override_to_a_directory_is_not_found(self, serve, tmp_path):
        async def on_static(path):
            return ("text/plain", str(tmp_path))

        running = await serve(on_static_request=on_static)
        assert (await http_get(running.port, "/x")).status == 404

    async def test_failing_callback_is_internal_server_error(self, serve):
        async def on_static(path):
            raise RuntimeError("broken")

        running = await serve(on_static_request=on_static)
        response = await http_get(running.port, "/")
        assert response.status == 500
        assert response.content_type == "text/plain"
        assert response.body == b"Internal Server Error"

    async def test_sync_callback(self, serve, static_tree):
        def on_static(path):
            if path == "/x":
                return ("text/x-sync", str(static_tree / "static" / "a.txt"))
            return None

        running = await serve(on_static_request=on_static)
        response = await http_get(running.port, "/x")
        assert (response.status, response.content_type) == (200, "text/x-sync")
        assert response.body == b"content of a.txt"

    async def test_attribute_assignment(self, serve, static_tree):
        async def on_static(path):
            return ("text/x-assigned", str(static_tree / "static" / "a.txt"))

        running = await serve()
        running.server.on_static_request = on_static
        assert (await http_get(running.port, "/y")).content_type == "text/x-assigned"
