"""What the bot needs from the job store, named narrowly (layer 1, pure: no discord.py).

The bot reads and annotates job records, keeps daily quota counters and one piece of meta (the command schema
it last synced). These protocols say exactly that, so the bot never depends on a store's other methods and
``ImageBot`` is the one place that decides which object provides them (see ``BotBackends``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.jobs import JobRecord
from core.service import ImageService


class JobNotes(Protocol):
    """Job records: read them, and note Discord facts on them (messages posted, spoiler, deletion)."""

    async def get(self, job_id: str) -> JobRecord: ...

    async def list_jobs(
        self, *, user_id: str | None = None, adapter: str | None = None, limit: int = 20
    ) -> list[JobRecord]: ...

    async def set_extra(self, job_id: str, key: str, value: Any) -> None: ...


class QuotaCounters(Protocol):
    """Daily counters, reserved atomically (safe across processes sharing the store)."""

    async def reserve_quota(self, *, key: str, day: str, amount: int, limit: int) -> bool: ...

    async def release_quota(self, *, key: str, day: str, amount: int) -> None: ...

    async def quota_used(self, *, key: str, day: str) -> int: ...


class MetaStore(Protocol):
    """Small named values that outlive the process."""

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


class Counters(QuotaCounters, MetaStore, Protocol):
    """The quota counters and the meta values (one store provides both)."""


@dataclass(frozen=True)
class BotBackends:
    """The core parts the bot runs on: the image service (plans and runs jobs), the job notes and the
    counters."""

    service: ImageService
    jobs: JobNotes
    counters: Counters

    @classmethod
    def of(cls, service: ImageService) -> BotBackends:
        """Today's image service keeps jobs, quotas and meta in its one job store."""
        return cls(service=service, jobs=service.store, counters=service.store)
