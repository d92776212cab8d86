"""Shared admission on Redis: one provider account's caps enforced across every process that uses it.

``RedisAdmission`` implements ``core.limits.Admission`` with the same rules as the in-process
``AdmissionController`` (strict FIFO, concurrency cap, sliding images-per-minute window, ``on_position``
semantics, cancellation leaves the line), but the line and the slots live in Redis, so every process with the
same Redis and ``prefix`` shares them. Each decision is one server-side Lua script, hence atomic:

* ``queue`` (sorted set, ticket → arrival number) is the line; ``tickets`` (ticket → lease expiry) and
  ``sizes`` (ticket → images) describe who waits. ``slots`` (ticket → lease expiry) are the admitted
  requests; ``window`` (``ticket:images`` → admission time) is the images-per-minute window.
* Every script first drops what has run out (slots and tickets whose lease passed, window entries older than
  60 s), then admits heads of the line while they fit — on behalf of whichever process queued them — and
  publishes on the admission's channel when anything moved.
* Tickets and slots are leases renewed by the process's ``RedisCoordinator``; a process that dies
  (SIGKILL, machine gone) stops renewing, and its slots and queued tickets drop out within the lease.
* Waiters sleep on the channel (pub/sub), re-checking at least every ``poll_interval`` (a lease running out
  publishes nothing), or until the window has room when only the window holds the head back.

Redis unreachable: ``admit()`` raises ``BackendUnavailableError`` within about two seconds; a request already
admitted runs on (its slot is released when Redis is back, or runs out with its lease).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from core.clocks import Sleep
from core.errors import BackendUnavailableError
from core.limits import WINDOW_SECONDS, Admission, PositionCallback
from core.redis_coord import LUA_NOW, RedisCoordinator

__all__ = ["RedisAdmission", "RedisAdmissionRegistry"]

log = logging.getLogger(__name__)

# KEYS: queue, tickets, slots, window, sizes, seq. ARGV: now, concurrency, images/minute, channel, lease, ...
_COMMON = LUA_NOW + """
local queue, tickets, slots, window, sizes, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = now_of(ARGV[1])
local concurrency, ipm, channel, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local WINDOW = __WINDOW__
local moved = false

local function images_of(entry) return tonumber(string.match(entry, ':(%d+)$')) end

local function purge()
  if redis.call('ZREMRANGEBYSCORE', slots, '-inf', now) > 0 then moved = true end
  local dead = redis.call('ZRANGEBYSCORE', tickets, '-inf', now)
  for _, ticket in ipairs(dead) do
    redis.call('ZREM', queue, ticket); redis.call('ZREM', tickets, ticket); redis.call('HDEL', sizes, ticket)
    moved = true
  end
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now - WINDOW)
end

local function window_images()
  local total = 0
  for _, entry in ipairs(redis.call('ZRANGE', window, 0, -1)) do total = total + images_of(entry) end
  return total
end

local function slots_full()
  return concurrency > 0 and redis.call('ZCARD', slots) >= concurrency
end

local function has_room(images)
  if slots_full() then return false end
  if ipm == 0 then return true end
  local used = window_images()
  return used == 0 or used + images <= ipm
end

local function take(ticket, images)
  redis.call('ZADD', slots, now + lease, ticket)
  if ipm > 0 then redis.call('ZADD', window, now, ticket .. ':' .. images) end
end

local function unqueue(ticket)
  local removed = redis.call('ZREM', queue, ticket)
  redis.call('ZREM', tickets, ticket); redis.call('HDEL', sizes, ticket)
  return removed
end

local function admit_ready()
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then return end
    local images = tonumber(redis.call('HGET', sizes, head))
    if not has_room(images) then return end
    unqueue(head)
    take(head, images)
    moved = true
  end
end

-- Seconds until the window has room for the head, when only the window holds it back; -1 otherwise.
local function window_delay(images)
  if ipm == 0 or slots_full() then return -1 end
  local entries = redis.call('ZRANGE', window, 0, -1, 'WITHSCORES')
  local remaining = window_images()
  for i = 1, #entries, 2 do
    remaining = remaining - images_of(entries[i])
    if remaining == 0 or remaining + images <= ipm then return math.max(tonumber(entries[i + 1]) + WINDOW - now, 0) end
  end
  return -1
end

-- {status, position, window delay, in flight, waiting}; status 1 admitted, 0 waiting, -1 gone.
local function state_of(ticket)
  if moved then redis.call('PUBLISH', channel, '1') end
  local in_flight, waiting = redis.call('ZCARD', slots), redis.call('ZCARD', queue)
  if redis.call('ZSCORE', slots, ticket) then return {1, 0, '-1', in_flight, waiting} end
  local rank = redis.call('ZRANK', queue, ticket)
  if not rank then return {-1, 0, '-1', in_flight, waiting} end
  local delay = -1
  if rank == 0 then delay = window_delay(tonumber(redis.call('HGET', sizes, ticket))) end
  return {0, rank + 1, tostring(delay), in_flight, waiting}
end
""".replace("__WINDOW__", repr(WINDOW_SECONDS))

# ARGV[6]: ticket, ARGV[7]: images. Join the line (or walk straight in when nobody waits and it fits).
_ENTER = _COMMON + """
local ticket, images = ARGV[6], tonumber(ARGV[7])
purge()
admit_ready()
if redis.call('ZCARD', queue) == 0 and has_room(images) then
  take(ticket, images)
else
  redis.call('ZADD', queue, redis.call('INCR', seq), ticket)
  redis.call('ZADD', tickets, now + lease, ticket)
  redis.call('HSET', sizes, ticket, images)
end
return state_of(ticket)
"""

# ARGV[6]: ticket. Look again: drop what ran out, admit what fits, say where the ticket stands.
_POLL = _COMMON + """
purge()
admit_ready()
return state_of(ARGV[6])
"""

# ARGV[6..]: tickets (one process's waiters). One look for all of them: {state of each}.
_POLL_MANY = _COMMON + """
purge()
admit_ready()
local states = {}
for i = 6, #ARGV do
  states[#states + 1] = state_of(ARGV[i])
  moved = false  -- published once
end
return states
"""

# ARGV[6]: ticket. Leave: out of the line if waiting, out of the slots if admitted; the next ones move up.
_LEAVE = _COMMON + """
local ticket = ARGV[6]
purge()
if unqueue(ticket) > 0 then moved = true end
if redis.call('ZREM', slots, ticket) > 0 then moved = true end
admit_ready()
return state_of(ticket)
"""


@dataclass(frozen=True)
class _State:
    status: int  # 1 admitted, 0 waiting, -1 gone (its lease ran out)
    position: int
    window_delay: float | None
    in_flight: int
    waiting: int

    @classmethod
    def parse(cls, reply: list[object]) -> _State:
        status, position, delay, in_flight, waiting = reply
        seconds = float(str(delay))
        return cls(int(str(status)), int(str(position)), seconds if seconds >= 0 else None, int(str(in_flight)),
                   int(str(waiting)))


@dataclass
class _Batch:
    """Tickets waiting for one shared look at the line, and its answer (ticket → state)."""

    tickets: list[str] = field(default_factory=list)
    states: asyncio.Future[dict[str, _State]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class RedisAdmission:
    """FIFO admission to one provider account, shared through Redis by every process using ``name``."""

    def __init__(self, coordinator: RedisCoordinator, name: str, *, concurrency: int, images_per_minute: int,
                 sleep: Sleep = asyncio.sleep) -> None:
        """``name`` identifies the account (e.g. the provider kind). Caps of 0 mean unlimited; every process
        must use the same caps. ``sleep`` waits for the window (inject a fake with a fake clock).

        Raises:
            ValueError: a negative cap.
        """
        if concurrency < 0 or images_per_minute < 0:
            raise ValueError("caps must be 0 (unlimited) or positive")
        self.concurrency = concurrency
        self.images_per_minute = images_per_minute
        self._redis = coordinator
        self._sleep = sleep
        parts = ("queue", "tickets", "slots", "window", "sizes", "seq")
        self._keys = [coordinator.key("admission", name, part) for part in parts]
        self._channel = coordinator.key("admission", name, "changed")
        client = coordinator.client
        self._enter, self._poll, self._leave, self._poll_many = (
            client.register_script(s) for s in (_ENTER, _POLL, _LEAVE, _POLL_MANY))
        self._batch: _Batch | None = None
        self._local_in_flight = 0
        self._local_waiting = 0

    @property
    def in_flight(self) -> int:
        """This process's requests admitted and not yet finished (``snapshot()`` counts every process's)."""
        return self._local_in_flight

    @property
    def waiting(self) -> int:
        """This process's requests in the line."""
        return self._local_waiting

    async def snapshot(self) -> tuple[int, int]:
        """(in flight, waiting) across every process, now (runs out expired leases first).

        Raises:
            BackendUnavailableError: Redis does not answer.
        """
        state = await self._script(self._poll, "")
        return state.in_flight, state.waiting

    @asynccontextmanager
    async def admit(self, *, images: int = 1, on_position: PositionCallback | None = None) -> AsyncIterator[None]:
        """Wait in the shared line for a slot with room for ``images``; hold it (a renewed lease) for the block.

        Raises:
            ValueError: ``images`` < 1.
            BackendUnavailableError: Redis does not answer (raised before the block runs).
        """
        if images < 1:
            raise ValueError("images must be at least 1")
        ticket = secrets.token_hex(12)
        tickets_key, slots_key = self._keys[1], self._keys[2]
        self._redis.hold(tickets_key, ticket)
        self._redis.hold(slots_key, ticket)
        try:
            await self._acquire(ticket, images, on_position)
            self._local_in_flight += 1
            try:
                yield
            finally:
                self._local_in_flight -= 1
                await self._give_back(ticket)
        finally:
            self._redis.release(tickets_key, ticket)
            self._redis.release(slots_key, ticket)

    async def _script(self, script: object, ticket: str, *extra: object) -> _State:
        reply = await self._redis.run(script, self._keys, self._args(ticket, *extra))  # type: ignore[arg-type]
        return _State.parse(reply)

    def _args(self, *tail: object) -> list[object]:
        return [self._redis.now_arg(), self.concurrency, self.images_per_minute, self._channel,
                self._redis.lease_seconds, *tail]

    async def _acquire(self, ticket: str, images: int, on_position: PositionCallback | None) -> None:
        await self._redis.subscribe(self._channel)
        changed = self._redis.changed(self._channel)
        state = await self._script(self._enter, ticket, images)
        if state.status == 1:
            return
        self._local_waiting += 1
        try:
            await self._wait_turn(ticket, images, state, changed, on_position)
        except BaseException:
            await self._give_back(ticket)
            raise
        finally:
            self._local_waiting -= 1

    async def _wait_turn(self, ticket: str, images: int, state: _State, changed: asyncio.Event,
                         on_position: PositionCallback | None) -> None:
        announced = 0
        while state.status != 1:
            if state.status == -1:
                # Our lease ran out (this process stalled longer than the lease): join the line again.
                log.warning("an admission ticket's lease ran out while it waited; it queues again")
                changed = self._redis.changed(self._channel)
                state = await self._script(self._enter, ticket, images)
                continue
            if on_position is not None and state.position != announced:
                announced = state.position
                await on_position(state.position)
            else:
                await self._until_changed(changed, state.window_delay)
            # Take the event before reading the state it guards: a change after the read is never missed.
            changed = self._redis.changed(self._channel)
            state = await self._look(ticket)

    async def _look(self, ticket: str) -> _State:
        """Where ``ticket`` stands now. A change wakes every waiter of this process at once: the first to ask
        opens a batch, the others join it before it runs, and one script answers them all (one call per
        process per change, not one per waiter, which kept a freed slot idle while Redis answered them)."""
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            asyncio.get_running_loop().call_soon(self._run_batch, batch)
        batch.tickets.append(ticket)
        states = await asyncio.shield(batch.states)
        return states[ticket]

    def _run_batch(self, batch: _Batch) -> None:
        self._batch = None  # later askers open the next batch
        task = asyncio.ensure_future(self._redis.run(self._poll_many, self._keys, self._args(*batch.tickets)))

        def answer(done: asyncio.Future[object]) -> None:
            if batch.states.done():
                return
            if done.cancelled():
                batch.states.cancel()
            elif done.exception() is not None:
                batch.states.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                replies = done.result()
                batch.states.set_result({t: _State.parse(r) for t, r in zip(batch.tickets, replies, strict=True)})

        task.add_done_callback(answer)

    async def _until_changed(self, changed: asyncio.Event, window_delay: float | None) -> None:
        waits = [asyncio.ensure_future(changed.wait())]
        if window_delay is not None:
            waits.append(asyncio.ensure_future(self._sleep(window_delay)))
        try:
            await asyncio.wait(waits, timeout=self._redis.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _give_back(self, ticket: str) -> None:
        """Leave the line or free the slot, even when cancelled meanwhile (the call is shielded)."""
        await asyncio.shield(asyncio.ensure_future(self._leave_quietly(ticket)))

    async def _leave_quietly(self, ticket: str) -> None:
        try:
            await self._script(self._leave, ticket)
        except BackendUnavailableError as exc:
            log.warning("could not give an admission slot back (%s); its lease runs out instead", exc.message)


class RedisAdmissionRegistry:
    """One ``RedisAdmission`` per provider kind, shared by every process using the same Redis and prefix."""

    def __init__(self, coordinator: RedisCoordinator, limits: Mapping[str, tuple[int, int]], *,
                 sleep: Sleep = asyncio.sleep) -> None:
        """``limits`` maps a provider kind to ``(concurrency, images_per_minute)``; kinds not listed are unlimited."""
        self._redis = coordinator
        self._sleep = sleep
        self._admissions = {kind: self._build(kind, *caps) for kind, caps in limits.items()}

    def for_provider(self, kind: str) -> Admission:
        """The admission for a provider kind (the same object on every call)."""
        admission = self._admissions.get(kind)
        if admission is None:
            admission = self._admissions[kind] = self._build(kind, 0, 0)
        return admission

    def _build(self, kind: str, concurrency: int, images_per_minute: int) -> RedisAdmission:
        return RedisAdmission(self._redis, kind, concurrency=concurrency, images_per_minute=images_per_minute,
                              sleep=self._sleep)
