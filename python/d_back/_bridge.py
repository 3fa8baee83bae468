"""Runs a registered callback on the server's asyncio loop for the native core.

The core queues calls that `CallRunner` starts as tasks running `invoke(...)` on the
loop that started the server, so callbacks may use loop-bound objects (discord.py,
Red's Config). Sync and async
callables are both accepted. Failures are logged here, with their traceback,
and re-raised so the core answers the client with an error frame.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
from typing import Any, Callable, Optional

from . import _native

logger = logging.getLogger("d_back")

StaticResult = Optional[tuple[str, Optional[str], Optional[bytes]]]


async def invoke(
    callback: Callable[..., Any], name: str, mode: str, args_json: str
) -> str | bool | StaticResult:
    """Call `callback(*args)`, await it if needed, and convert the result.

    mode "json" returns `json.dumps(result)` (NaN and infinities are refused: the
    browser's `JSON.parse` cannot read them), "bool" the result's truthiness,
    "static" `None` or `(content_type, file_path, body)`.
    """
    try:
        result = callback(*json.loads(args_json))
        if inspect.isawaitable(result):
            result = await result
        if mode == "bool":
            return bool(result)
        if mode == "static":
            return _static_result(result)
        return json.dumps(result, allow_nan=False)
    except Exception:
        logger.exception("%s callback failed", name)
        raise


def _static_result(result: Any) -> StaticResult:
    if result is None:
        return None
    content_type, target = result
    if isinstance(target, (bytes, bytearray, memoryview)):
        return (str(content_type), None, bytes(target))
    return (str(content_type), os.fspath(target), None)


def resolve_future(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Settle a future the native core created (on its loop's thread)."""
    if future.done():  # cancelled by its awaiter meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class CallRunner:
    """Starts the native core's queued callback calls on the server's loop.

    The core schedules `drain` once per batch of calls (see
    `src/python/loop_calls.rs`); each call runs as a task whose outcome goes back
    with `queue.finish`. The core may also ask to cancel running calls (a timeout,
    a closed connection, a stopped server).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: _native.LoopCallQueue) -> None:
        self._loop = loop
        self._queue = queue
        self._tasks: dict[int, asyncio.Task[Any]] = {}

    def drain(self) -> None:
        starts, cancels = self._queue.take()
        for call_id in cancels:
            task = self._tasks.pop(call_id, None)
            if task is not None:
                task.cancel()
        for call_id, callback, name, mode, args_json in starts:
            task = self._loop.create_task(invoke(callback, name, mode, args_json))
            self._tasks[call_id] = task
            task.add_done_callback(functools.partial(self._finished, call_id))

    def _finished(self, call_id: int, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(call_id, None)
        if not task.cancelled():
            task.exception()  # retrieved here even when nobody waits any more
        self._queue.finish(call_id, task)
