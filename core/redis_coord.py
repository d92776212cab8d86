"""Coordination across processes on Redis: the connection, leases and wake-ups shared by the Redis backends.

``RedisCoordinator`` is one per process (per ``SEEDREAM_REDIS_URL``). It owns:

* the ``redis`` asyncio client, with short timeouts and no retries, so an unreachable Redis is a
  ``BackendUnavailableError`` within about two seconds instead of a hang;
* the key namespace (``prefix``), so several deployments or tests can share one Redis;
* the **lease keeper**: every entry a process holds in a Redis sorted set (a queued ticket, an admission slot,
  a user's running job) is scored with its lease expiry and renewed every ``lease_seconds / 3`` by one
  background task, in one script call for all of them. A process that dies stops renewing, and the scripts
  that read those sets drop entries whose lease has passed;
* the **wake-ups**: one pub/sub connection; ``changed(channel)`` gives an ``asyncio.Event`` set at the next
  message on that channel, so waiters sleep until something happens (with a bounded fallback poll,
  since a lease that runs out publishes nothing).

Time: scripts take ``now`` from the injected ``clock`` when there is one (tests) and otherwise from the Redis
server's ``TIME``, so machines with skewed clocks still agree on every lease and window.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.clocks import SecondsClock
from core.errors import BackendUnavailableError

__all__ = ["LUA_NOW", "RedisCoordinator", "redis_unavailable", "safe_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")

VARIABLE = "SEEDREAM_REDIS_URL"
#: Connect and answer timeouts: together they keep a failing call under about two seconds.
CONNECT_TIMEOUT = 1.0
ANSWER_TIMEOUT = 1.0

#: Lua shared by every script: ``now`` from ARGV (an injected clock) or from the server.
LUA_NOW = """
local function now_of(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# KEYS: sorted sets; ARGV: now, lease, then one member per key. Pushes each member's expiry forward if it is
# still there (ZADD XX never re-creates an entry a script already dropped).
_RENEW = LUA_NOW + """
local expiry = now_of(ARGV[1]) + tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', expiry, ARGV[i + 2])
end
return #KEYS
"""

_UNAVAILABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def redis_unavailable(url: str, exc: BaseException | None = None) -> BackendUnavailableError:
    """The error for a Redis that does not answer (the URL shown without its password)."""
    why = f" ({type(exc).__name__})" if exc is not None else ""
    return BackendUnavailableError(
        f"Redis at {safe_url(url)} does not answer{why}, so new jobs cannot be admitted. Start Redis or fix "
        f"{VARIABLE}; or unset {VARIABLE} to run one process on its own, without shared limits.",
        backend="redis", variable=VARIABLE)


def safe_url(url: str) -> str:
    """The Redis URL as shown to a person: scheme, host and port (never a password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}:{parts.port or 6379}"


class RedisCoordinator:
    """One process's link to the shared Redis. Open it with ``await RedisCoordinator.connect(url)``."""

    def __init__(self, client: aioredis.Redis, *, url: str, prefix: str = "seedream", lease_seconds: float = 30.0,
                 poll_interval: float = 1.0, renew_every: float | None = None,
                 clock: SecondsClock | None = None) -> None:
        """Wrap a client (use ``connect``). ``clock=None`` uses the Redis server's time; an injected clock
        moves every lease and window by its readings (leases are still renewed on the real timer).

        Raises:
            ValueError: a lease or poll interval that is not positive.
        """
        if lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("lease_seconds and poll_interval must be positive")
        self.client = client
        self.url = url
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        # A third of the lease: two renewals can fail (a Redis hiccup) before an entry runs out.
        self.renew_every = renew_every if renew_every is not None else lease_seconds / 3
        self.clock = clock
        self._renew = client.register_script(_RENEW)
        self._held: dict[tuple[str, str], int] = {}  # (sorted set, member) -> how many holders
        self._keeper: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._events: dict[str, asyncio.Event] = {}
        self._orphans: set[asyncio.Task[Any]] = set()  # calls whose callers were cancelled, still finishing
        self._subscriptions: dict[str, asyncio.Future[None]] = {}

    @classmethod
    async def connect(cls, url: str, *, prefix: str = "seedream", lease_seconds: float = 30.0,
                      poll_interval: float = 1.0, renew_every: float | None = None,
                      clock: SecondsClock | None = None) -> RedisCoordinator:
        """Connect and check that Redis answers.

        Raises:
            BackendUnavailableError: Redis does not answer.
        """
        client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=ANSWER_TIMEOUT,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)
        coordinator = cls(client, url=url, prefix=prefix, lease_seconds=lease_seconds,
                          poll_interval=poll_interval, renew_every=renew_every, clock=clock)
        try:
            await coordinator.call(client.ping())
        except BaseException:
            await client.aclose()
            raise
        return coordinator

    async def close(self) -> None:
        """Stop the keeper and the listener and close the connections (leases then run out on their own)."""
        await asyncio.gather(*self._orphans, *self._subscriptions.values(), return_exceptions=True)
        for task in (self._keeper, self._listener):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._keeper = self._listener = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        await self.client.aclose()

    # -- calls ---------------------------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        """A key in this deployment's namespace."""
        return ":".join((self.prefix, *parts))

    def now_arg(self) -> str:
        """The ``now`` argument for a script: the injected clock's reading, or '' for the server's time."""
        return repr(float(self.clock())) if self.clock is not None else ""

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a Redis call, turning a connection failure into ``BackendUnavailableError``.

        A caller cancelled meanwhile stops waiting, but the command itself completes: cutting a command off
        mid-answer would throw its connection away (and could leave a script's effect unknown).
        """
        task = asyncio.ensure_future(self._translated(awaitable))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._orphans.add(task)
            task.add_done_callback(self._orphan_done)
            raise

    async def _translated(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except _UNAVAILABLE_ERRORS as exc:
            raise redis_unavailable(self.url, exc) from exc

    def _orphan_done(self, task: asyncio.Task[Any]) -> None:
        self._orphans.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a Redis call whose caller was cancelled failed: %s", task.exception())

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a registered script. Raises BackendUnavailableError."""
        return await self.call(script(keys=list(keys), args=list(args)))

    # -- leases --------------------------------------------------------------------------------------------------

    def hold(self, key: str, member: str) -> None:
        """Renew ``member``'s lease in the sorted set ``key`` until ``release``; starts the keeper."""
        self._held[(key, member)] = self._held.get((key, member), 0) + 1
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="redis-lease-keeper")

    def release(self, key: str, member: str) -> None:
        """Stop renewing ``member`` in ``key`` (the caller removes the entry itself)."""
        count = self._held.get((key, member), 0) - 1
        if count > 0:
            self._held[(key, member)] = count
        else:
            self._held.pop((key, member), None)

    async def renew_now(self) -> None:
        """Renew every held lease at once. Raises BackendUnavailableError."""
        held = list(self._held)
        if held:
            await self.run(self._renew, [k for k, _ in held], [self.now_arg(), self.lease_seconds,
                                                               *(m for _, m in held)])

    async def _keep(self) -> None:
        while self._held:
            await asyncio.sleep(self.renew_every)
            try:
                await self.renew_now()
            except BackendUnavailableError as exc:
                log.warning("could not renew leases on Redis: %s", exc.message)

    # -- wake-ups ------------------------------------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Start listening to ``channel``; concurrent callers share one SUBSCRIBE. Raises BackendUnavailableError."""
        pending = self._subscriptions.get(channel)
        if pending is None or (pending.done() and (pending.cancelled() or pending.exception() is not None)):
            pending = self._subscriptions[channel] = asyncio.ensure_future(self._subscribe(channel))
        await asyncio.shield(pending)

    async def _subscribe(self, channel: str) -> None:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await self._translated(self._pubsub.subscribe(channel))
        self._events.setdefault(channel, asyncio.Event())
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="redis-listener")

    def changed(self, channel: str) -> asyncio.Event:
        """An event set at the next message on ``channel`` (take it *before* reading the state it guards)."""
        return self._events.setdefault(channel, asyncio.Event())

    def _notify(self, channel: str) -> None:
        event = self._events.get(channel)
        if event is not None:
            self._events[channel] = asyncio.Event()
            event.set()

    async def _listen(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=self.poll_interval)
            except _UNAVAILABLE_ERRORS as exc:
                log.warning("lost the Redis pub/sub connection (%s); waiters poll until it is back",
                            type(exc).__name__)
                for channel in list(self._events):
                    self._notify(channel)
                await asyncio.sleep(self.poll_interval)
                continue
            if message is not None and message.get("type") == "message":
                self._notify(message["channel"])
