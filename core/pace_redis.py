"""``Pace`` on Redis (``RedisPace``): per-person cooldowns and running-job caps shared by every process (bot
shards, replicas), each start decided and marked in one Lua script; see ``core.pace`` for the interface."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from core.pace import PaceGrant, PaceRefusal, PaceStatus
from core.redis_coord import LUA_NOW, RedisCoordinator

__all__ = ["RedisPace"]

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
