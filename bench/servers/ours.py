"""The server under test: this repository's `d_back`, through its public API only.

Run with the interpreter of `bench/.venv-ours` (the package installed from the
repository). Usage: `python ours.py [--host 127.0.0.1] [--port 0]`; the control
protocol is described in `common.py`.
"""

from __future__ import annotations

import asyncio

import common
from d_back.server import WebSocketServer


def main() -> None:
    args = common.parse_args("d-back (this repository) under benchmark")
    server = WebSocketServer(port=args.port, host=args.host)
    server.on_get_server_data(common.get_server_data)
    server.on_get_user_data(common.get_user_data)
    server.on_get_client_id(common.get_client_id)

    def bound_port() -> int | None:
        if server.server is None or not server.server.sockets:
            return None
        return server.server.sockets[0].getsockname()[1]

    asyncio.run(common.serve("ours", server, bound_port, lambda: len(server.connections)))


if __name__ == "__main__":
    main()
