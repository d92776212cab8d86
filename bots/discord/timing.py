"""The bot's injected time sources (layer 1, pure: no discord.py).

The entry point passes the real ones; tests pass a fake clock and a sleep that only wakes when that clock is
moved, so nothing in a test waits on wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

#: Now, as an aware UTC datetime.
Clock = Callable[[], datetime]
#: Wait this many seconds of the clock's time.
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


real_sleep: Sleep = asyncio.sleep
