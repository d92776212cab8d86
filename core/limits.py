"""Per-provider admission: the provider account's concurrency cap and images-per-minute cap.

Requests over a cap wait here, in strict FIFO order, instead of being rejected upstream (a 429 costs a round
trip and, with Ark, can count against the account). ``Admission`` is the interface; ``AdmissionController``
is the in-process implementation, and a distributed backend (several processes sharing one account) would
implement the same protocol.

Rules:

* Strict FIFO: a later request never overtakes an earlier one, even when it would fit.
* Concurrency: at most ``concurrency`` admitted requests at once (0 = unlimited).
* Images per minute: a request for *n* images is admitted only when the sliding 60-second window (by the
  injected ``clock``) has room for *n* more (0 = unlimited). A request for more images than the cap is
  admitted alone, once the window is empty, so it never deadlocks (it then fills the window for a minute).
* Positions: ``on_position`` is awaited with the initial position (1 = next in line) when a request has to
  wait — never when it is admitted at once — and again whenever its position changes. Changes that happen
  while the callback runs are coalesced into one call with the latest position.
* Leaving the ``admit()`` block (normally, by an exception or by cancellation) frees the slot and wakes the
  next in line; a waiter that is cancelled leaves the queue and those behind it move up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from core.clocks import SecondsClock, Sleep

if TYPE_CHECKING:
    from core.settings import CommonSettings

__all__ = ["Admission", "AdmissionController", "AdmissionRegistry", "Admissions", "PositionCallback",
           "WINDOW_SECONDS"]

PositionCallback = Callable[[int], Awaitable[None]]

#: The images-per-minute window.
WINDOW_SECONDS = 60.0


class Admission(Protocol):
    """Admission to one provider account."""

    def admit(self, *, images: int = 1,
              on_position: PositionCallback | None = None) -> AbstractAsyncContextManager[None]:
        """``async with admission.admit(images=n):`` waits its turn, then holds a slot for the block."""
        ...

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        ...

    @property
    def waiting(self) -> int:
        """Requests in the queue."""
        ...


class Admissions(Protocol):
    """The admission of every provider account: in this process (``AdmissionRegistry``) or shared by every
    process through Redis (``core.limits_redis.RedisAdmissionRegistry``)."""

    def for_provider(self, kind: str) -> Admission:
        """The admission for a provider kind (the same object on every call)."""
        ...


@dataclass(eq=False)
class _Waiter:
    images: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    admitted: bool = False


class AdmissionController:
    """In-process FIFO admission with a concurrency cap and a sliding images-per-minute window."""

    def __init__(self, *, concurrency: int, images_per_minute: int, clock: SecondsClock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        """Caps of 0 mean unlimited. ``clock`` and ``sleep`` drive the window (inject fakes in tests).

        Raises:
            ValueError: a negative cap.
        """
        if concurrency < 0 or images_per_minute < 0:
            raise ValueError("caps must be 0 (unlimited) or positive")
        self.concurrency = concurrency
        self.images_per_minute = images_per_minute
        self._clock = clock
        self._sleep = sleep
        self._queue: deque[_Waiter] = deque()
        self._in_flight = 0
        self._window: deque[tuple[float, int]] = deque()  # (expires_at, images), oldest first
        self._window_images = 0

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Requests in the queue."""
        return len(self._queue)

    @asynccontextmanager
    async def admit(self, *, images: int = 1, on_position: PositionCallback | None = None) -> AsyncIterator[None]:
        """Wait in line for a slot with room for ``images`` in the window; hold it for the block.

        Raises:
            ValueError: ``images`` < 1.
        """
        if images < 1:
            raise ValueError("images must be at least 1")
        await self._acquire(images, on_position)
        try:
            yield
        finally:
            self._in_flight -= 1
            self._capacity_freed()

    async def _acquire(self, images: int, on_position: PositionCallback | None) -> None:
        if not self._queue and self._has_room(images):
            self._take(images)
            return
        waiter = _Waiter(images)
        self._queue.append(waiter)
        try:
            await self._wait_turn(waiter, on_position)
        except BaseException:
            self._abandon(waiter)
            raise

    async def _wait_turn(self, waiter: _Waiter, on_position: PositionCallback | None) -> None:
        announced = 0
        while not waiter.admitted:
            # Clear before looking: a wake-up set after this point is never lost.
            waiter.wake.clear()
            position = self._queue.index(waiter) + 1
            if on_position is not None and position != announced:
                announced = position
                await on_position(position)
                continue  # the line may have moved while the callback ran
            delay = None
            if position == 1:
                self._admit_ready()
                if waiter.admitted:
                    break
                delay = self._window_delay(waiter)
            if delay is None:
                await waiter.wake.wait()
            else:
                # Only the window holds the head back: nothing but time frees it, so sleep, then re-check.
                await self._sleep(delay)
                self._admit_ready()

    def _abandon(self, waiter: _Waiter) -> None:
        if waiter.admitted:
            # Admitted while its task was being cancelled (or while on_position ran): give the slot back.
            self._in_flight -= 1
        else:
            index = self._queue.index(waiter)
            del self._queue[index]
            self._wake_from(index)
        self._capacity_freed()

    def _capacity_freed(self) -> None:
        if not self._admit_ready() and self._queue:
            # A freed slot may leave only the window in the head's way: let it re-check and sleep on that.
            self._queue[0].wake.set()

    def _admit_ready(self) -> int:
        admitted = 0
        while self._queue and self._has_room(self._queue[0].images):
            head = self._queue.popleft()
            self._take(head.images)
            head.admitted = True
            head.wake.set()
            admitted += 1
        if admitted:
            self._wake_from(0)  # everyone moved up (and a new head may have to watch the window)
        return admitted

    def _wake_from(self, index: int) -> None:
        for position, waiter in enumerate(self._queue):
            if position >= index:
                waiter.wake.set()

    def _has_room(self, images: int) -> bool:
        if self.concurrency and self._in_flight >= self.concurrency:
            return False
        if not self.images_per_minute:
            return True
        self._expire()
        return self._window_images == 0 or self._window_images + images <= self.images_per_minute

    def _take(self, images: int) -> None:
        self._in_flight += 1
        if self.images_per_minute:
            self._window.append((self._clock() + WINDOW_SECONDS, images))
            self._window_images += images

    def _expire(self) -> None:
        now = self._clock()
        while self._window and self._window[0][0] <= now:
            self._window_images -= self._window.popleft()[1]

    def _window_delay(self, head: _Waiter) -> float | None:
        """Seconds until the window has room for the head, when only the window holds it back; else None."""
        if not self.images_per_minute or (self.concurrency and self._in_flight >= self.concurrency):
            return None
        self._expire()
        remaining = self._window_images
        for expires_at, images in self._window:
            remaining -= images
            if remaining == 0 or remaining + head.images <= self.images_per_minute:
                return max(expires_at - self._clock(), 0.0)
        return None  # not reached: the head was admitted if the window had room


class AdmissionRegistry:
    """One ``AdmissionController`` per provider kind, shared by every request to that provider account."""

    def __init__(self, limits: Mapping[str, tuple[int, int]], *, clock: SecondsClock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        """``limits`` maps a provider kind to ``(concurrency, images_per_minute)``. Kinds not listed are
        unlimited."""
        self._clock = clock
        self._sleep = sleep
        self._controllers = {kind: self._build(concurrency, ipm) for kind, (concurrency, ipm) in limits.items()}

    @classmethod
    def from_settings(cls, settings: CommonSettings, *, clock: SecondsClock = time.monotonic,
                      sleep: Sleep = asyncio.sleep) -> AdmissionRegistry:
        """One admission per provider the settings configure, with its configured caps."""
        return cls(settings.provider_limits(), clock=clock,
                   sleep=sleep)

    def for_provider(self, kind: str) -> Admission:
        """The admission for a provider kind (the same object on every call)."""
        controller = self._controllers.get(kind)
        if controller is None:
            controller = self._controllers[kind] = self._build(0, 0)
        return controller

    def _build(self, concurrency: int, images_per_minute: int) -> AdmissionController:
        return AdmissionController(concurrency=concurrency, images_per_minute=images_per_minute,
                                   clock=self._clock, sleep=self._sleep)
