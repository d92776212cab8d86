"""A separate process that takes part in shared admission: ``python -m tests.core.redis_child URL PREFIX CAP
CLOCK LEASE RENEW``. It asks for one slot, prints ``position N`` while it waits and ``admitted`` once in,
holds the slot until a line arrives on stdin, then prints ``released`` and exits.

``CLOCK`` is ``server`` (Redis's own time) or the path of a ``FileClock`` shared with the test.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.limits_redis import RedisAdmission
from core.redis_coord import RedisCoordinator


class FileClock:
    """Fake time that several processes share: the test writes the reading to a file."""

    def __init__(self, path: Path, start: float = 1000.0) -> None:
        self.path = path
        if not path.exists():
            self.set(start)

    def __call__(self) -> float:
        return float(self.path.read_text())

    def set(self, now: float) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(repr(now))
        temporary.replace(self.path)  # readers never see a half-written number


async def main(url: str, prefix: str, cap: int, clock: str, lease: float, renew: float) -> None:
    coordinator = await RedisCoordinator.connect(
        url, prefix=prefix, lease_seconds=lease, renew_every=renew, poll_interval=0.05,
        clock=None if clock == "server" else FileClock(Path(clock)))

    async def on_position(position: int) -> None:
        print(f"position {position}", flush=True)

    try:
        async with RedisAdmission(coordinator, "ark", concurrency=cap, images_per_minute=0).admit(
                on_position=on_position):
            print("admitted", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
        print("released", flush=True)
    finally:
        await coordinator.close()


if __name__ == "__main__":
    url, prefix, cap, clock, lease, renew = sys.argv[1:7]
    asyncio.run(main(url, prefix, int(cap), clock, float(lease), float(renew)))
