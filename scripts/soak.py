"""Soak test (not part of the test suite): churn WebSocket connections against the
installed package for a while and print the server's RSS and open file descriptors.

    python scripts/soak.py --minutes 5 --concurrency 200

Starts `python -m d_back` (mock mode, fast mock events) on a free loopback port.
Each worker loops: connect, read the server list, join a random server, read a few
events, then leave — cleanly, abruptly (TCP reset) or mid-frame. Needs `websockets`
(installed by `pip install .[test]`). Stops by itself after `--minutes`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

from websockets.asyncio.client import connect

HOST = "127.0.0.1"
SERVERS = ["dworld", "docs", "repos", None]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def polite_visit(port: int) -> None:
    async with connect(f"ws://{HOST}:{port}/ws", open_timeout=10, close_timeout=5) as ws:
        await asyncio.wait_for(ws.recv(), 10)
        await ws.send(json.dumps({"type": "connect", "data": {"server": random.choice(SERVERS)}}))
        for _ in range(random.randint(1, 4)):
            await asyncio.wait_for(ws.recv(), 10)


async def rude_visit(port: int) -> None:
    """Handshake, then vanish with a TCP reset, sometimes halfway through a frame."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if random.random() < 0.5:
        writer.write(bytes([0x81, 0x80 | 100]) + os.urandom(4) + b"half a frame")
        await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def worker(port: int, deadline: float, counts: dict[str, int]) -> None:
    while time.monotonic() < deadline:
        kind = "rude" if random.random() < 0.2 else "polite"
        try:
            await (rude_visit(port) if kind == "rude" else polite_visit(port))
            counts[kind] += 1
        except Exception:
            counts["errors"] += 1


async def soak(port: int, pid: int, minutes: float, concurrency: int) -> None:
    counts = {"polite": 0, "rude": 0, "errors": 0}
    deadline = time.monotonic() + minutes * 60
    workers = [asyncio.create_task(worker(port, deadline, counts)) for _ in range(concurrency)]
    started = time.monotonic()
    print(f"{'t (s)':>6} {'RSS (KiB)':>10} {'fds':>6} {'visits':>8} {'rude':>6} {'errors':>7}")
    while not all(w.done() for w in workers):
        await asyncio.sleep(10)  # a reporting interval, not a wait for an event
        print(
            f"{time.monotonic() - started:6.0f} {rss_kib(pid):10d} {open_fds(pid):6d} "
            f"{counts['polite'] + counts['rude']:8d} {counts['rude']:6d} {counts['errors']:7d}",
            flush=True,
        )
    await asyncio.gather(*workers)
    await asyncio.sleep(2)  # let the server finish closing the last sockets
    print(f"after the churn: RSS {rss_kib(pid)} KiB, {open_fds(pid)} fds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    env = dict(
        os.environ, D_BACK_MOCK_PRESENCE_INTERVAL="0.05", D_BACK_MOCK_MESSAGE_INTERVAL="0.07"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "d_back", "--port", "0", "--host", HOST],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            match = re.search(r"running on ws://[^:]+:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        else:
            raise SystemExit("the server did not start")
        print(
            f"server pid {server.pid}, port {port}; idle RSS {rss_kib(server.pid)} KiB, "
            f"{open_fds(server.pid)} fds"
        )
        asyncio.run(soak(port, server.pid, args.minutes, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
