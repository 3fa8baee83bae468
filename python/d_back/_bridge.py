"""Runs a registered callback on the server's asyncio loop for the native core.

The core queues calls that `CallRunner` starts as tasks on the loop that started
the server, so callbacks may use loop-bound objects (discord.py, Red's Config).
Sync and async callables are both accepted. Failures are logged here, with their
traceback, and reported to the core, which answers the client with an error frame.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, Callable, Optional

from . import _native

logger = logging.getLogger("d_back")

StaticResult = Optional[tuple[str, Optional[str], Optional[bytes]]]


async def invoke(
    callback: Callable[..., Any], name: str, mode: str, args_json: str
) -> str | bool | StaticResult:
    """Call `callback(*args)`, await it if needed, and convert the result.

    mode "json" returns the `json.dumps(result)` text, encoded natively (NaN and
    infinities are refused: the browser's `JSON.parse` cannot read them); "bool"
    the result's truthiness; "static" `None` or `(content_type, file_path, body)`.
    """
    try:
        result = callback(*json.loads(args_json))
        if inspect.isawaitable(result):
            result = await result
        if mode == "bool":
            return bool(result)
        if mode == "static":
            return _static_result(result)
        return _native.encode_json(result)
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


if sys.version_info >= (3, 12):

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> Any:
        # Runs at once up to the first real wait: a callback that needs no I/O
        # finishes within the drain, without another turn of the loop.
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> Any:
        return loop.create_task(coro)


class CallRunner:
    """Starts the native core's queued callback calls on the server's loop.

    The core asks for a `drain` once per batch of calls (see
    `src/python/loop_calls.rs`): by writing to a socket this runner has the loop
    watch (no GIL needed on the core's side), or, on loops that cannot watch one,
    with `call_soon_threadsafe`. Each call runs as a task that hands its outcome
    back with `queue.finish` as it ends. The core may also ask to cancel running
    calls (a timeout, a closed connection, a stopped server).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: _native.LoopCallQueue) -> None:
        self._loop = loop
        self._queue = queue
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._watched: int | None = None
        fd = queue.doorbell_fd()
        if fd is not None:
            try:
                loop.add_reader(fd, self.drain)
            except NotImplementedError:  # e.g. the Windows proactor loop
                pass
            else:
                self._watched = fd

    @property
    def watches_doorbell(self) -> bool:
        """Whether the loop runs `drain` by itself when the core rings."""
        return self._watched is not None

    def drain(self) -> None:
        starts, cancels = self._queue.take()
        for call_id in cancels:
            task = self._tasks.pop(call_id, None)
            if task is not None:
                task.cancel()
        for call_id, callback, name, mode, args_json in starts:
            task = _start_task(self._loop, self._run(call_id, callback, name, mode, args_json))
            if not task.done():
                self._tasks[call_id] = task

    async def _run(
        self, call_id: int, callback: Callable[..., Any], name: str, mode: str, args_json: str
    ) -> None:
        try:
            value = await invoke(callback, name, mode, args_json)
        except Exception as error:  # logged by invoke
            self._done(call_id, False, error)
        except BaseException as error:  # cancelled, or the process is being interrupted
            self._done(call_id, False, error)
            raise
        else:
            self._done(call_id, True, value)

    def _done(self, call_id: int, ok: bool, value: Any) -> None:
        self._tasks.pop(call_id, None)
        self._queue.finish(call_id, ok, value)

    def close(self) -> None:
        """Stop watching the doorbell (the server has stopped; on the loop's thread).

        Pending cancellations are carried out first.
        """
        self.drain()
        if self._watched is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._watched)
        self._watched = None
