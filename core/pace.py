"""Per-person pacing: a cooldown between starts and a cap on jobs running at once.

``Pace`` is the interface (the Discord bot's gatekeeper uses it for each user); ``LocalPace`` keeps the
state in this process, ``RedisPace`` in Redis, shared by every process (bot shards, replicas). A start is
decided and marked atomically (one Lua script on Redis), so two presses at once — in one process or in two —
never both pass a cap of one. On Redis each running job is a lease the process renews, so the jobs of a
process that died stop counting within the lease.

Daily quotas are not here: they are durable counters in the job database (``reserve_quota``).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from core.redis_coord import LUA_NOW, RedisCoordinator

__all__ = ["LocalPace", "Pace", "PaceGrant", "PaceRefusal", "PaceStatus", "RedisPace"]


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


# KEYS: last start, active set. ARGV: now (leases), started (epoch s), cooldown, max active, lease, token.
_START = LUA_NOW + """
local last_key, active = KEYS[1], KEYS[2]
local now, started = now_of(ARGV[1]), tonumber(ARGV[2])
local cooldown, max_active, lease, token = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
local count = redis.call('ZCARD', active)
local last = redis.call('GET', last_key)
if cooldown > 0 and last and started < tonumber(last) + cooldown then
  return {'cooldown', count, tostring(tonumber(last) + cooldown)}
end
if max_active > 0 and count >= max_active then return {'concurrency', count, ''} end
-- The key outlives the cooldown by a day (a tidy-up only: the check above compares times).
redis.call('SET', last_key, ARGV[2], 'EX', math.ceil(cooldown) + 86400)
redis.call('ZADD', active, now + lease, token)
return {'ok', count + 1, last or ''}
"""

# KEYS: last start, active set. ARGV: token, started (epoch s), previous start ('' = none), cooldown.
_UNDO = """
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[2] then
  local previous, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4])
  local left = previous and (previous + cooldown - tonumber(ARGV[2])) or 0
  if left > 0 then
    redis.call('SET', KEYS[1], ARGV[3], 'EX', math.ceil(left) + 86400)
  else
    redis.call('DEL', KEYS[1])
  end
end
return 1
"""

# KEYS: last start, active set. ARGV: now (leases).
_STATUS = LUA_NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_of(ARGV[1]))
return {redis.call('GET', KEYS[1]) or '', redis.call('ZCARD', KEYS[2])}
"""


class RedisPace:
    """``Pace`` shared through Redis by every process using the same coordinator prefix."""

    def __init__(self, coordinator: RedisCoordinator) -> None:
        self._redis = coordinator
        client = coordinator.client
        self._start, self._undo, self._status = (client.register_script(s) for s in (_START, _UNDO, _STATUS))

    def _keys(self, subject: str) -> list[str]:
        return [self._redis.key("pace", subject, "last"), self._redis.key("pace", subject, "active")]

    async def start(self, subject: str, *, now: datetime, cooldown: float,
                    max_active: int) -> PaceGrant | PaceRefusal:
        """See ``Pace.start``. Raises BackendUnavailableError."""
        token = secrets.token_hex(8)
        keys = self._keys(subject)
        self._redis.hold(keys[1], token)  # before the script: no renewal is missed if it admits
        try:
            verdict, active, extra = await self._redis.run(
                self._start, keys, [self._redis.now_arg(), repr(now.timestamp()), cooldown, max_active,
                                    self._redis.lease_seconds, token])
        except BaseException:
            self._redis.release(keys[1], token)
            raise
        if verdict != "ok":
            self._redis.release(keys[1], token)
            retry_at = _from_epoch(extra) if verdict == "cooldown" else None
            return PaceRefusal(verdict, int(active), retry_at)
        return PaceGrant(subject, token, now, _from_epoch(extra) if extra else None, cooldown)

    async def undo(self, grant: PaceGrant) -> None:
        """See ``Pace.undo``. Raises BackendUnavailableError (the slot then runs out with its lease)."""
        keys = self._keys(grant.subject)
        self._redis.release(keys[1], grant.token)
        previous = repr(grant.previous_start.timestamp()) if grant.previous_start else ""
        await self._redis.run(self._undo, keys, [grant.token, repr(grant.started_at.timestamp()), previous,
                                                 grant.cooldown])

    async def done(self, grant: PaceGrant) -> None:
        """See ``Pace.done``. Raises BackendUnavailableError (the slot then runs out with its lease)."""
        keys = self._keys(grant.subject)
        self._redis.release(keys[1], grant.token)
        await self._redis.call(self._redis.client.zrem(keys[1], grant.token))

    async def status(self, subject: str, *, now: datetime, cooldown: float) -> PaceStatus:
        """See ``Pace.status``. Raises BackendUnavailableError."""
        last, active = await self._redis.run(self._status, self._keys(subject), [self._redis.now_arg()])
        until = _from_epoch(last) + timedelta(seconds=cooldown) if last and cooldown else None
        return PaceStatus(until if until and until > now else None, int(active))


def _from_epoch(text: str) -> datetime:
    return datetime.fromtimestamp(float(text), UTC)
