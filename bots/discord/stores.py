"""What the bot needs from core's stores, named narrowly (layer 1, pure: no discord.py).

The bot reads and annotates job records (``JobNotes``), keeps daily quota counters (``QuotaCounters``, the
part of core's ``CounterStore`` the policy uses) and one meta value (the command schema it last synced), and
paces each user (core's ``Pace``: cooldown and running-job cap).
``BotBackends.of`` is the one place that decides which objects provide them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

from core.jobs import CounterStore, JobRecord
from core.pace import LocalPace, Pace
from core.service import ImageService

_COUNTER_METHODS = ("reserve_quota", "release_quota", "quota_used", "get_meta", "set_meta")


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


@dataclass(frozen=True)
class BotBackends:
    """The core parts the bot runs on: the image service (plans and runs jobs), its job records, and the
    counters (daily quotas, and the meta value of the last command sync), and the users' pace."""

    service: ImageService
    jobs: JobNotes
    counters: CounterStore
    pace: Pace

    @classmethod
    def of(
        cls, service: ImageService, counters: CounterStore | None = None, pace: Pace | None = None
    ) -> BotBackends:
        """The bot's parts: the service's own job store; ``counters`` and ``pace`` as given (the entry point
        passes the ones ``core.factory.open_backends`` opened, shared by every shard) or else the job store
        when it keeps the counters too, as the embedded store does, and a pace kept in this process.

        Raises:
            TypeError: no counters were given and the job store has none.
        """
        if counters is None:
            store = service.store
            if not all(callable(getattr(store, name, None)) for name in _COUNTER_METHODS):
                raise TypeError("the job store keeps no quota counters: pass counters= to the bot")
            counters = cast(CounterStore, store)
        return cls(
            service=service, jobs=service.store, counters=counters, pace=pace if pace is not None else LocalPace()
        )
