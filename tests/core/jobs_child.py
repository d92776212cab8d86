"""A separate process using the same job database: ``python -m tests.core.jobs_child URL MODE [N]``.

Modes: ``exit`` (create a running job with one image, print its id, exit), ``wait`` (the same, then wait for
a line on stdin), ``quota N`` (print ``ready``, wait for a line, make N concurrent reservations against a
limit of 10, print how many were granted).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.jobs import Requester
from core.jobs_sql import SqlJobStore
from core.results import GeneratedImage


async def jobs(url: str, mode: str) -> None:
    async with SqlJobStore.open(url) as store:
        job = await store.create(requester=Requester(adapter="test"), request={}, parameters={},
                                 provider="ark", model="m", prompt="child")
        await store.mark_running(job.id)
        await store.add_image(job.id, GeneratedImage(index=0, path=Path("/tmp/x.png"), width=1, height=1,
                                                     bytes=1, format="png", model="m", provider="ark"))
        print(job.id, flush=True)
        if mode == "wait":
            await asyncio.to_thread(sys.stdin.readline)


async def quota(url: str, attempts: int) -> None:
    async with SqlJobStore.open(url) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(*(store.reserve_quota(key="user:1", day="2025-01-01", amount=1, limit=10)
                                         for _ in range(attempts)))
        print(sum(results), flush=True)


if __name__ == "__main__":
    url, mode = sys.argv[1], sys.argv[2]
    asyncio.run(quota(url, int(sys.argv[3])) if mode == "quota" else jobs(url, mode))
