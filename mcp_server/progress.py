"""Running jobs and the tool calls waiting for them: progress notifications at every job event and a
heartbeat while nothing happens (Claude Code resets its idle timer on each), and a bounded wait after
which the tool returns early with the job id (Claude Desktop gives up on a call after ~60 s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from core.clocks import utc_now
from core.events import Event, EventSink, Finished, ImageFailed, ImageReady, Progress, Queued, Started
from core.jobs import Requester
from core.requests import GenerateRequest, Plan
from core.results import Generation
from core.service import ImageService, JobHandle
from mcp_server.content import failure_line

log = logging.getLogger(__name__)

ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]

#: Set while a ``tools/call`` is answered with a task (``mcp_server.tasks``): the job starts and the call
#: returns at once, without waiting for it.
ANSWER_WITH_TASK: ContextVar[bool] = ContextVar("answer_with_task", default=False)


class JobWatch:
    """A job this server started (or resumed), fanning its events out to ``previews`` (which makes each image's
    preview as it is saved) and to whichever tool calls are waiting for it."""

    def __init__(self, plan: Plan | None = None, *, previews: EventSink | None = None) -> None:
        self.plan = plan
        self.images = plan.images if plan is not None else 1  # a resumed job: set from its handle
        self.handle: JobHandle | None = None
        self.last_event: Event | None = None  # what the job did last, and when (a task's status)
        self.updated_at: datetime | None = None
        self._listeners: list[EventSink] = [previews] if previews else []

    async def on_event(self, event: Event) -> None:
        self.last_event, self.updated_at = event, utc_now()
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:  # a client that went away must not disturb the job or the other listeners
                log.debug("a progress listener failed", exc_info=True)

    @contextmanager
    def listening(self, sink: EventSink) -> Iterator[None]:
        self._listeners.append(sink)
        try:
            yield
        finally:
            self._listeners.remove(sink)


class JobWatches:
    """The jobs this server has running, by id (each forgotten once it finishes; the store keeps it)."""

    def __init__(self) -> None:
        self._watches: dict[str, JobWatch] = {}

    async def start(
        self, watch: JobWatch, service: ImageService, request: GenerateRequest, *, requester: Requester
    ) -> JobHandle:
        """Start the job of ``watch`` (attach listeners first, so no early event is missed)."""
        handle = await service.start(request, requester=requester, on_event=watch.on_event, plan=watch.plan)
        self._watch(watch, handle)
        return handle

    async def resume(self, service: ImageService, job_id: str, *,
                     previews: Callable[[int], EventSink] | None = None) -> JobWatch | None:
        """Resume a job whose provider task outlived its run (see ``ImageService.resume_job``) and watch it,
        with ``previews(images)`` listening; ``None`` when there is nothing to resume.

        Raises:
            SeedreamError: the job's provider cannot be reached from this server.
        """
        watch = JobWatch()
        handle = await service.resume_job(job_id, on_event=watch.on_event)
        if handle is None:
            return None
        # Before the job's first step: resume_job returns without letting it run.
        watch.images = handle.images
        if previews is not None:
            watch._listeners.append(previews(handle.images))
        self._watch(watch, handle)
        return watch

    def _watch(self, watch: JobWatch, handle: JobHandle) -> None:
        watch.handle = handle
        self._watches[handle.job_id] = watch
        handle.task.add_done_callback(lambda _task: self._watches.pop(handle.job_id, None))

    def get(self, job_id: str) -> JobWatch | None:
        return self._watches.get(job_id)

    def running(self) -> list[str]:
        """The ids of the jobs this server runs now."""
        return [job_id for job_id, watch in self._watches.items() if watch.handle and not watch.handle.task.done()]


class ProgressReporter:
    """Sends ``notifications/progress`` for one tool call.

    ``progress`` counts finished images and must grow with every notification, so between two images it
    creeps towards the next whole number (t / (t + 1)) without reaching it; ``total`` is the images asked
    for plus one unit for finishing.
    """

    def __init__(self, report: ReportProgress, *, images: int, done: int = 0) -> None:
        self._report = report
        self._total = float(images + 1)
        self._whole = done
        self._ticks = 0
        self._done = done

    async def on_event(self, event: Event) -> None:
        if isinstance(event, ImageReady | ImageFailed):
            self._done += 1
        whole = int(self._total) if isinstance(event, Finished) else self._done
        await self._send(whole, describe(event, self._done))

    async def heartbeat(self, elapsed: float) -> None:
        await self._send(self._done, f"Still generating ({self._done} image(s) done, {elapsed:.0f} s)")

    async def _send(self, whole: int, message: str) -> None:
        if whole > self._whole:
            self._whole, self._ticks = whole, 0
        else:
            self._ticks += 1
        value = self._whole + self._ticks / (self._ticks + 1)
        try:
            await self._report(value, self._total, message)
        except Exception:  # the client may be gone; the job goes on and get_job still works
            log.debug("could not send a progress notification", exc_info=True)


async def wait_for(
    watch: JobWatch, reporter: ProgressReporter, *, wait_seconds: float, heartbeat_seconds: float
) -> Generation | None:
    """The job's ``Generation`` if it finishes within ``wait_seconds``, else None (it keeps running).

    Never cancels the job: a client cancelling the call, or the wait running out, only stops the waiting.
    Job events reach ``reporter`` only while it listens on ``watch`` (``watch.listening``).
    """
    assert watch.handle is not None
    task = watch.handle.task
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + (0 if ANSWER_WITH_TASK.get() else wait_seconds)
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        done, _ = await asyncio.wait({task}, timeout=min(heartbeat_seconds, remaining))
        if not done and loop.time() < deadline:
            await reporter.heartbeat(loop.time() - started)
    if task.cancelled() or task.exception() is not None:
        return None  # the service is shutting down; the store has what was saved
    return task.result()


def describe(event: Event, done: int) -> str:
    """An event in words (a progress notification's message)."""
    if isinstance(event, Queued):
        return f"Waiting for a free slot at the provider (position {event.position})"
    if isinstance(event, Started):
        return "Generating"
    if isinstance(event, Progress):
        return event.message
    if isinstance(event, ImageReady):
        return f"Image {event.image.index + 1} saved ({done} done): {event.image.path}"
    if isinstance(event, ImageFailed):
        return failure_line(event.failure)
    return f"Finished: {event.generation.status}"
