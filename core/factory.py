"""Builds the engine's parts from settings, and the ``ImageService`` over them.

The embedded set by default: the SQLite job store, admission and pacing in this process, a pooled HTTP
client with the sandbox mounted. ``SEEDREAM_DATABASE_URL`` puts jobs, quotas and settings in PostgreSQL and
``SEEDREAM_REDIS_URL`` shares admission (the provider accounts' caps) and pacing through Redis, so several
processes (MCP replicas, bot shards) run on one provider account.

Entry points use ``open_service``; an adapter that also needs the counters (quotas, metadata) uses
``open_backends`` and builds the service from its parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.environment import jobs_database_variable
from core.http import HttpClient, RetryPolicy, Timeouts
from core.jobs import CounterStore, JobStore
from core.jobs_check import check_jobs_database
from core.jobs_sql import SqlJobStore
from core.limits import AdmissionRegistry, Admissions
from core.pace import LocalPace, Pace
from core.references import ReferencePolicy
from core.sandbox import SANDBOX_ORIGIN, LazySandboxTransport
from core.service import ImageService
from core.settings import CommonSettings
from core.storage import ImageStorage

if TYPE_CHECKING:
    from core.redis_coord import RedisCoordinator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backends:
    """The parts an ``ImageService`` is built from, plus the counters the adapters use."""

    settings: CommonSettings
    http: HttpClient
    jobs: JobStore
    counters: CounterStore
    storage: ImageStorage
    admission: Admissions
    pace: Pace
    redis: RedisCoordinator | None = None  # set when state is shared through Redis

    def service(self, *, reference_policy: ReferencePolicy | None = None) -> ImageService:
        """An ``ImageService`` over these parts."""
        return ImageService(settings=self.settings, store=self.jobs, admission=self.admission,
                            storage=self.storage, http=self.http, reference_policy=reference_policy)


def default_http(settings: CommonSettings) -> HttpClient:
    """The shared HTTP client: timeouts and retries from settings, the sandbox origin served in-process."""
    return HttpClient.create(timeouts=Timeouts(connect=settings.connect_timeout, read=settings.image_timeout),
                             retry=RetryPolicy(max_retries=settings.max_retries),
                             mounts={SANDBOX_ORIGIN: LazySandboxTransport(latency=settings.sandbox_latency)})


@asynccontextmanager
async def open_backends(settings: CommonSettings, *, http: HttpClient | None = None,
                        output_dir: Path | None = None) -> AsyncIterator[Backends]:
    """Open the parts (closing them on exit); ``http`` replaces the default client (the caller closes it);
    ``output_dir`` is where this process saves images instead of the configured folder (the CLI's ``--out``):
    the job store records paths relative to the configured folder only (shared by every replica), others in
    full.

    Raises:
        ConfigurationError: the job database is not ours, damaged or cannot be written (it is left untouched).
        BackendUnavailableError: the database server or Redis does not answer.
    """
    if settings.database_url is None:
        # Read-only, before the store touches the file: a foreign or damaged file stays byte for byte as it was.
        await asyncio.to_thread(check_jobs_database, settings.jobs_path,
                                variable=jobs_database_variable(settings))
    async with AsyncExitStack() as stack:
        client = http or await stack.enter_async_context(_owned_http(settings))
        store = await stack.enter_async_context(
            SqlJobStore.open(settings.database, output_dir=settings.images_dir, owner_timeout=settings.lease_seconds))
        redis = await _open_redis(settings, stack)
        admission, pace = _shared_limits(redis, settings) if redis else (AdmissionRegistry.from_settings(settings),
                                                                         LocalPace())
        yield Backends(settings=settings, http=client, jobs=store, counters=store,
                       storage=ImageStorage(output_dir or settings.images_dir, client,
                                            max_download_bytes=settings.max_download_bytes),
                       admission=admission, pace=pace, redis=redis)


@asynccontextmanager
async def _owned_http(settings: CommonSettings) -> AsyncIterator[HttpClient]:
    client = default_http(settings)
    try:
        yield client
    finally:
        await client.aclose()


async def _open_redis(settings: CommonSettings, stack: AsyncExitStack) -> RedisCoordinator | None:
    if settings.redis_url is None:
        return None
    from core.redis_coord import RedisCoordinator  # the Redis client is loaded only by those who use it

    redis = await RedisCoordinator.connect(settings.redis_url, prefix=settings.redis_prefix,
                                           lease_seconds=settings.lease_seconds)
    stack.push_async_callback(redis.close)
    return redis


def _shared_limits(redis: RedisCoordinator, settings: CommonSettings) -> tuple[Admissions, Pace]:
    from core.limits_redis import RedisAdmissionRegistry
    from core.pace_redis import RedisPace

    return RedisAdmissionRegistry(redis, settings.provider_limits()), RedisPace(redis)


@asynccontextmanager
async def running_service(backends: Backends, *,
                          reference_policy: ReferencePolicy | None = None) -> AsyncIterator[ImageService]:
    """The service over ``backends``: jobs of a process that died are recovered first, and running jobs are
    awaited on exit so nothing produced is lost."""
    service = backends.service(reference_policy=reference_policy)
    await service.recover()
    settings = backends.settings
    watches = [asyncio.create_task(_every(settings.lease_seconds, service.recover, "jobs of processes that stopped"),
                                   name="seedream-recover"),
               asyncio.create_task(_every(settings.cancel_poll_seconds, service.honour_cancel_requests,
                                          "cancels asked for in other processes"), name="seedream-cancels")]
    try:
        yield service
    finally:
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        await service.drain()


async def _every(seconds: float, look: Callable[[], Awaitable[object]], what: str) -> None:
    """What every process sharing a job store does while it runs: mark the jobs of a process that died (its
    heartbeat older than the lease) interrupted, their saved images listed (``recover``), and stop its own
    jobs that another process was asked to cancel (``honour_cancel_requests``)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await look()
        except Exception as exc:  # the database may answer again at the next round
            log.warning("could not look for %s: %s", what, exc)


@asynccontextmanager
async def open_service(settings: CommonSettings, *, http: HttpClient | None = None,
                       reference_policy: ReferencePolicy | None = None,
                       output_dir: Path | None = None) -> AsyncIterator[ImageService]:
    """``async with open_service(settings) as service``: the parts (see ``open_backends``) and the service."""
    async with open_backends(settings, http=http, output_dir=output_dir) as backends, \
            running_service(backends, reference_policy=reference_policy) as service:
        yield service
