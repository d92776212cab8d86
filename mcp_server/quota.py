"""Each named user's daily image quota (``SEEDREAM_MCP_USER_DAILY_IMAGES``), shared by every replica.

The images a job asks for are reserved in the job store's counters before it starts (atomically across
processes, so a team hammering several replicas at once still gets exactly its quota), and the images it did not
make are given back when its run ends. Quotas reset at midnight UTC. The operator's token (no name) has none.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, timedelta

from core.clocks import utc_now
from core.errors import QuotaExceededError, SeedreamError
from core.jobs import CounterStore, JobStore
from core.results import Generation

log = logging.getLogger(__name__)

VARIABLE = "SEEDREAM_MCP_USER_DAILY_IMAGES"


@dataclass(frozen=True)
class Reservation:
    """Images reserved for one job of ``user`` on ``day``."""

    user: str
    day: str
    images: int


def quota_key(user: str) -> str:
    return f"mcp:user:{user}"


async def reserve(counters: CounterStore, *, user: str, images: int, limit: int) -> Reservation:
    """Reserve ``images`` of ``user``'s quota for today.

    Raises:
        QuotaExceededError: the user has fewer than ``images`` left today (the message says how many and when
            the quota resets).
    """
    now = utc_now()
    day = now.astimezone(UTC).date().isoformat()
    if await counters.reserve_quota(key=quota_key(user), day=day, amount=images, limit=limit):
        return Reservation(user=user, day=day, images=images)
    used = await counters.quota_used(key=quota_key(user), day=day)
    reset = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    hours = max(1, round((reset - now).total_seconds() / 3600))
    left = max(0, limit - used)
    raise QuotaExceededError(
        f"{user} has {left} of {limit} images left today ({VARIABLE}) and this asks for {images}. "
        f"Ask for fewer, or wait for the quota to reset at 00:00 UTC (in about {hours} h).",
        retry_after=(reset - now).total_seconds(),
    )


def settle_when_done(counters: CounterStore, store: JobStore, reservation: Reservation, *, job_id: str,
                     task: asyncio.Task[Generation]) -> None:
    """When the job's run ends (finished, failed or cancelled), give back the images it did not save."""

    def done(_finished: asyncio.Task[Generation]) -> None:
        settling = asyncio.get_running_loop().create_task(_give_back_unused(counters, store, reservation, job_id))
        _SETTLING.add(settling)
        settling.add_done_callback(_SETTLING.discard)

    task.add_done_callback(done)


async def give_back(counters: CounterStore, reservation: Reservation, images: int) -> None:
    """Return ``images`` of ``reservation`` (never fails the caller: a quota left too full is the lesser harm)."""
    if images <= 0:
        return
    try:
        await counters.release_quota(key=quota_key(reservation.user), day=reservation.day, amount=images)
    except SeedreamError as exc:
        log.warning("could not give back %d image(s) of %s's quota: %s", images, reservation.user, exc.message)


async def _give_back_unused(counters: CounterStore, store: JobStore, reservation: Reservation, job_id: str) -> None:
    try:
        saved = len((await store.get(job_id)).images)
    except SeedreamError as exc:
        log.warning("could not read job %s to settle its quota: %s", job_id, exc.message)
        return
    await give_back(counters, reservation, reservation.images - saved)


_SETTLING: set[asyncio.Task[None]] = set()  # keeps the give-backs alive until they finish
