"""``ImageService``: validate → record → admit → provider → storage → events → ``Generation``.

The service is given its parts (a job store, admission, storage, an HTTP client); ``core.factory`` builds them
from settings. Adapters call ``generate`` (wait for the result) or ``start`` (get a job id at once and let the
job run on; ``get_job`` reads it later). Invalid requests and missing configuration raise before any job exists
or any provider is called; once a job exists, its outcome (including provider failures) is a ``Generation`` whose
``status`` and ``error_kind`` say what happened, with every image produced before a failure kept.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.environment import check_output_folder, expected_bytes
from core.events import Event, EventSink, ignore_events
from core.http import HttpClient
from core.jobs import JobRecord, JobStore, Requester
from core.limits import AdmissionRegistry
from core.providers.registry import ProviderRegistry, default_provider
from core.references import ReferencePolicy
from core.requests import GenerateRequest, Plan, plan_request
from core.results import Generation
from core.run import JobRun
from core.settings import CommonSettings
from core.storage import ImageStorage

log = logging.getLogger(__name__)

#: ``JobRecord.extra`` key of the output folder a job writes to.
OUTPUT_FOLDER_KEY = "output_dir"


@dataclass
class JobHandle:
    """A job that has started; ``await handle.wait()`` for its ``Generation``."""

    job_id: str
    plan: Plan
    task: asyncio.Task[Generation]
    run: JobRun | None = None

    async def wait(self) -> Generation:
        return await asyncio.shield(self.task)

    def wind_down(self) -> int:
        """Let the job finish what the provider is already making, and send nothing more (a first Ctrl-C).
        Returns how many images are still in flight. ``task.cancel()`` stops it at once instead."""
        return self.run.wind_down() if self.run is not None else 0


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
            folder = record.extra.get(OUTPUT_FOLDER_KEY)  # the job's own: e.g. the CLI's --out
            try:
                found = await self.storage.recover(job_id, record.created_at or datetime.now(UTC),
                                                   root=Path(folder) if folder else None)
            except OSError as exc:  # the folder is gone or unreadable: the job stays as recorded
                log.warning("job %s: could not look for its images in %s: %s", job_id, folder, exc)
                continue
            for image in found:
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
        return plan

    async def start(self, request: GenerateRequest, *, requester: Requester, on_event: EventSink = ignore_events,
                    parent_id: str | None = None, plan: Plan | None = None) -> JobHandle:
        """Validate, record the job and start it in the background.

        Raises:
            InvalidRequestError, ConfigurationError: before any job or provider call (including an output
                folder that cannot take the images: see ``core.environment.check_output_folder``).
        """
        plan = plan or await self.plan(request)
        await asyncio.to_thread(check_output_folder, self.storage.root, needed_bytes=expected_bytes(plan))
        job = await self.store.create(requester=requester, request=request.model_dump(mode="json"),
                                      parameters=plan.parameters(), provider=plan.provider, model=plan.model.key,
                                      prompt=request.prompt, parent_id=parent_id)
        # Where its files go, so crash recovery looks in the right folder whichever process does it.
        await self.store.set_extra(job.id, OUTPUT_FOLDER_KEY, str(self.storage.root))
        run = JobRun(plan=plan, job=job, provider=self.providers.get(plan.provider),
                     admission=self.admission.for_provider(plan.kind), storage=self.storage, store=self.store,
                     emit=_safe_sink(on_event))
        task = asyncio.create_task(run.run(), name=f"seedream-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JobHandle(job_id=job.id, plan=plan, task=task, run=run)

    async def generate(self, request: GenerateRequest, *, requester: Requester,
                       on_event: EventSink = ignore_events, parent_id: str | None = None) -> Generation:
        """Run a job to the end and return its ``Generation`` (see module docstring)."""
        handle = await self.start(request, requester=requester, on_event=on_event, parent_id=parent_id)
        return await handle.wait()

    def cancel(self, job_id: str) -> bool:
        """Stop a job running in this process; the images it saved are kept and it ends ``INTERRUPTED`` with
        ``error_kind`` ``cancelled``. False when no such job runs here."""
        for task in self._tasks:
            if task.get_name() == f"seedream-job-{job_id}" and not task.done():
                return task.cancel()
        return False

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


def _safe_sink(sink: EventSink) -> EventSink:
    """An adapter's failing event handler must not break the job (its images still get saved)."""

    async def emit(event: Event) -> None:
        try:
            await sink(event)
        except Exception:
            log.exception("event handler failed on %s", type(event).__name__)

    return emit
