"""The injectable notions of time, named once: tests pass fakes so nothing waits on real time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

#: Seconds as a float: ``time.monotonic`` for intervals and deadlines, ``time.time`` for Unix timestamps.
SecondsClock = Callable[[], float]
#: The current UTC-aware date and time.
WallClock = Callable[[], datetime]
#: ``asyncio.sleep`` or a fake that returns at once.
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)
