"""``ImageService``: validate → record → admit → provider → storage → events → ``Generation``.

The service is given its parts (a job store, admission, storage, an HTTP client); ``core.factory`` builds them
from settings. Adapters call ``generate`` (wait for the result) or ``start`` (get a job id at once and let the
job run on; ``get_job`` reads it later). Invalid requests and missing configuration raise before any job exists or any
provider is called; once a job exists, its outcome (including provider failures) is a ``Generation`` whose
``status`` and ``error_kind`` say what happened, with every image produced before a failure kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import FailureKind, ProviderError, SeedreamError
from core.events import (
    Event,
    EventSink,
    Finished,
    ImageFailed,
    ImageReady,
    Progress,
    Queued,
    Started,
    ignore_events,
)
from core.http import HttpClient
from core.jobs import JobRecord, JobStore, Requester
from core.limits import Admission, AdmissionRegistry, PositionCallback
from core.providers.base import ImagePayload, ProviderItem, StatusUpdate
from core.providers.registry import ProviderRegistry, default_provider
from core.references import ReferencePolicy
from core.requests import SEED_RANGE, GenerateRequest, Plan, plan_request
from core.results import GeneratedImage, Generation, ImageFailure, JobStatus, Usage
from core.settings import CommonSettings
from core.storage import ImageStorage, JobContext

log = logging.getLogger(__name__)

SEED_MAX = SEED_RANGE[1]


@dataclass
class JobHandle:
    """A job that has started; ``await handle.wait()`` for its ``Generation``."""

    job_id: str
    plan: Plan
    task: asyncio.Task[Generation]

    async def wait(self) -> Generation:
        return await asyncio.shield(self.task)


class ImageService:
    """The engine every adapter uses; ``core.factory.open_service(settings)`` builds one with its parts."""

    def __init__(self, *, settings: CommonSettings, store: JobStore, admission: AdmissionRegistry,
                 storage: ImageStorage, http: HttpClient, reference_policy: ReferencePolicy | None = None,
                 providers: ProviderRegistry | None = None) -> None:
        """``providers`` defaults to the adapters the settings configure, on ``http``."""
        self.settings = settings
        self.http = http
        self.store = store
        self.storage = storage
        self.admission = admission
        self.providers = providers or ProviderRegistry(settings, http)
        self.reference_policy = reference_policy or ReferencePolicy()
        self._tasks: set[asyncio.Task[Generation]] = set()

    async def recover(self) -> list[str]:
        """Mark the jobs of processes that are gone as interrupted and record the images they saved but did
        not get to record (the window between renaming a file into place and the job store's commit)."""
        interrupted = await self.store.recover_interrupted()
        if interrupted:
            log.warning("marked %d job(s) of a previous run as interrupted", len(interrupted))
        for job_id in interrupted:
            record = await self.store.get(job_id)
            known = {image.index for image in record.images}
            for image in await self.storage.recover(job_id, record.created_at or datetime.now(UTC)):
                if image.index not in known:
                    await self.store.add_image(job_id, image)
        return interrupted

    @property
    def default_provider(self) -> str:
        """Raises ``ConfigurationError`` when no provider is configured."""
        return default_provider(self.settings)

    async def plan(self, request: GenerateRequest) -> Plan:
        """Validate without generating (raises ``InvalidRequestError`` / ``ConfigurationError``)."""
        provider = request.provider or self.default_provider
        plan = await plan_request(request, default_provider=provider, policy=self.reference_policy,
                                  catalog=self.settings.catalog)
        self.providers.get(plan.provider)  # fail now if its credentials are missing
        return _with_seed(plan)

    async def start(self, request: GenerateRequest, *, requester: Requester, on_event: EventSink = ignore_events,
                    parent_id: str | None = None, plan: Plan | None = None) -> JobHandle:
        """Validate, record the job and start it in the background.

        Raises:
            InvalidRequestError, ConfigurationError: before any job or provider call.
        """
        plan = plan or await self.plan(request)
        job = await self.store.create(requester=requester, request=request.model_dump(mode="json"),
                                      parameters=plan.parameters(), provider=plan.provider, model=plan.model.key,
                                      prompt=request.prompt, parent_id=parent_id)
        task = asyncio.create_task(self._run(plan, job, on_event), name=f"seedream-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JobHandle(job_id=job.id, plan=plan, task=task)

    async def generate(self, request: GenerateRequest, *, requester: Requester,
                       on_event: EventSink = ignore_events, parent_id: str | None = None) -> Generation:
        """Run a job to the end and return its ``Generation`` (see module docstring)."""
        handle = await self.start(request, requester=requester, on_event=on_event, parent_id=parent_id)
        return await handle.wait()

    async def get_job(self, job_id: str) -> JobRecord:
        """Raises ``JobNotFoundError``."""
        return await self.store.get(job_id)

    async def list_jobs(self, *, user_id: str | None = None, adapter: str | None = None,
                        limit: int = 20) -> list[JobRecord]:
        return await self.store.list_jobs(user_id=user_id, adapter=adapter, limit=limit)

    async def drain(self) -> None:
        """Wait for running jobs (used at shutdown so nothing produced is lost)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- one job ----------------------------------------------------------------------------------------

    async def _run(self, plan: Plan, job: JobRecord, on_event: EventSink) -> Generation:
        emit = _safe_sink(on_event)
        context = JobContext(job_id=job.id, prompt=plan.request.prompt, provider=plan.provider,
                             model=plan.model.key, model_id=plan.model.wire_name, parameters=plan.parameters(),
                             created_at=job.created_at)
        outcome = _Outcome()
        try:
            admission = self.admission.for_provider(plan.kind)

            async def on_position(position: int) -> None:
                await emit(Queued(job.id, position))

            await self._consume(plan, job, context, outcome, emit, admission=admission,
                                on_position=on_position)
        except SeedreamError as exc:
            outcome.error, outcome.error_kind = exc.message, exc.kind
        except asyncio.CancelledError:
            outcome.error, outcome.error_kind = "the job was cancelled", FailureKind.CANCELLED
            await self._finish(job, plan, context, outcome, emit, status=JobStatus.INTERRUPTED)
            raise
        except Exception:  # a bug of ours: keep what was saved, tell the user plainly
            log.exception("job %s failed unexpectedly", job.id)
            outcome.error, outcome.error_kind = "internal error in Seedream Studio (see the log)", FailureKind.INTERNAL
        return await self._finish(job, plan, context, outcome, emit)

    async def _consume(self, plan: Plan, job: JobRecord, context: JobContext, outcome: _Outcome,
                       emit: EventSink, *, admission: Admission, on_position: PositionCallback) -> None:
        """Read the provider's answer inside the admission slot; save what it yields beside it, through a
        one-item queue, so the slot is given back the moment the provider's answer ends (the provider's own
        slot is free by then) while the last image is still being saved."""
        queue: asyncio.Queue[ProviderItem | None] = asyncio.Queue(maxsize=1)
        saver = asyncio.create_task(self._save_items(queue, context, outcome, emit))
        try:
            async with admission.admit(images=plan.count, on_position=on_position):
                running = asyncio.create_task(self.store.mark_running(job.id))  # beside the request
                await emit(Started(job.id))
                try:
                    async for item in self.providers.get(plan.provider).generate(plan):
                        await queue.put(item)
                finally:
                    await running
        finally:
            await queue.put(None)
            failure = await saver
        if failure is not None:
            raise failure  # a bug of ours while saving: reported like the provider's failures
        if not outcome.images and outcome.download_error is not None:
            raise outcome.download_error  # nothing could be saved: that is why the job failed

    async def _save_items(self, queue: asyncio.Queue[ProviderItem | None], context: JobContext,
                          outcome: _Outcome, emit: EventSink) -> Exception | None:
        """Save each item in order; after a failure keep draining (the reader must never block on a full
        queue) and return the failure."""
        failure: Exception | None = None
        while (item := await queue.get()) is not None:
            if failure is None:
                try:
                    await self._save_item(item, context, outcome, emit)
                except Exception as exc:
                    failure = exc
        return failure

    async def _save_item(self, item: ProviderItem, context: JobContext, outcome: _Outcome,
                         emit: EventSink) -> None:
        if isinstance(item, ImagePayload):
            try:
                image = await self.storage.save(item, context)
            except ProviderError as exc:
                # One lost download (expired link, too big, cut short) must not cost the rest of the
                # group, which is produced and paid for: it becomes that image's failure.
                outcome.download_error = outcome.download_error or exc
                item = ImageFailure(index=item.index, code=exc.code or exc.kind, message=exc.message, kind=exc.kind)
            else:
                outcome.images.append(image)
                await self.store.add_image(context.job_id, image)
                await emit(ImageReady(context.job_id, image))
                return
        if isinstance(item, ImageFailure):
            outcome.failures.append(item)
            await self.store.add_failure(context.job_id, item)
            await emit(ImageFailed(context.job_id, item))
        elif isinstance(item, StatusUpdate):
            await emit(Progress(context.job_id, item.message))
        elif isinstance(item, Usage):
            outcome.usage = item

    async def _finish(self, job: JobRecord, plan: Plan, context: JobContext, outcome: _Outcome, emit: EventSink,
                      *, status: JobStatus | None = None) -> Generation:
        status = status or outcome.status()
        # The sidecars learn the usage beside the job store's write (two independent files).
        sidecars = asyncio.create_task(self.storage.finalize(outcome.images, context, outcome.usage))
        try:
            await self.store.finish(job.id, status=status, usage=outcome.usage, error=outcome.error,
                                    error_kind=outcome.error_kind)
        finally:
            try:
                await sidecars
            except OSError:  # the images and the job record are safe; only the usage note is missing
                log.warning("job %s: could not add the usage to its sidecars", job.id, exc_info=True)
        generation = Generation(job_id=job.id, status=status, provider=plan.provider, model=plan.model.key,
                                prompt=plan.request.prompt, images=list(outcome.images),
                                failures=list(outcome.failures), usage=outcome.usage, error=outcome.error,
                                error_kind=outcome.error_kind, created_at=job.created_at,
                                finished_at=datetime.now(UTC), parameters=plan.parameters())
        await emit(Finished(job.id, generation))
        return generation


@dataclass
class _Outcome:
    images: list[GeneratedImage] = dataclasses.field(default_factory=list)
    failures: list[ImageFailure] = dataclasses.field(default_factory=list)
    usage: Usage = dataclasses.field(default_factory=Usage)
    error: str | None = None
    error_kind: str | None = None
    download_error: ProviderError | None = None  # the first image that could not be saved, and why

    def status(self) -> JobStatus:
        if not self.images:
            return JobStatus.FAILED
        return JobStatus.PARTIAL if (self.failures or self.error) else JobStatus.SUCCEEDED


def _with_seed(plan: Plan) -> Plan:
    """Models that take a seed get one even when none was asked, so every result can be reproduced."""
    if plan.model.seed and (plan.seed is None or plan.seed < 0):
        return dataclasses.replace(plan, seed=secrets.randbelow(SEED_MAX))
    return plan


def _safe_sink(sink: EventSink) -> EventSink:
    """An adapter's failing event handler must not break the job (its images still get saved)."""

    async def emit(event: Event) -> None:
        try:
            await sink(event)
        except Exception:
            log.exception("event handler failed on %s", type(event).__name__)

    return emit
