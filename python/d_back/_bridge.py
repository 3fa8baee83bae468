"""Runs a registered callback on the server's asyncio loop for the native core.

The core schedules `invoke(...)` on the loop that started the server, so
callbacks may use loop-bound objects (discord.py, Red's Config). Sync and async
callables are both accepted. Failures are logged here, with their traceback,
and re-raised so the core answers the client with an error frame.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import os
from collections.abc import Coroutine
from typing import Any, Callable, Optional

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


def run_on_loop(
    coroutine: Coroutine[Any, Any, Any],
    loop: asyncio.AbstractEventLoop,
    deliver: Callable[[concurrent.futures.Future[Any]], object],
) -> concurrent.futures.Future[Any]:
    """Schedule `coroutine` on `loop` from another thread; `deliver` gets its future.

    The returned future lets the core cancel the coroutine when it stops waiting.
    """
    try:
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    except RuntimeError:
        coroutine.close()  # the loop is closed; don't warn about a never-awaited coroutine
        raise
    future.add_done_callback(deliver)
    return future
