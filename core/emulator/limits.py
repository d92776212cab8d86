"""Account caps of an emulated provider: requests in flight, and images per minute in a sliding 60 s window of
the configured clock. A request over a cap is refused at once with 429, as the real services do."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from core.emulator.ark_errors import ArkError
from core.emulator.state import EmulatorState

WINDOW_SECONDS = 60.0

# Ark's documented limit on concurrent in-flight requests is "Inflight Batchsize" (ModelArk rate-limit docs),
# so an account over its concurrency cap gets that metric's code.
CONCURRENCY_CODE = "InflightBatchsizeExceeded"
IPM_CODE = "ModelAccountIpmRateLimitExceeded"


@dataclass
class InFlightSlot:
    """An admitted request; ``release()`` (idempotent) frees its in-flight slot."""

    limits: AccountLimits
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limits.state.in_flight[self.limits.provider] -= 1


@dataclass
class AccountLimits:
    """One provider account's caps (0 = none), read from the config at each request so tests may change them.
    In-flight requests are counted in ``state.in_flight[provider]`` (held requests included)."""

    state: EmulatorState
    provider: str
    concurrency: Callable[[], int]
    images_per_minute: Callable[[], int] = lambda: 0
    concurrency_error: Callable[[], ArkError] | None = None
    _window: deque[tuple[float, int]] = field(default_factory=deque)

    def admit(self, images: int) -> InFlightSlot:
        """Take an in-flight slot and book ``images`` in the IPM window.

        Raises:
            ArkError: 429 — concurrency cap reached, or the images would exceed the per-minute cap
                (with ``Retry-After``: the seconds until enough of the window has expired).
        """
        try:
            self._check(images)
        except ArkError:
            self.state.rejected[self.provider] += 1
            raise
        in_flight = self.state.in_flight
        in_flight[self.provider] += 1
        self.state.peak_in_flight[self.provider] = max(self.state.peak_in_flight[self.provider],
                                                       in_flight[self.provider])
        return InFlightSlot(self)

    def _check(self, images: int) -> None:
        cap = self.concurrency()
        if cap and self.state.in_flight[self.provider] >= cap:
            raise (self.concurrency_error or _concurrency_error)()
        ipm = self.images_per_minute()
        if ipm:
            self._book(images, ipm)

    def _book(self, images: int, ipm: int) -> None:
        now = self.state.config.clock()
        while self._window and self._window[0][0] <= now - WINDOW_SECONDS:
            self._window.popleft()
        used = sum(n for _, n in self._window)
        if used + images > ipm:
            raise ArkError(429, IPM_CODE, "The IPM (Images Per Minute) limit of the model for your account "
                           f"has been exceeded ({ipm} images per minute).",
                           headers={"Retry-After": str(self._retry_after(images, ipm, now))})
        self._window.append((now, images))

    def _retry_after(self, images: int, ipm: int, now: float) -> int:
        """Whole seconds until the entries still in the window leave enough room for ``images``."""
        remaining = sum(n for _, n in self._window)
        for stamp, n in self._window:
            remaining -= n
            if remaining + images <= ipm:
                return max(1, math.ceil(stamp + WINDOW_SECONDS - now))
        return math.ceil(WINDOW_SECONDS)


def _concurrency_error() -> ArkError:
    return ArkError(429, CONCURRENCY_CODE, "The number of concurrent in-flight requests of your account for "
                    "this model has exceeded the limit.")
