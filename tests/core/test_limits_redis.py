"""Shared admission on Redis, in one process: the in-process rules (FIFO, caps, window, positions,
cancellation) hold when the line lives in Redis, and several clients of one Redis share one account.

Time is injected (the coordinator's clock and the admission's sleep), so the 60-second window costs nothing.
What happens in Redis is awaited as a condition (``eventually``), never as a sleep.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from core.errors import BackendUnavailableError
from core.limits_redis import RedisAdmission, RedisAdmissionRegistry
from core.redis_coord import RedisCoordinator
from tests.core.test_limits import FakeTime, ManualTime
from tests.services import RedisNamespace, eventually


class Holder:
    """A request that enters admission and stays inside until released."""

    def __init__(self, admission: RedisAdmission, name: str, *, images: int = 1,
                 log: list[str] | None = None) -> None:
        self.positions: list[int] = []
        self.admitted = False
        self.release = asyncio.Event()
        self._admission, self._name, self._images = admission, name, images
        self._log = log if log is not None else []
        self.task = asyncio.create_task(self._run())

    async def _on_position(self, position: int) -> None:
        self.positions.append(position)

    async def _run(self) -> None:
        async with self._admission.admit(images=self._images, on_position=self._on_position):
            self.admitted = True
            self._log.append(self._name)
            await self.release.wait()

    async def queued_at(self, position: int) -> None:
        await eventually(lambda: self.positions[-1:] == [position], what=f"{self._name} at {position}")

    async def entered(self) -> None:
        await eventually(lambda: self.admitted, what=f"{self._name} admitted")


@pytest.fixture
async def connect(redis_namespace: RedisNamespace) -> AsyncIterator[Callable[..., object]]:
    """Open coordinators in the test's namespace (each stands for one process); all closed afterwards."""
    opened: list[RedisCoordinator] = []

    async def open_one(**options: object) -> RedisCoordinator:
        options = {"poll_interval": 0.05} | options
        coordinator = await RedisCoordinator.connect(redis_namespace.url, prefix=redis_namespace.prefix,
                                                     **options)  # type: ignore[arg-type]
        opened.append(coordinator)
        return coordinator

    yield open_one
    for coordinator in opened:
        await coordinator.close()


def admission(coordinator: RedisCoordinator, *, concurrency: int = 0, images_per_minute: int = 0,
              time: FakeTime | None = None) -> RedisAdmission:
    return RedisAdmission(coordinator, "ark", concurrency=concurrency, images_per_minute=images_per_minute,
                          **({"sleep": time.sleep} if time else {}))


async def test_in_flight_never_exceeds_the_cap_across_two_clients_with_forty_requests(connect) -> None:
    first, second = await connect(), await connect()
    gates = [admission(first, concurrency=3), admission(second, concurrency=3)]
    current = peak = done = 0

    async def work(n: int) -> None:
        nonlocal current, peak, done
        async with gates[n % 2].admit():
            current += 1
            peak = max(peak, current)
            for _ in range(3):
                await asyncio.sleep(0)
            current -= 1
        done += 1

    await asyncio.gather(*(work(n) for n in range(40)))
    assert (peak, done) == (3, 40)
    assert [(g.in_flight, g.waiting) for g in gates] == [(0, 0), (0, 0)]
    assert await gates[0].snapshot() == (0, 0)


async def test_waiting_requests_from_two_clients_are_admitted_in_arrival_order(connect) -> None:
    first, second = await connect(), await connect()
    gates = [admission(first, concurrency=1), admission(second, concurrency=1)]
    order: list[str] = []
    holder = Holder(gates[0], "holder", log=order)
    await holder.entered()
    waiters = []
    for n in range(6):
        waiters.append(Holder(gates[n % 2], f"w{n}", log=order))
        await waiters[-1].queued_at(n + 1)
    holder.release.set()
    for waiter in waiters:
        waiter.release.set()
    await asyncio.gather(holder.task, *(w.task for w in waiters))
    assert order == ["holder"] + [f"w{n}" for n in range(6)]


async def test_waiters_hear_their_position_and_move_up_as_each_one_ahead_finishes(connect) -> None:
    gate = admission(await connect(), concurrency=1)
    holder = Holder(gate, "holder")
    await holder.entered()
    waiters = []
    for position, name in enumerate("abc", 1):  # one at a time: the arrival order is the test's
        waiters.append(Holder(gate, name))
        await waiters[-1].queued_at(position)

    holder.release.set()
    await waiters[0].entered()
    await waiters[2].queued_at(2)
    waiters[0].release.set()
    await waiters[1].entered()
    await waiters[2].queued_at(1)
    waiters[1].release.set()
    waiters[2].release.set()
    await asyncio.gather(*(w.task for w in [holder, *waiters]))
    assert [w.positions for w in waiters] == [[1], [2, 1], [3, 2, 1]]
    assert holder.positions == []  # admitted at once: never told a position


async def test_a_cancelled_waiter_leaves_the_line_and_those_behind_it_move_up(connect) -> None:
    gate = admission(await connect(), concurrency=1)
    order: list[str] = []
    holder = Holder(gate, "holder", log=order)
    await holder.entered()
    line = []
    for position, name in enumerate("abc", 1):  # one at a time: the arrival order is the test's
        line.append(Holder(gate, name, log=order))
        await line[-1].queued_at(position)
    a, b, c = line

    b.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b.task
    await c.queued_at(2)
    assert (a.positions, gate.waiting) == ([1], 2)
    for h in (holder, a, c):
        h.release.set()
    await asyncio.gather(holder.task, a.task, c.task)
    assert order == ["holder", "a", "c"]
    assert (gate.in_flight, gate.waiting, await gate.snapshot()) == (0, 0, (0, 0))


async def test_an_exception_or_a_cancellation_inside_the_block_frees_the_slot(connect) -> None:
    gate = admission(await connect(), concurrency=1)
    entered = asyncio.Event()

    async def failing() -> None:
        async with gate.admit():
            entered.set()
            raise RuntimeError("provider exploded")

    with pytest.raises(RuntimeError):
        await failing()
    inside = Holder(gate, "inside")
    await inside.entered()
    waiter = Holder(gate, "waiter")
    await waiter.queued_at(1)
    inside.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await inside.task
    await waiter.entered()
    waiter.release.set()
    await waiter.task
    assert entered.is_set() and await gate.snapshot() == (0, 0)


async def test_a_failing_position_callback_takes_its_request_out_of_the_line(connect) -> None:
    gate = admission(await connect(), concurrency=1)
    holder = Holder(gate, "holder")
    await holder.entered()

    async def broken(position: int) -> None:
        raise ConnectionError("the message to edit is gone")

    with pytest.raises(ConnectionError):
        async with gate.admit(on_position=broken):
            pass
    assert (gate.waiting, await gate.snapshot()) == (0, (1, 0))
    holder.release.set()
    await holder.task


async def test_a_later_small_request_never_overtakes_an_earlier_one_that_does_not_fit_yet(connect) -> None:
    time = ManualTime()
    gate = admission(await connect(clock=time.clock), images_per_minute=10, time=time)
    order: list[str] = []
    big = Holder(gate, "big", images=8, log=order)
    await big.entered()
    medium = Holder(gate, "medium", images=4, log=order)
    await medium.queued_at(1)
    small = Holder(gate, "small", images=1, log=order)  # 8 + 1 fits, but "medium" is ahead of it
    await small.queued_at(2)
    time.advance(59.0)
    await eventually(lambda: len(time.sleeps) >= 2, what="the head sleeping on the window again")
    assert not medium.admitted and not small.admitted
    time.advance(1.0)
    await medium.entered()
    await small.entered()
    for holder in (big, medium, small):
        holder.release.set()
    await asyncio.gather(big.task, medium.task, small.task)
    assert order[0] == "big" and sorted(order[1:]) == ["medium", "small"]  # the two noticed in either order
    assert small.positions == [2]  # admitted together with "medium", straight from position 2


async def test_the_third_request_of_four_images_waits_until_sixty_seconds_after_the_first(connect) -> None:
    time = FakeTime(start=1000.0)
    gate = admission(await connect(clock=time.clock), images_per_minute=10, time=time)
    first = Holder(gate, "first", images=4)
    await first.entered()
    time.now = 1010.0
    second = Holder(gate, "second", images=4)
    await second.entered()
    async with gate.admit(images=4):
        admitted_at = time.now
    assert admitted_at == 1060.0
    assert time.sleeps == [50.0]  # straight to the first entry's expiry
    first.release.set()
    second.release.set()
    await asyncio.gather(first.task, second.task)


async def test_a_request_larger_than_the_cap_is_admitted_alone_once_the_window_is_empty(connect) -> None:
    time = FakeTime(start=0.0)
    gate = admission(await connect(clock=time.clock), images_per_minute=5, time=time)
    async with gate.admit(images=2):
        pass
    admitted_at: list[float] = []
    for images in (8, 1):  # 8 > cap: waits for an empty window, then fills it for a minute
        async with gate.admit(images=images):
            admitted_at.append(time.now)
    assert admitted_at == [60.0, 120.0]


async def test_unlimited_admission_admits_every_request_at_once_without_positions(connect) -> None:
    gate = admission(await connect())
    holders = [Holder(gate, str(n), images=1000) for n in range(30)]
    for holder in holders:
        await holder.entered()
    assert gate.in_flight == 30 and all(h.positions == [] for h in holders)
    for h in holders:
        h.release.set()
    await asyncio.gather(*(h.task for h in holders))


async def test_a_held_slot_outlives_its_lease_while_renewed_and_is_freed_when_not(connect) -> None:
    time = ManualTime(start=0.0)
    holder_side = await connect(clock=time.clock, lease_seconds=30.0)
    gate = admission(holder_side, concurrency=1)
    other = admission(await connect(clock=time.clock, lease_seconds=30.0), concurrency=1)
    holder = Holder(gate, "holder")
    await holder.entered()
    time.now = 29.0
    await holder_side.renew_now()  # what the keeper does every lease / 3
    time.now = 45.0  # past the first lease, inside the renewed one
    waiter = Holder(other, "waiter")
    await waiter.queued_at(1)
    assert not waiter.admitted

    holder_side._held.clear()  # the holder stops renewing, as a process that died would
    time.now = 60.0  # 29 + 30 passed: the lease runs out and the next in line gets the slot
    await waiter.entered()
    holder.release.set()
    waiter.release.set()
    await asyncio.gather(holder.task, waiter.task)


async def test_the_keeper_renews_held_leases_on_its_own(connect, redis_namespace: RedisNamespace) -> None:
    coordinator = await connect(lease_seconds=0.3)  # the server's clock; renewed every 0.1 s
    gate = admission(coordinator, concurrency=1)
    holder = Holder(gate, "holder")
    await holder.entered()
    slots = gate._keys[2]
    first = (await coordinator.client.zrange(slots, 0, -1, withscores=True))[0][1]
    expiries: list[float] = []

    async def renewed() -> None:
        while not expiries or expiries[-1] <= first:
            expiries.append((await coordinator.client.zrange(slots, 0, -1, withscores=True))[0][1])
            await asyncio.sleep(0.01)

    await asyncio.wait_for(renewed(), timeout=30)
    assert expiries[-1] > first
    holder.release.set()
    await holder.task


async def test_the_registry_shares_one_admission_per_provider_with_its_caps(coordinator) -> None:
    registry = RedisAdmissionRegistry(coordinator, {"ark": (2, 500), "visual": (1, 0)})
    ark = registry.for_provider("ark")
    assert ark is registry.for_provider("ark") and ark is not registry.for_provider("visual")
    assert (ark.concurrency, ark.images_per_minute) == (2, 500)  # type: ignore[attr-defined]
    assert registry.for_provider("elsewhere").concurrency == 0  # type: ignore[attr-defined]


async def test_a_request_for_no_images_or_a_negative_cap_is_refused(coordinator) -> None:
    with pytest.raises(ValueError):
        async with admission(coordinator).admit(images=0):
            pass
    with pytest.raises(ValueError):
        RedisAdmission(coordinator, "ark", concurrency=-1, images_per_minute=0)


# -- Redis unreachable ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def private_redis(redis_namespace: RedisNamespace, tmp_path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, which the test may stop."""
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        server.kill()
        server.wait(timeout=30)


async def test_connecting_to_a_redis_that_is_not_there_names_the_variable_to_fix() -> None:
    url = f"redis://:secret-password@127.0.0.1:{free_port()}/0"
    with pytest.raises(BackendUnavailableError, match="SEEDREAM_REDIS_URL") as caught:
        await RedisCoordinator.connect(url)
    assert caught.value.variable == "SEEDREAM_REDIS_URL" and "secret-password" not in caught.value.message


async def test_when_redis_stops_new_requests_fail_clearly_and_admitted_ones_finish(private_redis) -> None:
    url, server = private_redis

    async def ping() -> bool:
        try:
            coordinator = await RedisCoordinator.connect(url)
        except BackendUnavailableError:
            return False
        await coordinator.close()
        return True

    async def started() -> None:
        while not await ping():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(started(), timeout=30)
    coordinator = await RedisCoordinator.connect(url, poll_interval=0.05)
    try:
        gate = admission(coordinator, concurrency=2)
        async with gate.admit():
            server.kill()
            server.wait(timeout=30)
            with pytest.raises(BackendUnavailableError, match="SEEDREAM_REDIS_URL"):
                async with gate.admit():
                    pytest.fail("admitted without Redis")
        assert gate.in_flight == 0  # the admitted request finished; its slot would run out with its lease
    finally:
        await coordinator.close()
