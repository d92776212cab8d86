"""Shared admission across real processes: one cap and one line for all of them, and a process killed with
SIGKILL gives its slot and its place in line back when its lease runs out.

Children are ``tests/core/redis_child.py``. Fake time is a ``FileClock`` every process reads, so "the lease
has passed" is a number the test writes, and each step waits on what the processes report or on the lease
scores in Redis, never on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from core.limits_redis import RedisAdmission
from core.redis_coord import RedisCoordinator
from tests.core.redis_child import FileClock
from tests.core.test_limits_redis import Holder
from tests.services import RedisNamespace

REPO_ROOT = Path(__file__).resolve().parents[2]
START, LEASE = 1000.0, 30.0


class Child:
    """A child process in the line; ``line()`` is its next report."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    async def line(self) -> str:
        assert self.process.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout=60)
        return text.strip()

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()


@pytest.fixture
def spawn(redis_namespace: RedisNamespace) -> Iterator[Callable[..., Child]]:
    with contextlib.ExitStack() as stack:
        def start(*, cap: int = 1, clock: str = "server") -> Child:
            process = stack.enter_context(subprocess.Popen(
                [sys.executable, "-m", "tests.core.redis_child", redis_namespace.url, redis_namespace.prefix,
                 str(cap), clock, str(LEASE), "0.05"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT))
            stack.callback(process.kill)
            return Child(process)

        yield start


@pytest.fixture
def clock(tmp_path: Path) -> FileClock:
    return FileClock(tmp_path / "clock", start=START)


@pytest.fixture
async def parent(redis_namespace: RedisNamespace, clock: FileClock) -> AsyncIterator[RedisCoordinator]:
    coordinator = await RedisCoordinator.connect(redis_namespace.url, prefix=redis_namespace.prefix,
                                                 lease_seconds=LEASE, renew_every=0.05, poll_interval=0.05,
                                                 clock=clock)
    yield coordinator
    await coordinator.close()


async def lease_expiries(coordinator: RedisCoordinator, part: str) -> list[float]:
    """Every lease expiry in the admission's ``slots`` or ``tickets`` set."""
    entries = await coordinator.client.zrange(coordinator.key("admission", "ark", part), 0, -1, withscores=True)
    return [score for _, score in entries]


async def renewed_past(coordinator: RedisCoordinator, part: str, expiry: float, *, count: int) -> None:
    """Wait until ``count`` leases in ``part`` run to at least ``expiry`` (their holders renewed them)."""
    async def check() -> None:
        while sum(score >= expiry for score in await lease_expiries(coordinator, part)) < count:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(check(), timeout=60)


def kill(child: Child) -> None:
    child.process.send_signal(signal.SIGKILL)
    child.process.wait(timeout=60)


async def test_two_processes_competing_for_a_cap_of_one_take_turns_in_arrival_order(
        spawn, redis_namespace: RedisNamespace) -> None:
    coordinator = await RedisCoordinator.connect(redis_namespace.url, prefix=redis_namespace.prefix,
                                                 poll_interval=0.05)
    try:
        holder = Holder(RedisAdmission(coordinator, "ark", concurrency=1, images_per_minute=0), "parent")
        await holder.entered()
        first = spawn()
        assert await first.line() == "position 1"
        second = spawn()
        assert await second.line() == "position 2"

        holder.release.set()
        await holder.task
        assert await first.line() == "admitted"
        assert await second.line() == "position 1"  # moved up, but the one slot is taken
        first.release()
        assert await first.line() == "released"
        assert await second.line() == "admitted"
        second.release()
        assert await second.line() == "released"
    finally:
        await coordinator.close()


async def test_a_killed_holder_keeps_its_slot_while_alive_and_frees_it_within_the_lease(
        spawn, parent: RedisCoordinator, clock: FileClock) -> None:
    holder = spawn(clock=str(clock.path))
    assert await holder.line() == "admitted"
    waiter = Holder(RedisAdmission(parent, "ark", concurrency=1, images_per_minute=0), "waiter")
    await waiter.queued_at(1)

    clock.set(START + LEASE - 1)  # nearly a lease later: both processes renew
    await renewed_past(parent, "slots", START + 2 * LEASE - 1, count=1)
    await renewed_past(parent, "tickets", START + 2 * LEASE - 1, count=1)
    assert not waiter.admitted  # a live holder keeps its slot past its first lease

    kill(holder)
    clock.set(START + 2 * LEASE - 2)
    await renewed_past(parent, "tickets", START + 3 * LEASE - 2, count=1)  # the waiter is still renewed
    assert await lease_expiries(parent, "slots") == [START + 2 * LEASE - 1]  # the dead holder is not
    assert not waiter.admitted
    clock.set(START + 2 * LEASE)  # the dead holder's lease has run out
    await waiter.entered()
    waiter.release.set()
    await waiter.task


async def test_the_queued_ticket_of_a_killed_process_leaves_the_line_within_the_lease(
        spawn, parent: RedisCoordinator, clock: FileClock) -> None:
    gate = RedisAdmission(parent, "ark", concurrency=1, images_per_minute=0)
    holder = Holder(gate, "holder")
    await holder.entered()
    doomed = spawn(clock=str(clock.path))
    assert await doomed.line() == "position 1"
    waiter = Holder(gate, "waiter")
    await waiter.queued_at(2)

    kill(doomed)
    clock.set(START + LEASE - 1)
    await renewed_past(parent, "slots", START + 2 * LEASE - 1, count=1)
    await renewed_past(parent, "tickets", START + 2 * LEASE - 1, count=1)
    assert waiter.positions == [2]
    clock.set(START + LEASE + 1)  # the dead process's ticket has run out
    await waiter.queued_at(1)
    assert not waiter.admitted  # the holder still has the slot
    holder.release.set()
    await waiter.entered()
    waiter.release.set()
    await asyncio.gather(holder.task, waiter.task)
    assert waiter.positions == [2, 1]
