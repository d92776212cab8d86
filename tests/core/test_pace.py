"""Per-person pacing (cooldown, running-job cap) in-process and on Redis: the same rules, and on Redis shared
by every process and freed when a process stops renewing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from core.pace import LocalPace, Pace, PaceGrant, PaceRefusal
from core.pace_redis import RedisPace
from core.redis_coord import RedisCoordinator
from tests.services import RedisNamespace

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
USER = "discord:user:1"


@pytest.fixture(params=["local", "redis"])
async def pace(request: pytest.FixtureRequest) -> AsyncIterator[Pace]:
    if request.param == "local":
        yield LocalPace()
        return
    namespace: RedisNamespace = request.getfixturevalue("redis_namespace")
    coordinator = await RedisCoordinator.connect(namespace.url, prefix=namespace.prefix)
    yield RedisPace(coordinator)
    await coordinator.close()


async def test_a_second_start_within_the_cooldown_is_refused_until_it_ends(pace: Pace) -> None:
    first = await pace.start(USER, now=T0, cooldown=10, max_active=0)
    assert isinstance(first, PaceGrant)
    again = await pace.start(USER, now=T0 + timedelta(seconds=4), cooldown=10, max_active=0)
    assert again == PaceRefusal("cooldown", 1, T0 + timedelta(seconds=10))
    assert isinstance(await pace.start("discord:user:2", now=T0, cooldown=10, max_active=0), PaceGrant)
    later = await pace.start(USER, now=T0 + timedelta(seconds=10), cooldown=10, max_active=0)
    assert isinstance(later, PaceGrant)


async def test_running_jobs_are_capped_and_a_finished_one_frees_its_slot(pace: Pace) -> None:
    grants = [await pace.start(USER, now=T0, cooldown=0, max_active=2) for _ in range(2)]
    assert all(isinstance(g, PaceGrant) for g in grants)
    assert await pace.start(USER, now=T0, cooldown=0, max_active=2) == PaceRefusal("concurrency", 2)
    await pace.done(grants[0])  # type: ignore[arg-type]
    await pace.done(grants[0])  # type: ignore[arg-type]  # twice is harmless
    assert isinstance(await pace.start(USER, now=T0, cooldown=0, max_active=2), PaceGrant)


async def test_twenty_simultaneous_starts_against_a_cap_of_three_grant_exactly_three(pace: Pace) -> None:
    results = await asyncio.gather(*(pace.start(USER, now=T0, cooldown=0, max_active=3) for _ in range(20)))
    assert sum(isinstance(r, PaceGrant) for r in results) == 3
    assert (await pace.status(USER, now=T0, cooldown=0)).active == 3


async def test_undoing_a_start_frees_its_slot_and_puts_the_previous_cooldown_back(pace: Pace) -> None:
    first = await pace.start(USER, now=T0, cooldown=10, max_active=0)
    assert isinstance(first, PaceGrant)
    await pace.done(first)
    second = await pace.start(USER, now=T0 + timedelta(seconds=30), cooldown=10, max_active=0)
    assert isinstance(second, PaceGrant) and second.previous_start == T0
    await pace.undo(second)  # refused later (e.g. by a quota): as if it had never started
    status = await pace.status(USER, now=T0 + timedelta(seconds=31), cooldown=10)
    assert (status.cooldown_until, status.active) == (None, 0)
    assert isinstance(await pace.start(USER, now=T0 + timedelta(seconds=31), cooldown=10, max_active=0), PaceGrant)


async def test_the_status_shows_a_running_cooldown_and_the_running_jobs(pace: Pace) -> None:
    assert (await pace.status(USER, now=T0, cooldown=10)).active == 0
    await pace.start(USER, now=T0, cooldown=10, max_active=0)
    status = await pace.status(USER, now=T0 + timedelta(seconds=3), cooldown=10)
    assert (status.cooldown_until, status.active) == (T0 + timedelta(seconds=10), 1)
    assert (await pace.status(USER, now=T0 + timedelta(seconds=11), cooldown=10)).cooldown_until is None


async def test_two_processes_share_one_cap_and_a_silent_holders_slot_runs_out(
        redis_namespace: RedisNamespace) -> None:
    lease_clock = [0.0]

    async def connect() -> RedisCoordinator:
        return await RedisCoordinator.connect(redis_namespace.url, prefix=redis_namespace.prefix,
                                              lease_seconds=30, clock=lambda: lease_clock[0])

    first, second = await connect(), await connect()
    try:
        held = await RedisPace(first).start(USER, now=T0, cooldown=0, max_active=1)
        assert isinstance(held, PaceGrant)
        assert await RedisPace(second).start(USER, now=T0, cooldown=0, max_active=1) == PaceRefusal(
            "concurrency", 1)
        lease_clock[0] = 29.0
        await first.renew_now()  # the holder's keeper renews while its job runs
        lease_clock[0] = 45.0
        assert isinstance(await RedisPace(second).start(USER, now=T0, cooldown=0, max_active=1), PaceRefusal)
        first._held.clear()  # the holder stops renewing, as a process that died would
        lease_clock[0] = 60.0
        assert isinstance(await RedisPace(second).start(USER, now=T0, cooldown=0, max_active=1), PaceGrant)
    finally:
        await first.close()
        await second.close()
