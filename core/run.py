"""One job from admission to its ``Generation``: its provider requests, the saving of what they yield, events.

A job is one provider request (a single image, a series, or Chanjing's exact group) or several (takes: one
request per independent image). Each request waits for admission on its own, and a job's next take joins
the queue only once the one before it has been admitted, so a job of many takes never stands in line ahead
of every later job. Everything the requests yield goes through one saver, one image at a time, so the
admission slot is given back the moment the provider's answer ends while the last image is still being saved.

The saver also records the provider tasks a job starts (``TaskStarted``) in the job's ``extra``. When a task
outlives the provider's wait (``TaskPending``) the job is *parked*: released in the store, still ``RUNNING``,
and its run ends; ``core.run_requests.resume_requests`` builds the requests that poll those tasks again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import FailureKind, ProviderError, SeedreamError
from core.events import EventSink, Finished, ImageFailed, ImageReady, Progress, Queued, Started
from core.jobs import TASKS_KEY, USAGE_KEY, JobRecord, JobStore, ProviderTask
from core.limits import Admission
from core.providers.base import ImagePayload, Provider, ProviderItem, StatusUpdate, TaskPending, TaskStarted
from core.results import GeneratedImage, Generation, ImageFailure, JobStatus, Usage
from core.run_requests import Request
from core.storage import ImageStorage, JobContext

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a job has produced so far."""

    images: list[GeneratedImage] = field(default_factory=list)
    failures: list[ImageFailure] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    error_kind: str | None = None
    lost: ImageFailure | None = None  # the first image that was produced but could not be downloaded or saved
    stopped: int = 0  # images never asked for because the job was told to stop (``JobRun.wind_down``)

    def status(self) -> JobStatus:
        if self.stopped:
            return JobStatus.INTERRUPTED
        if not self.images:
            return JobStatus.FAILED
        return JobStatus.PARTIAL if (self.failures or self.error) else JobStatus.SUCCEEDED

    @classmethod
    def of(cls, record: JobRecord) -> Outcome:
        """What a stored job had produced when its run ended (to resume it)."""
        return cls(images=list(record.images), failures=list(record.failures),
                   usage=Usage(**record.extra.get(USAGE_KEY, {})))


@dataclass(frozen=True)
class _TaskEnded:
    """Queue marker: the request polling this task is over (the task finished, failed, or is lost to us)."""

    task_id: str


_Queued = ProviderItem | _TaskEnded | None


@dataclass
class JobRun:
    """Runs one recorded job's requests with the service's parts; ``emit`` never raises."""

    job: JobRecord
    context: JobContext
    provider: Provider
    admission: Admission
    storage: ImageStorage
    store: JobStore
    emit: EventSink
    outcome: Outcome = field(default_factory=Outcome)
    tasks: list[ProviderTask] = field(default_factory=list)
    _pending: list[str] = field(default_factory=list)  # why each parked task is still waiting
    _started: bool = False
    _in_flight: int = 0  # images of admitted requests the provider has not delivered yet
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def wind_down(self) -> int:
        """Send no more provider requests: the ones already admitted finish and their images are saved, the
        ones still waiting for admission are dropped. Returns how many images are still in flight."""
        self._stopping.set()
        return self._in_flight

    async def run(self, requests: list[Request], *, as_takes: bool = False) -> Generation:
        """Run the requests to their end; every failure becomes the ``Generation``'s status and error.
        ``as_takes``: a failed request is its images' failure even when it is the only one."""
        outcome = self.outcome
        try:
            await self._requests_and_saving(requests, as_takes=as_takes)
        except SeedreamError as exc:
            outcome.error, outcome.error_kind = exc.message, exc.kind
        except asyncio.CancelledError:
            outcome.error, outcome.error_kind = "the job was cancelled", FailureKind.CANCELLED
            await self._finish(status=JobStatus.INTERRUPTED)
            raise
        except Exception:  # a bug of ours: keep what was saved, tell the user plainly
            log.exception("job %s failed unexpectedly", self.job.id)
            outcome.error, outcome.error_kind = "internal error in Seedream Studio (see the log)", FailureKind.INTERNAL
        return await (self._park() if self._pending else self._finish())

    async def _requests_and_saving(self, requests: list[Request], *, as_takes: bool) -> None:
        queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize=1)
        saver = asyncio.create_task(self._save_items(queue, self.context))
        try:
            if len(requests) == 1 and not as_takes:
                admitted = asyncio.Event()
                if not await self._unless_stopped(self._request(requests[0], queue, admitted=admitted), admitted):
                    self.outcome.stopped += requests[0].images
            else:
                await self._takes(requests, queue)
        finally:
            await queue.put(None)
            failure = await saver
        if failure is not None:
            raise failure  # a bug of ours while saving: reported like the provider's failures
        outcome = self.outcome
        if not outcome.images and outcome.lost is not None and outcome.error is None:
            # Nothing could be saved: that is why the job failed.
            outcome.error, outcome.error_kind = outcome.lost.message, outcome.lost.kind
        if outcome.stopped and outcome.error is None:
            outcome.error = f"stopped on request before {outcome.stopped} image(s) were sent to the provider"
            outcome.error_kind = FailureKind.CANCELLED

    async def _takes(self, requests: list[Request], queue: asyncio.Queue[_Queued]) -> None:
        """Send every take; a take that fails becomes the failure of its images and the others go on."""
        admitted = [asyncio.Event() for _ in requests]
        errors: list[SeedreamError] = []

        async def take(number: int, request: Request) -> None:
            if number:
                await admitted[number - 1].wait()
            seen: set[int] = set()
            try:
                sending = self._request(request, queue, admitted=admitted[number], seen=seen)
                if not await self._unless_stopped(sending, admitted[number]):
                    admitted[number].set()  # the next take sees the stop at once
                    self.outcome.stopped += request.images
            except SeedreamError as exc:
                admitted[number].set()
                errors.append(exc)
                for index in range(request.first, request.first + request.images):
                    if index not in seen:
                        await queue.put(ImageFailure(index=index, code=_code(exc), message=exc.message,
                                                     kind=exc.kind))

        await _all_or_none(take(n, request) for n, request in enumerate(requests))
        if errors and len(errors) == len(requests):
            raise errors[0]  # nothing was made: the first reason is the job's

    async def _request(self, request: Request, queue: asyncio.Queue[_Queued], *,
                       admitted: asyncio.Event | None = None, seen: set[int] | None = None) -> None:
        """One provider request inside its admission slot; its items go to the saver with job-wide indexes.
        A provider task it polls is marked ended once the request is over, unless it is still pending (or
        the request was cancelled: the task may still run, and the job can be resumed)."""
        async def on_position(position: int) -> None:
            await self.emit(Queued(self.job.id, position))

        task_id, pending = request.task_id, False
        async with self.admission.admit(images=request.images, on_position=on_position):
            if admitted is not None:
                admitted.set()
            running = asyncio.create_task(self._mark_started())  # beside the request
            self._in_flight += request.images
            left = request.images
            try:
                async for item in request.send():
                    item = _shifted(item, request.first)
                    if isinstance(item, ImagePayload | ImageFailure):
                        if left > 0:
                            left, self._in_flight = left - 1, self._in_flight - 1
                        if seen is not None:
                            seen.add(item.index)
                    task_id = item.task_id if isinstance(item, TaskStarted) else task_id
                    pending = pending or isinstance(item, TaskPending)
                    await queue.put(item)
            except SeedreamError:
                if task_id is not None:
                    await queue.put(_TaskEnded(task_id))
                raise
            finally:
                self._in_flight -= max(left, 0)
                await running
        if task_id is not None and not pending:
            await queue.put(_TaskEnded(task_id))

    async def _unless_stopped(self, request: Coroutine[Any, Any, None], admitted: asyncio.Event) -> bool:
        """Run one provider request to its end, unless the job is told to stop before it is admitted: then
        it is dropped (nothing was sent) and this returns False."""
        if self._stopping.is_set():
            request.close()  # never started: no admission asked, nothing sent
            return False
        sending = asyncio.create_task(request)
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({sending, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not sending.done() and not admitted.is_set():
                sending.cancel()  # still waiting for its turn: nothing was sent
                await asyncio.wait({sending})
                if sending.cancelled():
                    return False
            await sending  # its end, or its error
            return True
        finally:
            stop.cancel()
            if not sending.done():  # the job itself is being cancelled
                sending.cancel()
                await asyncio.wait({sending})
                if not sending.cancelled():
                    sending.exception()  # retrieved: the job's cancellation is what matters now

    async def _mark_started(self) -> None:
        if not self._started:
            self._started = True
            await self.emit(Started(self.job.id))
            await self.store.mark_running(self.job.id)

    async def _save_items(self, queue: asyncio.Queue[_Queued], context: JobContext) -> Exception | None:
        """Save each item in order; after a failure keep draining (the senders must never block on a full
        queue) and return the failure."""
        failure: Exception | None = None
        while (item := await queue.get()) is not None:
            if failure is None:
                try:
                    await self._save_item(item, context)
                except Exception as exc:
                    failure = exc
        return failure

    async def _save_item(self, item: ProviderItem | _TaskEnded, context: JobContext) -> None:
        outcome, job_id = self.outcome, context.job_id
        if isinstance(item, ImagePayload):
            try:
                image = await self.storage.save(item, context)
            except ProviderError as exc:
                # One lost download (expired link, too big, cut short) must not cost the rest of the
                # group, which is produced and paid for: it becomes that image's failure.
                item = ImageFailure(index=item.index, code=_code(exc), message=exc.message, kind=exc.kind)
                outcome.lost = outcome.lost or item
            except OSError as exc:
                # Disk full, read-only, folder gone: the image is paid for, so its failure keeps the way to it
                # (the provider's link and its expiry), and the next images are still tried.
                log.warning("job %s: image %d could not be saved: %s", job_id, item.index + 1, exc)
                item = self.storage.unsaved(item, exc)
                outcome.lost = outcome.lost or item
            else:
                outcome.images.append(image)
                await self.store.add_image(job_id, image)
                await self.emit(ImageReady(job_id, image))
                return
        if isinstance(item, ImageFailure):
            outcome.failures.append(item)
            await self.store.add_failure(job_id, item)
            await self.emit(ImageFailed(job_id, item))
        elif isinstance(item, StatusUpdate):
            await self.emit(Progress(job_id, item.message))
        elif isinstance(item, Usage):
            outcome.usage = outcome.usage + item
            if self.tasks:  # kept with the job while a task may outlive this run
                await self.store.set_extra(job_id, USAGE_KEY, outcome.usage.to_dict())
        else:
            await self._track_task(item, context)

    async def _track_task(self, item: TaskStarted | TaskPending | _TaskEnded, context: JobContext) -> None:
        """Record a provider task as it starts, outlives its wait, or ends (the job's ``extra``)."""
        if isinstance(item, TaskStarted):
            self.tasks.append(ProviderTask(provider=context.provider, task_id=item.task_id, first=item.index,
                                           images=item.images))
        else:
            state = "pending" if isinstance(item, TaskPending) else "done"
            self.tasks = [dataclasses.replace(t, state=state) if t.task_id == item.task_id else t
                          for t in self.tasks]
        if isinstance(item, TaskPending):
            self._pending.append(item.message)
            await self.emit(Progress(self.job.id, item.message))
        await self.store.set_extra(self.job.id, TASKS_KEY, [t.to_dict() for t in self.tasks])

    async def _park(self) -> Generation:
        """Leave the job running, owned by no process, until its pending tasks are resumed."""
        job_id = self.job.id
        await self.store.set_extra(job_id, USAGE_KEY, self.outcome.usage.to_dict())
        await self.store.release(job_id)
        note = (f"{' '.join(self._pending)} Resume it with `seedream jobs {job_id}` (MCP: get_job; Discord: "
                "/job), which saves its images when they are ready.")
        generation = self._generation(JobStatus.RUNNING, notes=[note])
        await self.emit(Finished(job_id, generation))
        return generation

    async def _finish(self, *, status: JobStatus | None = None) -> Generation:
        outcome, job = self.outcome, self.job
        status = status or outcome.status()
        outcome.images.sort(key=lambda image: image.index)
        outcome.failures.sort(key=lambda failure: failure.index)
        # The sidecars learn the usage beside the job store's write (two independent files).
        sidecars = asyncio.create_task(self.storage.finalize(outcome.images, self.context, outcome.usage))
        try:
            await self.store.finish(job.id, status=status, usage=outcome.usage, error=outcome.error,
                                    error_kind=outcome.error_kind)
        finally:
            try:
                await sidecars
            except OSError:  # the images and the job record are safe; only the usage note is missing
                log.warning("job %s: could not add the usage to its sidecars", job.id, exc_info=True)
        generation = self._generation(status)
        await self.emit(Finished(job.id, generation))
        return generation

    def _generation(self, status: JobStatus, *, notes: list[str] | None = None) -> Generation:
        outcome, context = self.outcome, self.context
        parameters = dict(context.parameters)
        if notes:  # said in this result only: the stored job keeps its tasks in ``extra``
            parameters["notes"] = [*parameters.get("notes", ()), *notes]
        return Generation(job_id=self.job.id, status=status, provider=context.provider, model=context.model,
                          prompt=context.prompt, images=list(outcome.images), failures=list(outcome.failures),
                          usage=outcome.usage, error=outcome.error, error_kind=outcome.error_kind,
                          created_at=self.job.created_at, finished_at=datetime.now(UTC) if status.finished else None,
                          parameters=parameters)


def _shifted(item: ProviderItem, first: int) -> ProviderItem:
    """An item of one request with its index in the whole job."""
    if first and isinstance(item, ImagePayload | ImageFailure | TaskStarted):
        return dataclasses.replace(item, index=item.index + first)
    return item


def _code(error: SeedreamError) -> str:
    return getattr(error, "code", None) or str(error.kind)


async def _all_or_none(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the coroutines together; if this is cancelled, or one raises, the others are cancelled too."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
