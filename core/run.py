"""One job from admission to its ``Generation``: its provider requests, the saving of what they yield, events.

A job is one provider request (a single image, a series, or Chanjing's exact group) or several (takes: one
request per independent image). Each request waits for admission on its own, and a job's next take joins
the queue only once the one before it has been admitted, so a job of many takes never stands in line ahead
of every later job. Everything the requests yield goes through one saver, one image at a time, so the
admission slot is given back the moment the provider's answer ends while the last image is still being saved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import FailureKind, ProviderError, SeedreamError
from core.events import EventSink, Finished, ImageFailed, ImageReady, Progress, Queued, Started
from core.jobs import JobRecord, JobStore
from core.limits import Admission
from core.providers.base import ImagePayload, Provider, ProviderItem, StatusUpdate
from core.requests import SEED_RANGE, Plan
from core.results import GeneratedImage, Generation, ImageFailure, JobStatus, Usage
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


@dataclass
class JobRun:
    """Runs one recorded job with the service's parts; ``emit`` never raises."""

    plan: Plan
    job: JobRecord
    provider: Provider
    admission: Admission
    storage: ImageStorage
    store: JobStore
    emit: EventSink
    outcome: Outcome = field(default_factory=Outcome)
    _started: bool = False
    _in_flight: int = 0  # images of admitted requests the provider has not delivered yet
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def wind_down(self) -> int:
        """Send no more provider requests: the ones already admitted finish and their images are saved, the
        ones still waiting for admission are dropped. Returns how many images are still in flight."""
        self._stopping.set()
        return self._in_flight

    @property
    def context(self) -> JobContext:
        plan = self.plan
        return JobContext(job_id=self.job.id, prompt=plan.request.prompt, provider=plan.provider,
                          model=plan.model.key, model_id=plan.model.wire_name, parameters=plan.parameters(),
                          created_at=self.job.created_at or datetime.now(UTC))

    async def run(self) -> Generation:
        """Run the job to its end; every failure becomes the ``Generation``'s status and error."""
        outcome = self.outcome
        try:
            await self._requests_and_saving()
        except SeedreamError as exc:
            outcome.error, outcome.error_kind = exc.message, exc.kind
        except asyncio.CancelledError:
            outcome.error, outcome.error_kind = "the job was cancelled", FailureKind.CANCELLED
            await self._finish(status=JobStatus.INTERRUPTED)
            raise
        except Exception:  # a bug of ours: keep what was saved, tell the user plainly
            log.exception("job %s failed unexpectedly", self.job.id)
            outcome.error, outcome.error_kind = "internal error in Seedream Studio (see the log)", FailureKind.INTERNAL
        return await self._finish()

    async def _requests_and_saving(self) -> None:
        queue: asyncio.Queue[ProviderItem | None] = asyncio.Queue(maxsize=1)
        context = self.context
        saver = asyncio.create_task(self._save_items(queue, context))
        try:
            requests = self.plan.requests()
            if len(requests) == 1:
                first, plan = requests[0]
                admitted = asyncio.Event()
                if not await self._unless_stopped(self._request(first, plan, queue, admitted=admitted), admitted):
                    self.outcome.stopped += plan.images
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

    async def _takes(self, requests: list[tuple[int, Plan]], queue: asyncio.Queue[ProviderItem | None]) -> None:
        """Send every take; a take that fails becomes the failure of its images and the others go on."""
        admitted = [asyncio.Event() for _ in requests]
        errors: list[SeedreamError] = []

        async def take(number: int, first: int, plan: Plan) -> None:
            if number:
                await admitted[number - 1].wait()
            seen: set[int] = set()
            try:
                request = self._request(first, plan, queue, admitted=admitted[number], seen=seen)
                if not await self._unless_stopped(request, admitted[number]):
                    admitted[number].set()  # the next take sees the stop at once
                    self.outcome.stopped += plan.count
            except SeedreamError as exc:
                admitted[number].set()
                errors.append(exc)
                for index in range(first, first + plan.count):
                    if index not in seen:
                        await queue.put(ImageFailure(index=index, code=_code(exc), message=exc.message,
                                                     kind=exc.kind))

        await _all_or_none(take(n, first, plan) for n, (first, plan) in enumerate(requests))
        if errors and len(errors) == len(requests):
            raise errors[0]  # nothing was made: the first reason is the job's

    async def _request(self, first: int, plan: Plan, queue: asyncio.Queue[ProviderItem | None], *,
                       admitted: asyncio.Event | None = None, seen: set[int] | None = None) -> None:
        """One provider request inside its admission slot; its items go to the saver with job-wide indexes."""
        async def on_position(position: int) -> None:
            await self.emit(Queued(self.job.id, position))

        plan = with_seed(plan)
        async with self.admission.admit(images=plan.images, on_position=on_position):
            if admitted is not None:
                admitted.set()
            running = asyncio.create_task(self._mark_started())  # beside the request
            self._in_flight += plan.images
            left = plan.images
            try:
                async for item in self.provider.generate(plan):
                    item = _shifted(item, first)
                    if isinstance(item, ImagePayload | ImageFailure):
                        if left > 0:
                            left, self._in_flight = left - 1, self._in_flight - 1
                        if seen is not None:
                            seen.add(item.index)
                    await queue.put(item)
            finally:
                self._in_flight -= max(left, 0)
                await running

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

    async def _save_items(self, queue: asyncio.Queue[ProviderItem | None], context: JobContext) -> Exception | None:
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

    async def _save_item(self, item: ProviderItem, context: JobContext) -> None:
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

    async def _finish(self, *, status: JobStatus | None = None) -> Generation:
        outcome, plan, job = self.outcome, self.plan, self.job
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
        generation = Generation(job_id=job.id, status=status, provider=plan.provider, model=plan.model.key,
                                prompt=plan.request.prompt, images=list(outcome.images),
                                failures=list(outcome.failures), usage=outcome.usage, error=outcome.error,
                                error_kind=outcome.error_kind, created_at=job.created_at,
                                finished_at=datetime.now(UTC), parameters=plan.parameters())
        await self.emit(Finished(job.id, generation))
        return generation


def with_seed(plan: Plan) -> Plan:
    """Models that take a seed get one even when none was asked, so every result can be reproduced."""
    if plan.model.seed and (plan.seed is None or plan.seed < 0):
        return dataclasses.replace(plan, seed=secrets.randbelow(SEED_RANGE[1]))
    return plan


def _shifted(item: ProviderItem, first: int) -> ProviderItem:
    """An item of one request with its index in the whole job."""
    if first and isinstance(item, ImagePayload | ImageFailure):
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
