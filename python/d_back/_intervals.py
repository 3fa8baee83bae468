"""Seconds between mock events: keyword argument, else environment, else default."""

from __future__ import annotations

import math
import os

__all__ = ["MESSAGE_INTERVAL_ENV", "PRESENCE_INTERVAL_ENV", "mock_interval"]

PRESENCE_INTERVAL_ENV = "D_BACK_MOCK_PRESENCE_INTERVAL"
MESSAGE_INTERVAL_ENV = "D_BACK_MOCK_MESSAGE_INTERVAL"


def mock_interval(keyword: str, value: float | None, env_name: str, default: float) -> float:
    """Seconds between mock events: the keyword, else the environment, else the default."""
    shown: object
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{keyword} must be a number of seconds, got {type(value).__name__}")
        origin, shown, seconds = keyword, value, float(value)
    else:
        raw = os.environ.get(env_name)
        if raw is None or not raw.strip():
            return default
        try:
            seconds = float(raw)
        except ValueError:
            raise ValueError(
                f"environment variable {env_name}={raw!r} is not a number of seconds"
            ) from None
        origin, shown = f"environment variable {env_name}", raw
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{origin} must be a positive number of seconds, got {shown!r}")
    return seconds
