"""The fake clock and the snowflake ids derived from it.

Discord ids are snowflakes: the top 42 bits are milliseconds since the Discord epoch, and
discord.py derives ``created_at`` / ``expires_at`` of an interaction from its id.  The fake
therefore mints every id from a :class:`FakeClock` the test controls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time

DISCORD_EPOCH_MS = 1_420_070_400_000
_STATIC_BASE_MS = 1_700_000_000_000  # 2023-11-14: a plausible creation time for fixtures
_static_counter = itertools.count(1)


class FakeClock:
    """A frozen wall clock: time only moves when the test calls :meth:`advance`.

    Args:
        start: Unix time (seconds) the clock starts at; defaults to the real time now, so the
            ids the fake mints look current to discord.py.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        """Current fake Unix time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward.

        Raises:
            ValueError: if ``seconds`` is negative (time never goes back).
        """
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        self._now += seconds
        for deadline, waiter in self._sleepers:
            if deadline <= self._now and not waiter.done():
                waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has moved ``seconds`` forward (an ``asyncio.sleep`` on fake time: only
        :meth:`advance` wakes it). Zero or negative ``seconds`` only yield to the loop."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self._now + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def utcnow(self) -> dt.datetime:
        """Current fake time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self._now, tz=dt.UTC)


def iso_timestamp(unix_seconds: float) -> str:
    """Format Unix seconds the way Discord does (ISO 8601 with offset)."""
    return dt.datetime.fromtimestamp(unix_seconds, tz=dt.UTC).isoformat()


def snowflake_time(snowflake: int) -> float:
    """Unix time (seconds) encoded in a snowflake."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def static_snowflake() -> int:
    """A unique id for fixtures (guilds, channels, users) that does not depend on any clock."""
    return ((_STATIC_BASE_MS - DISCORD_EPOCH_MS) << 22) | next(_static_counter)


def static_snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A unique fixture id (for a guild) that Discord's rule ``(guild_id >> 22) % shard_count`` puts on
    ``shard_id``: its timestamp part is moved forward by less than ``shard_count`` milliseconds."""
    if not 0 <= shard_id < shard_count:
        raise ValueError(f"shard {shard_id} is not one of 0..{shard_count - 1}")
    base = _STATIC_BASE_MS - DISCORD_EPOCH_MS
    return ((base + (shard_id - base) % shard_count) << 22) | next(_static_counter)


class SnowflakeFactory:
    """Mints unique, increasing snowflakes whose timestamp is the fake clock's *now*."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._last_ms = 0
        self._sequence = 0

    def next(self) -> int:
        """A fresh snowflake (unique even while the clock stands still)."""
        ms = int(self._clock.now() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._sequence += 1
            if self._sequence > 0xFFF:  # 12-bit increment exhausted: borrow the next millisecond
                ms += 1
                self._sequence = 0
        else:
            self._sequence = 0
        self._last_ms = ms
        return ((ms - DISCORD_EPOCH_MS) << 22) | self._sequence
