"""The command line: `d_back`, `python -m d_back`, `python -m d_back.server`.

Always serves mock data (no callbacks). `d_back.server` re-exports these functions,
as upstream defined them there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from ._limits import Limits
from ._say import say as _say


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (`sys.argv[1:]` unless `argv` is given).

    Returns a namespace with `port` (int, default 3000), `host` (str, default
    `"localhost"`), `static_dir` (str or None), the limit fields of `Limits`
    (`max_connections`, `max_message_size`, `ping_interval`, `ping_timeout`,
    `close_timeout`, `open_timeout`, `join_timeout`; `Limits`' defaults where not
    given), `allow_origin` and `trusted_proxy` (lists of str, `None` where not
    given). `--version`
    prints the version and exits; invalid options exit with status 2.
    """
    parser = argparse.ArgumentParser(
        description="D-Back WebSocket Server",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--port", type=int, default=3000, help="Port to run the WebSocket server on"
    )
    parser.add_argument(
        "--host", type=str, default="localhost", help="Host to bind the WebSocket server to"
    )
    parser.add_argument(
        "--static-dir",
        type=str,
        default=None,
        help="Directory to serve static files from (default: built-in dist directory)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-connections",
        type=int,
        default=Limits.max_connections,
        help="Most open WebSocket connections (more get HTTP 503)",
    )
    limits.add_argument(
        "--max-message-size",
        type=int,
        default=Limits.max_message_size,
        help="Largest incoming message in bytes (larger ones close with 1009)",
    )
    limits.add_argument(
        "--ping-interval", type=float, default=Limits.ping_interval, help="Seconds between pings"
    )
    limits.add_argument(
        "--ping-timeout",
        type=float,
        default=Limits.ping_timeout,
        help="Seconds without a pong before a connection is closed (1011)",
    )
    limits.add_argument(
        "--close-timeout",
        type=float,
        default=Limits.close_timeout,
        help="Seconds a closing handshake may take",
    )
    limits.add_argument(
        "--open-timeout",
        type=float,
        default=Limits.open_timeout,
        help="Seconds a client has to send its request headers",
    )
    limits.add_argument(
        "--join-timeout",
        type=float,
        default=Limits.join_timeout,
        help="Seconds a WebSocket may stay open without joining a server (default: no limit)",
    )
    access = parser.add_argument_group("access")
    access.add_argument(
        "--allow-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="Accept WebSockets only from pages of this origin (repeatable; default: any)",
    )
    access.add_argument(
        "--trusted-proxy",
        action="append",
        default=None,
        metavar="ADDRESS",
        help="Reverse proxy whose X-Forwarded-For names the client (repeatable)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {get_version()}")
    return parser.parse_args(argv)


def get_version() -> str:
    """The installed d-back version, or `"unknown"` if it cannot be determined."""
    try:
        from . import __version__
    except ImportError:
        return "unknown"
    return str(__version__)


async def main() -> None:
    """The CLI: print the banner, then serve mock data until interrupted.

    Exits with status 1 (one line on stderr) if the address cannot be bound.
    """
    args = parse_args()
    _say(f"Starting D-Back WebSocket Server v{get_version()}")
    _say(f"Host: {args.host}")
    _say(f"Port: {args.port}")

    from .server import WebSocketServer  # the server module imports this one

    try:
        server = WebSocketServer(
            port=args.port,
            host=args.host,
            max_connections=args.max_connections,
            max_message_size=args.max_message_size,
            ping_interval=args.ping_interval,
            ping_timeout=args.ping_timeout,
            close_timeout=args.close_timeout,
            open_timeout=args.open_timeout,
            join_timeout=args.join_timeout,
            allowed_origins=args.allow_origin,
            trusted_proxies=args.trusted_proxy,
        )
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if args.static_dir:
        static_path = Path(args.static_dir)
        if static_path.is_dir():
            server.static_dir = static_path
            _say(f"Static directory: {static_path}")
        else:
            _say(
                f"Warning: Static directory '{args.static_dir}' "
                "does not exist or is not a directory"
            )
            _say(f"Using default static directory: {server.static_dir}")
    else:
        _say(f"Static directory: {server.static_dir}")

    try:
        await server.run_forever()
    except OSError as exc:
        if server.server is not None:  # failed while serving, not at bind time
            raise
        reason = exc.strerror or str(exc)
        print(
            f"Error: cannot listen on {args.host}:{args.port}: {reason}",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1) from None


def main_sync() -> None:
    """Console-script entry point: run `main()`; Ctrl-C stops the server cleanly."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        _say("\n[INFO] Server stopped by user")
