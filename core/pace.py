"""Per-person pacing: a cooldown between starts and a cap on jobs running at once.

``Pace`` is the interface (the Discord bot's gatekeeper uses it for each user); ``LocalPace`` keeps the
state in this process, ``core.pace_redis.RedisPace`` in Redis, shared by every process (bot shards,
replicas). A start is decided and marked atomically (one Lua script on Redis), so two presses at once — in
one process or in two — never both pass a cap of one. On Redis each running job is a lease the process
renews, so the jobs of a process that died stop counting within the lease.

Daily quotas are not here: they are durable counters in the job database (``reserve_quota``).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

__all__ = ["LocalPace", "Pace", "PaceGrant", "PaceRefusal", "PaceStatus"]


@dataclass(frozen=True)
class PaceGrant:
    """A start that passed: it holds one running-job slot until ``done`` (or ``undo``)."""

    subject: str
    token: str
    started_at: datetime
    previous_start: datetime | None  # restored by ``undo``
    cooldown: float = 0.0


@dataclass(frozen=True)
class PaceRefusal:
    """Why not now: the cooldown runs until ``retry_at``, or ``active`` jobs already run."""

    reason: Literal["cooldown", "concurrency"]
    active: int
    retry_at: datetime | None = None


@dataclass(frozen=True)
class PaceStatus:
    """What ``/quota`` shows about pace."""

    cooldown_until: datetime | None
    active: int


class Pace(Protocol):
    """Cooldowns and running-job caps per subject (e.g. ``discord:user:123``)."""

    async def start(self, subject: str, *, now: datetime, cooldown: float,
                    max_active: int) -> PaceGrant | PaceRefusal:
        """Check the cooldown (seconds, 0 = none) and the cap (0 = none) and, if both pass, mark the start."""
        ...

    async def undo(self, grant: PaceGrant) -> None:
        """The job never ran (refused later on): free its slot and put the previous start back."""
        ...

    async def done(self, grant: PaceGrant) -> None:
        """The job ended: free its slot (the cooldown stays)."""
        ...

    async def status(self, subject: str, *, now: datetime, cooldown: float) -> PaceStatus:
        """The cooldown's end (if still running) and the number of running jobs."""
        ...


class LocalPace:
    """``Pace`` in this process (the embedded default)."""

    def __init__(self) -> None:
        self._last_start: dict[str, datetime] = {}
        self._active: defaultdict[str, set[str]] = defaultdict(set)

    async def start(self, subject: str, *, now: datetime, cooldown: float,
                    max_active: int) -> PaceGrant | PaceRefusal:
        """See ``Pace.start``; no ``await`` between the checks and the marks, so concurrent starts are safe."""
        last, active = self._last_start.get(subject), self._active[subject]
        if cooldown and last is not None and now < last + timedelta(seconds=cooldown):
            return PaceRefusal("cooldown", len(active), last + timedelta(seconds=cooldown))
        if max_active and len(active) >= max_active:
            return PaceRefusal("concurrency", len(active))
        grant = PaceGrant(subject, secrets.token_hex(8), now, last, cooldown)
        self._last_start[subject] = now
        active.add(grant.token)
        return grant

    async def undo(self, grant: PaceGrant) -> None:
        """See ``Pace.undo``."""
        await self.done(grant)
        if self._last_start.get(grant.subject) == grant.started_at:
            if grant.previous_start is None:
                self._last_start.pop(grant.subject, None)
            else:
                self._last_start[grant.subject] = grant.previous_start

    async def done(self, grant: PaceGrant) -> None:
        """See ``Pace.done`` (idempotent)."""
        self._active[grant.subject].discard(grant.token)

    async def status(self, subject: str, *, now: datetime, cooldown: float) -> PaceStatus:
        """See ``Pace.status``."""
        last = self._last_start.get(subject)
        until = last + timedelta(seconds=cooldown) if last is not None and cooldown else None
        return PaceStatus(until if until and until > now else None, len(self._active[subject]))
