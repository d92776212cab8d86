"""``ImageService``: validate → record → admit → provider → storage → events → ``Generation``.

The service is given its parts (a job store, admission, storage, an HTTP client); ``core.factory`` builds them
from settings. Adapters call ``generate`` (wait for the result) or ``start`` (get a job id at once and let the
job run on; ``get_job`` reads it later). Invalid requests and missing configuration raise before any job exists
or any provider is called; once a job exists, its outcome (including provider failures) is a ``Generation`` whose
``status`` and ``error_kind`` say what happened, with every image produced before a failure kept.

A job whose provider task outlived the wait (Chanjing) ends its run still ``RUNNING`` (``JobRecord.resumable``);
``resume_job`` picks it up, in any process, and is all an adapter needs to finish it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from core.environment import OutputFolderCheck, expected_bytes
from core.errors import JobNotFoundError
from core.events import Event, EventSink, ignore_events
from core.http import HttpClient
from core.jobs import TASKS_KEY, JobRecord, JobStore, Requester
from core.limits import Admissions
from core.providers.base import TaskProvider
from core.providers.registry import ProviderRegistry, default_provider
from core.references import ReferencePolicy
from core.requests import GenerateRequest, Plan, plan_request
from core.results import Generation
from core.run import JobRun, Outcome
from core.run_requests import plan_context, plan_requests, record_context, resume_requests
from core.settings import CommonSettings
from core.storage import ImageStorage

log = logging.getLogger(__name__)

#: ``JobRecord.extra`` key of the output folder a job writes to.
OUTPUT_FOLDER_KEY = "output_dir"
#: ``JobRecord.extra`` key of a cancel asked for in another process: {"at": ISO time, "by": who, or None}.
CANCEL_KEY = "cancel_requested"


@dataclass
class JobHandle:
    """A job that has started (or resumed); ``await handle.wait()`` for its ``Generation``."""

    job_id: str
    plan: Plan | None  # None for a resumed job
    task: asyncio.Task[Generation]
    images: int  # the most images the job can produce
    run: JobRun | None = None

    async def wait(self) -> Generation:
        return await asyncio.shield(self.task)

    def wind_down(self) -> int:
        """Let the job finish what the provider is already making, and send nothing more (a first Ctrl-C).
        Returns how many images are still in flight. ``task.cancel()`` stops it at once instead."""
        return self.run.wind_down() if self.run is not None else 0


class ImageService:
    """The engine every adapter uses; ``core.factory.open_service(settings)`` builds one with its parts."""

    def __init__(self, *, settings: CommonSettings, store: JobStore, admission: Admissions,
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
        self._tasks: dict[str, asyncio.Task[Generation]] = {}  # running jobs by id
        self._output_check = OutputFolderCheck()
        self._resumed: dict[str, JobHandle] = {}

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
        await self._output_check.check(self.storage.root, needed_bytes=expected_bytes(plan))
        # Where its files go is recorded with it, so crash recovery looks in the right folder whichever
        # process does it.
        job = await self.store.create(requester=requester, request=request.model_dump(mode="json"),
                                      parameters=plan.parameters(), provider=plan.provider, model=plan.model.key,
                                      prompt=request.prompt, parent_id=parent_id,
                                      extra={OUTPUT_FOLDER_KEY: str(self.storage.root)})
        provider = self.providers.get(plan.provider)
        run = JobRun(job=job, context=plan_context(plan, job), provider=provider,
                     admission=self.admission.for_provider(plan.kind), storage=self.storage, store=self.store,
                     emit=_safe_sink(on_event))
        task = self._spawn(run.run(plan_requests(plan, provider)), job.id)
        return JobHandle(job_id=job.id, plan=plan, task=task, images=plan.images, run=run)

    def cancel(self, job_id: str) -> bool:
        """Stop a job this service is running, whether it waits in line or is generating. Images saved before
        the cancel are kept; the job ends ``INTERRUPTED`` with error kind ``cancelled`` (its ``Finished`` event
        still goes out). A request already at the provider is abandoned, not awaited. Returns ``False`` when no
        such job is running here (finished, unknown, or run by another process)."""
        task = self._tasks.get(job_id)
        if task is None or task.done():
            return False
        # On the next turn of the loop: a task cancelled before its first step never enters the job's own
        # handling, which records the cancel and sends ``Finished``; one turn later it has surely begun.
        asyncio.get_running_loop().call_soon(task.cancel)
        return True

    async def request_cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """Stop a job wherever it runs: at once when this service runs it (``cancel``), else recorded in the job
        so that the process running it stops it at its next look (``honour_cancel_requests``; every process
        sharing the job store looks while it runs jobs). Returns ``False`` when the job has already ended.

        Raises:
            JobNotFoundError: no such job.
        """
        if self.cancel(job_id):
            return True
        record = await self.store.get(job_id)
        if record.status.finished:
            return False
        await self.store.set_extra(job_id, CANCEL_KEY, {"at": datetime.now(UTC).isoformat(), "by": by})
        return True

    async def honour_cancel_requests(self) -> list[str]:
        """Cancel the jobs this service runs whose record carries a cancel asked for in another process;
        returns their ids. One read per running job (none when idle)."""
        cancelled = []
        for job_id in list(self._tasks):
            try:
                record = await self.store.get(job_id)
            except JobNotFoundError:  # forgotten meanwhile (e.g. deleted by its owner)
                continue
            if CANCEL_KEY in record.extra and self.cancel(job_id):
                log.info("job %s cancelled at the request of another process", job_id)
                cancelled.append(job_id)
        return cancelled

    async def generate(self, request: GenerateRequest, *, requester: Requester,
                       on_event: EventSink = ignore_events, parent_id: str | None = None) -> Generation:
        """Run a job to the end and return its ``Generation`` (see module docstring)."""
        handle = await self.start(request, requester=requester, on_event=on_event, parent_id=parent_id)
        return await handle.wait()

    async def get_job(self, job_id: str) -> JobRecord:
        """Raises ``JobNotFoundError``."""
        return await self.store.get(job_id)

    async def resume_job(self, job_id: str, *, on_event: EventSink = ignore_events) -> JobHandle | None:
        """Continue a job whose provider task outlived its run or its process (``JobRecord.resumable``): poll
        the task again, save its images and finish the job — or leave it running again when the task still is
        not done by the provider's deadline. Returns the job's handle (the same one while this process is
        already resuming it; ``on_event`` then gets nothing), or ``None`` when there is nothing to resume.

        Raises:
            JobNotFoundError: no such job.
            ConfigurationError: the job's provider is not configured in this process.
        """
        running = self._resumed.get(job_id)
        if running is not None and not running.task.done():
            return running
        record = await self.store.get(job_id)
        provider = self.providers.get(record.provider) if record.resumable else None
        if provider is None or not hasattr(provider, "resume"):
            return None
        # Claimed before polling: another process now sees the tasks running and the job owned.
        tasks = [t if t.state == "done" else dataclasses.replace(t, state="running") for t in record.provider_tasks]
        await self.store.set_extra(job_id, TASKS_KEY, [t.to_dict() for t in tasks])
        await self.store.mark_running(job_id)
        run = JobRun(job=record, context=record_context(record), provider=provider,
                     admission=self.admission.for_provider(self.settings.catalog.kind(record.provider)),
                     storage=self.storage, store=self.store, emit=_safe_sink(on_event), outcome=Outcome.of(record),
                     tasks=tasks)
        requests = resume_requests(tasks, cast(TaskProvider, provider))
        images = int(record.parameters.get("series") or record.parameters.get("count") or 1)
        handle = JobHandle(job_id=job_id, plan=None, task=self._spawn(run.run(requests, as_takes=True), job_id),
                           images=images, run=run)
        self._resumed[job_id] = handle
        return handle

    async def list_jobs(self, *, user_id: str | None = None, adapter: str | None = None,
                        limit: int = 20) -> list[JobRecord]:
        return await self.store.list_jobs(user_id=user_id, adapter=adapter, limit=limit)

    async def drain(self) -> None:
        """Wait for running jobs (used at shutdown so nothing produced is lost)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, Generation], job_id: str) -> asyncio.Task[Generation]:
        task = asyncio.create_task(work, name=f"seedream-job-{job_id}")
        self._tasks[job_id] = task

        def forget(done: asyncio.Task[Generation]) -> None:
            if self._tasks.get(job_id) is done:  # a resumed run of the job may have taken its place
                del self._tasks[job_id]

        task.add_done_callback(forget)
        return task


def _safe_sink(sink: EventSink) -> EventSink:
    """An adapter's failing event handler must not break the job (its images still get saved)."""

    async def emit(event: Event) -> None:
        try:
            await sink(event)
        except Exception:
            log.exception("event handler failed on %s", type(event).__name__)

    return emit
