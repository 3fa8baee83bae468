"""Concurrency: callbacks of different clients overlap on the loop (§1.8, §3.5).

Frames of one connection are handled one at a time, but a slow `async` callback for
one client must not hold up the others: 200 browsers joining at once against a
callback that awaits 10 ms each must all be answered well within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from helpers import HOST, TIMEOUT, Client, http_get

CLIENTS = 200
CALLBACK_SLEEP = 0.01
BATCH_LIMIT = 2.0  # seconds; 200 joins one after another would take over 2 s
OPEN_AT_ONCE = 50  # connection attempts in flight while opening the clients

SERVERS = {
    "1001": {"id": "alpha", "name": "Alpha", "default": True, "passworded": False},
    "1002": {"id": "beta", "name": "Beta", "passworded": False},
}


class InFlight:
    """Counts concurrent calls of a callback and remembers the maximum."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0
        self.calls = 0

    def __enter__(self) -> None:
        self.now += 1
        self.calls += 1
        self.max = max(self.max, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


async def open_clients(stack: contextlib.AsyncExitStack, running, count: int) -> list[Client]:
    """Open `count` clients (each has read its server-list), a bounded number at a time."""
    limit = asyncio.Semaphore(OPEN_AT_ONCE)

    async def open_one() -> Client:
        async with limit:
            return await stack.enter_async_context(running.client("/ws"))

    return list(await asyncio.gather(*(open_one() for _ in range(count))))


# One guild per client, so no two joins can share a callback call.
GUILDS = {
    str(2000 + n): {"id": f"g{n}", "name": f"Guild {n}", "passworded": False}
    for n in range(CLIENTS)
}


async def test_200_clients_join_at_once(serve):
    in_flight = InFlight()

    async def get_servers():
        return GUILDS

    async def get_users(key):
        with in_flight:
            await asyncio.sleep(CALLBACK_SLEEP)
            return {"u1": {"uid": "u1", "username": "one", "status": "online", "roleColor": "#fff"}}

    running = await serve(on_get_server_data=get_servers, on_get_user_data=get_users)
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, running, CLIENTS)
        assert len(running.server.connections) == CLIENTS

        async def join(client: Client) -> tuple[dict, float]:
            reply = await client.recv(timeout=2 * TIMEOUT)
            return reply, loop.time()

        first_connect = loop.time()
        await asyncio.gather(
            *(
                client.send_raw(json.dumps({"type": "connect", "data": {"server": f"g{n}"}}))
                for n, client in enumerate(clients)
            )
        )
        results = await asyncio.wait_for(
            asyncio.gather(*(join(client) for client in clients)), 4 * TIMEOUT
        )
        elapsed = max(at for _, at in results) - first_connect

        assert [reply["type"] for reply, _ in results] == ["server-join"] * CLIENTS
        assert [reply["data"]["serverName"] for reply, _ in results] == [
            f"Guild {n}" for n in range(CLIENTS)
        ]
        assert in_flight.calls == CLIENTS
        assert in_flight.max > 1, "the callbacks ran one after another"
        assert elapsed < BATCH_LIMIT, f"{CLIENTS} joins took {elapsed:.2f} s"

        # A broadcast to one guild reaches exactly its client.
        await running.server.broadcast_message("2007", "u1", "to guild 7", "c")
        frame = await clients[7].recv(timeout=2 * TIMEOUT)
        assert frame["data"]["message"] == "to guild 7"
        await clients[8].barrier()


async def test_a_stuck_callback_does_not_hold_up_other_clients(serve):
    """While one client's join waits on its callback, other clients join and are served."""
    release = asyncio.Event()
    waiting = asyncio.Event()

    async def get_servers():
        return SERVERS

    async def get_users(key):
        if key == "1002":
            waiting.set()
            await release.wait()
        return {}

    running = await serve(on_get_server_data=get_servers, on_get_user_data=get_users)
    async with running.client() as stuck, running.client() as other:
        await stuck.send({"type": "connect", "data": {"server": "beta"}})
        await asyncio.wait_for(waiting.wait(), TIMEOUT)
        for _ in range(3):
            assert (await other.join_ok("alpha"))["data"]["serverName"] == "Alpha"
        await running.server.broadcast_message("1001", "u", "for alpha", "c")
        assert (await other.recv())["data"]["message"] == "for alpha"
        async with running.client() as latecomer:  # new sockets get their server-list
            await latecomer.join_ok(None)

        release.set()
        assert (await stuck.recv())["data"]["serverName"] == "Beta"


async def test_static_requests_overlap(serve):
    """Concurrent HTTP requests run their `async` static callbacks side by side."""
    in_flight = InFlight()
    requests = 20

    async def static(path):
        with in_flight:
            await asyncio.sleep(0.05)
            return ("text/plain", path.encode())

    running = await serve(on_static_request=static)
    responses = await asyncio.wait_for(
        asyncio.gather(*(http_get(running.port, f"/file{i}") for i in range(requests))),
        4 * TIMEOUT,
    )
    assert [(r.status, r.body) for r in responses] == [
        (200, f"/file{i}".encode()) for i in range(requests)
    ]
    assert in_flight.max > 1


async def test_browsers_arriving_together_share_one_server_data_call(serve):
    """50 sockets opening at once cost far fewer than 50 `on_get_server_data` calls,
    and nothing is cached: once the calls are over, new data shows at once."""
    tracker = InFlight()
    release = asyncio.Event()
    name = {"value": "Alpha"}

    async def servers() -> dict[str, dict[str, object]]:
        with tracker:
            await release.wait()
            return {"1001": {"id": "alpha", "name": name["value"], "default": True}}

    running = await serve(on_get_server_data=servers)
    async with contextlib.AsyncExitStack() as stack:
        opening = [
            asyncio.create_task(stack.enter_async_context(running.client(read_server_list=False)))
            for _ in range(50)
        ]
        clients = await asyncio.gather(*opening)
        release.set()
        lists = await asyncio.gather(*(client.recv() for client in clients))
        assert all(frame["data"]["1001"]["name"] == "Alpha" for frame in lists)
        assert tracker.calls < 50, f"{tracker.calls} calls for 50 sockets"
        assert tracker.max == 1
        name["value"] = "Renamed"
        assert (await clients[0].join("alpha"))["data"]["serverName"] == "Renamed"


# Browsers in a process of their own: in the bot's process they would compete
# with the bot for the GIL themselves.
BROWSERS = """
import asyncio, json, sys
from websockets.asyncio.client import connect

async def join(url):
    async with connect(url, open_timeout=60) as ws:
        json.loads(await ws.recv())  # server-list
        await ws.send(json.dumps({"type": "connect", "data": {"server": "alpha"}}))
        return json.loads(await ws.recv())["type"] == "server-join"

async def main(url, count, at_once):
    limit = asyncio.Semaphore(at_once)
    async def one():
        async with limit:
            return await join(url)
    print("go", flush=True)
    print("joined", sum(await asyncio.gather(*(one() for _ in range(count)))), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""
BUSY_JOINS = 60
BUSY_SLICE = 0.005  # seconds of pure-Python work between two turns of the bot's loop
# A join needs three hand-overs (server list, connect, users), 20 joins at a time:
# well under one turn a join when every turn hands calls over (about 40 turns for
# 60 joins here); waiting on the GIL instead, the joins time out.
BUSY_TURNS_LIMIT = 3 * BUSY_JOINS


async def test_a_busy_bot_loop_does_not_stall_joins(serve):
    """A bot whose loop runs CPU-bound Python code in 5 ms slices holds the GIL nearly
    all the time. Callback calls must still be handed to the loop at every turn, with
    no network thread waiting for the GIL: the joins keep pace with the bot's turns
    (waiting on the GIL, they crawl along at one switch interval per hand-over)."""
    running = await serve(on_get_server_data=lambda: SERVERS, on_get_user_data=lambda key: {})
    turns = 0
    working = True

    async def bot_work() -> None:
        nonlocal turns
        while working:
            end = time.perf_counter() + BUSY_SLICE
            while time.perf_counter() < end:
                pass
            turns += 1
            await asyncio.sleep(0)

    browsers = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BROWSERS,
        f"ws://{HOST}:{running.port}/",
        str(BUSY_JOINS),
        "20",
        stdout=asyncio.subprocess.PIPE,
    )
    assert browsers.stdout is not None
    try:
        assert await asyncio.wait_for(browsers.stdout.readline(), 60) == b"go\n"
        bot = asyncio.create_task(bot_work())
        try:
            done = await asyncio.wait_for(browsers.stdout.readline(), 120)
        finally:
            working = False
            await bot
        assert done.split() == [b"joined", str(BUSY_JOINS).encode()]
        assert turns <= BUSY_TURNS_LIMIT, f"{BUSY_JOINS} joins took {turns} turns of the bot's loop"
    finally:
        if browsers.returncode is None:
            browsers.kill()
        await browsers.wait()
