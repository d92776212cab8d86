"""Admission control: FIFO, concurrency cap, images-per-minute window, positions, cancellation.

Time is fake: ``FakeTime.sleep`` advances ``FakeTime.now`` instead of waiting, and work is held open with
``asyncio.Event``s, so nothing here waits on the wall clock.
"""

from __future__ import annotations

import asyncio

import pytest

from core.limits import AdmissionController, AdmissionRegistry
from core.settings import Settings


class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class ManualTime(FakeTime):
    """Time moves only when the test calls ``advance``; a sleeper wakes once its deadline has passed."""

    def __init__(self, start: float = 1000.0) -> None:
        super().__init__(start)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, woken))
        await woken

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, woken in self._sleepers:
            if deadline <= self.now and not woken.done():
                woken.set_result(None)


async def settle(rounds: int = 50) -> None:
    """Let every runnable task run until it blocks (yields to the loop; no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def controller(*, concurrency: int = 0, images_per_minute: int = 0,
               time: FakeTime | None = None) -> AdmissionController:
    time = time or FakeTime()
    return AdmissionController(concurrency=concurrency, images_per_minute=images_per_minute,
                               clock=time.clock, sleep=time.sleep)


class Holder:
    """A request that enters admission and stays inside until released."""

    def __init__(self, admission: AdmissionController, name: str, *, images: int = 1,
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


async def test_in_flight_never_exceeds_the_concurrency_cap_with_forty_concurrent_requests() -> None:
    admission = controller(concurrency=3)
    current = peak = done = 0

    async def work() -> None:
        nonlocal current, peak, done
        async with admission.admit():
            current += 1
            peak = max(peak, current)
            await settle(3)
            current -= 1
        done += 1

    await asyncio.gather(*(work() for _ in range(40)))
    assert (peak, done, admission.in_flight, admission.waiting) == (3, 40, 0, 0)


async def test_waiting_requests_are_admitted_in_arrival_order() -> None:
    admission = controller(concurrency=1)
    order: list[str] = []
    first = Holder(admission, "first", log=order)
    await settle()
    waiters = []
    for n in range(8):
        waiters.append(Holder(admission, f"w{n}", log=order))
        await settle()
    assert admission.waiting == 8
    first.release.set()
    for waiter in waiters:
        waiter.release.set()
    await asyncio.gather(first.task, *(w.task for w in waiters))
    assert order == ["first"] + [f"w{n}" for n in range(8)]


async def test_a_later_small_request_never_overtakes_an_earlier_one_that_does_not_fit_yet() -> None:
    time = ManualTime()
    admission = controller(images_per_minute=10, time=time)
    order: list[str] = []
    big = Holder(admission, "big", images=8, log=order)
    await settle()
    medium = Holder(admission, "medium", images=4, log=order)
    await settle()
    small = Holder(admission, "small", images=1, log=order)  # 8 + 1 fits, but "medium" is ahead of it
    await settle()
    time.advance(59.0)
    await settle()
    assert not medium.admitted and not small.admitted
    time.advance(1.0)
    await settle()
    assert medium.admitted and small.admitted
    for holder in (big, medium, small):
        holder.release.set()
    await asyncio.gather(big.task, medium.task, small.task)
    assert order == ["big", "medium", "small"]
    assert small.positions == [2]  # admitted together with "medium", straight from position 2


async def test_waiters_hear_their_position_and_move_up_as_each_one_ahead_finishes() -> None:
    admission = controller(concurrency=1)
    holder = Holder(admission, "holder")
    await settle()
    waiters = []
    for name in ("a", "b", "c"):
        waiters.append(Holder(admission, name))
        await settle()
    assert [w.positions for w in waiters] == [[1], [2], [3]]

    holder.release.set()
    await settle()
    assert [w.positions for w in waiters] == [[1], [2, 1], [3, 2]]
    waiters[0].release.set()
    await settle()
    assert [w.positions for w in waiters] == [[1], [2, 1], [3, 2, 1]]
    waiters[1].release.set()
    waiters[2].release.set()
    await asyncio.gather(*(w.task for w in [holder, *waiters]))
    assert holder.positions == []  # admitted at once: never told a position


async def test_a_cancelled_waiter_leaves_the_line_and_those_behind_it_move_up() -> None:
    admission = controller(concurrency=1)
    order: list[str] = []
    holder = Holder(admission, "holder", log=order)
    await settle()
    a, b, c = (Holder(admission, name, log=order) for name in "abc")
    await settle()
    assert c.positions == [3]

    b.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b.task
    await settle()
    assert admission.waiting == 2
    assert c.positions == [3, 2]
    assert a.positions == [1]

    for h in (holder, a, c):
        h.release.set()
    await asyncio.gather(holder.task, a.task, c.task)
    assert order == ["holder", "a", "c"]
    assert (admission.in_flight, admission.waiting) == (0, 0)


async def test_cancelling_the_head_of_the_line_lets_the_next_one_in_when_a_slot_is_free() -> None:
    time = FakeTime()
    admission = controller(concurrency=2, images_per_minute=4, time=time)
    first = Holder(admission, "first", images=3)
    await settle()
    head = Holder(admission, "head", images=2)  # waits for the window (3 + 2 > 4)
    await settle()
    behind = Holder(admission, "behind", images=1)
    await settle()
    assert not behind.admitted

    head.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await head.task
    await settle()
    assert behind.admitted  # 3 + 1 fits and a slot is free
    first.release.set()
    behind.release.set()
    await asyncio.gather(first.task, behind.task)


async def test_an_exception_inside_the_block_frees_the_slot_for_the_next_in_line() -> None:
    admission = controller(concurrency=1)
    entered = asyncio.Event()
    fail = asyncio.Event()

    async def failing() -> None:
        async with admission.admit():
            entered.set()
            await fail.wait()
            raise RuntimeError("provider exploded")

    task = asyncio.create_task(failing())
    await entered.wait()
    waiter = Holder(admission, "waiter")
    await settle()
    assert not waiter.admitted
    fail.set()
    with pytest.raises(RuntimeError):
        await task
    await settle()
    assert waiter.admitted and admission.in_flight == 1
    waiter.release.set()
    await waiter.task
    assert admission.in_flight == 0


async def test_cancelling_a_request_inside_the_block_frees_its_slot() -> None:
    admission = controller(concurrency=1)
    inside = Holder(admission, "inside")
    await settle()
    waiter = Holder(admission, "waiter")
    await settle()
    inside.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await inside.task
    await settle()
    assert waiter.admitted
    waiter.release.set()
    await waiter.task


async def test_a_failing_position_callback_takes_its_request_out_of_the_line() -> None:
    admission = controller(concurrency=1)
    holder = Holder(admission, "holder")
    await settle()

    async def broken(position: int) -> None:
        raise ConnectionError("the message to edit is gone")

    with pytest.raises(ConnectionError):
        async with admission.admit(on_position=broken):
            pass
    assert (admission.waiting, admission.in_flight) == (0, 1)
    holder.release.set()
    await holder.task


async def test_the_third_request_of_four_images_waits_until_sixty_seconds_after_the_first() -> None:
    time = FakeTime(start=1000.0)
    admission = controller(images_per_minute=10, time=time)
    first = Holder(admission, "first", images=4)
    await settle()
    time.now = 1010.0
    second = Holder(admission, "second", images=4)
    await settle()
    admitted_at: list[float] = []

    async def third() -> None:
        async with admission.admit(images=4):
            admitted_at.append(time.now)

    await third()
    assert admitted_at == [1060.0]
    assert time.sleeps == [50.0]  # one sleep, straight to the first entry's expiry: no polling
    first.release.set()
    second.release.set()
    await asyncio.gather(first.task, second.task)


async def test_a_request_larger_than_the_cap_is_admitted_alone_once_the_window_is_empty() -> None:
    time = FakeTime(start=0.0)
    admission = controller(images_per_minute=5, time=time)
    async with admission.admit(images=2):
        pass
    admitted_at: list[float] = []
    for images in (8, 1):  # 8 > cap: waits for an empty window, then fills it for a minute
        async with admission.admit(images=images):
            admitted_at.append(time.now)
    assert admitted_at == [60.0, 120.0]


async def test_a_head_blocked_by_both_caps_waits_for_the_window_after_a_slot_frees() -> None:
    time = FakeTime(start=0.0)
    admission = controller(concurrency=1, images_per_minute=4, time=time)
    first = Holder(admission, "first", images=4)
    await settle()
    second = Holder(admission, "second", images=1)
    await settle()
    time.now = 10.0
    first.release.set()
    await first.task
    await settle()
    assert second.admitted and time.now == 60.0
    second.release.set()
    await second.task


async def test_unlimited_admission_admits_every_request_at_once_without_positions() -> None:
    admission = controller()
    holders = [Holder(admission, str(n), images=1000) for n in range(100)]
    await settle()
    assert all(h.admitted for h in holders)
    assert (admission.in_flight, admission.waiting) == (100, 0)
    assert all(h.positions == [] for h in holders)
    for h in holders:
        h.release.set()
    await asyncio.gather(*(h.task for h in holders))


async def test_a_request_for_no_images_is_refused() -> None:
    with pytest.raises(ValueError):
        async with controller().admit(images=0):
            pass


def test_a_negative_cap_is_refused() -> None:
    with pytest.raises(ValueError):
        AdmissionController(concurrency=-1, images_per_minute=0)


async def test_the_registry_shares_one_controller_per_provider_with_its_caps() -> None:
    registry = AdmissionRegistry({"ark": (2, 500), "visual": (1, 0)})
    ark = registry.for_provider("ark")
    assert ark is registry.for_provider("ark")
    assert ark is not registry.for_provider("visual")
    assert (ark.concurrency, ark.images_per_minute) == (2, 500)  # type: ignore[attr-defined]
    unknown = registry.for_provider("elsewhere")
    assert (unknown.concurrency, unknown.images_per_minute) == (0, 0)  # type: ignore[attr-defined]


async def test_the_registry_built_from_settings_uses_each_providers_configured_caps() -> None:
    settings = Settings(ark_concurrency=7, ark_images_per_minute=70, visual_concurrency=1)
    registry = AdmissionRegistry.from_settings(settings)
    ark, visual = registry.for_provider("ark"), registry.for_provider("visual")
    assert (ark.concurrency, ark.images_per_minute) == (7, 70)  # type: ignore[attr-defined]
    assert visual.concurrency == 1  # type: ignore[attr-defined]
