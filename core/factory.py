"""Builds the engine's parts from settings: the embedded set by default (SQLite job store, in-process
admission, a pooled HTTP client with the sandbox mounted), and the ``ImageService`` over them.

Entry points use ``open_service``; an adapter that also needs the counters (quotas, metadata) uses
``open_backends`` and builds the service from its parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from core.environment import jobs_database_variable
from core.http import HttpClient, RetryPolicy, Timeouts
from core.jobs import CounterStore, JobStore
from core.jobs_check import check_jobs_database
from core.jobs_sql import SqlJobStore
from core.limits import AdmissionRegistry
from core.references import ReferencePolicy
from core.sandbox import SANDBOX_ORIGIN, LazySandboxTransport
from core.service import ImageService
from core.settings import CommonSettings
from core.storage import ImageStorage


@dataclass(frozen=True)
class Backends:
    """The parts an ``ImageService`` is built from, plus the counters the adapters use."""

    settings: CommonSettings
    http: HttpClient
    jobs: JobStore
    counters: CounterStore
    storage: ImageStorage
    admission: AdmissionRegistry

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
    """
    # Read-only, before the store touches the file: a foreign or damaged file stays byte for byte as it was.
    await asyncio.to_thread(check_jobs_database, settings.jobs_path, variable=jobs_database_variable(settings))
    own_http = http is None
    client = http or default_http(settings)
    try:
        async with SqlJobStore.open(settings.jobs_path, output_dir=settings.images_dir) as store:
            yield Backends(settings=settings, http=client, jobs=store, counters=store,
                           storage=ImageStorage(output_dir or settings.images_dir, client,
                                                max_download_bytes=settings.max_download_bytes),
                           admission=AdmissionRegistry.from_settings(settings))
    finally:
        if own_http:
            await client.aclose()


@asynccontextmanager
async def running_service(backends: Backends, *,
                          reference_policy: ReferencePolicy | None = None) -> AsyncIterator[ImageService]:
    """The service over ``backends``: jobs of a process that died are recovered first, and running jobs are
    awaited on exit so nothing produced is lost."""
    service = backends.service(reference_policy=reference_policy)
    await service.recover()
    try:
        yield service
    finally:
        await service.drain()


@asynccontextmanager
async def open_service(settings: CommonSettings, *, http: HttpClient | None = None,
                       reference_policy: ReferencePolicy | None = None,
                       output_dir: Path | None = None) -> AsyncIterator[ImageService]:
    """``async with open_service(settings) as service``: the parts (see ``open_backends``) and the service."""
    async with open_backends(settings, http=http, output_dir=output_dir) as backends, \
            running_service(backends, reference_policy=reference_policy) as service:
        yield service
