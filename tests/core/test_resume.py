"""A Chanjing task that outlives the poll deadline: the job stays running with its task recorded, survives
recovery, and ``ImageService.resume_job`` polls the task again, saves its images and finishes the job. The
poll loop runs on test time (a 120 s deadline passes in no real time); the emulator keeps the task generating
while ``state.hold`` is unset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from core.events import Event, Finished, ImageReady, Progress, Started
from core.jobs import ProviderTask, Requester
from core.requests import GenerateRequest
from core.results import JobStatus
from tests.reliability.harness import KEYS, Emulator, Rig, emulator_accounts, emulator_server, rig

pytestmark = pytest.mark.asyncio(loop_scope="module")  # the module's one emulator server runs in that loop
ME = Requester(adapter="test", user_id="resume")
DEADLINE = {"chanjing_deadline": 120.0}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Emulator]:
    async with emulator_server(**emulator_accounts(KEYS)) as emulator:
        yield emulator


def chanjing(count: int = 1) -> GenerateRequest:
    return GenerateRequest.create(prompt="a lighthouse at dusk", provider="chanjing", size="1K", count=count)


async def parked(r: Rig, count: int = 1):  # type: ignore[no-untyped-def]
    """A job whose task is stuck past the deadline (the emulator holds it)."""
    r.state.hold = asyncio.Event()
    return await r.service.generate(chanjing(count), requester=ME)


async def test_a_task_past_its_deadline_leaves_the_job_running_with_its_task_recorded(tmp_path: Path,
                                                                                       server: Emulator):
    async with rig(tmp_path, server, settings=lambda base: DEADLINE) as r:
        generation = await parked(r, count=2)
        record = await r.service.get_job(generation.job_id)

    (task,) = record.provider_tasks
    task_id = task.task_id
    assert generation.status is JobStatus.RUNNING and generation.error is None and generation.images == []
    assert record.status is JobStatus.RUNNING and record.resumable
    assert record.provider_tasks == [ProviderTask(provider="chanjing", task_id=task_id, first=0, images=2,
                                                  state="pending")]
    (note,) = generation.notes
    assert task_id in note and "did not finish within 120 s" in note and f"seedream jobs {record.id}" in note
    assert r.state.requests["chanjing"] == 1  # submitted once, never again


async def test_recovery_leaves_a_job_waiting_on_its_task_running(tmp_path: Path, server: Emulator):
    async with rig(tmp_path, server, settings=lambda base: DEADLINE) as r:
        generation = await parked(r)
        assert await r.service.recover() == []
        record = await r.service.get_job(generation.job_id)
    assert record.status is JobStatus.RUNNING and record.resumable


async def test_resuming_saves_the_tasks_images_and_finishes_the_job(tmp_path: Path, server: Emulator):
    async with rig(tmp_path, server, settings=lambda base: DEADLINE) as r:
        generation = await parked(r, count=2)
        r.state.hold.set()  # the task finishes at Chanjing meanwhile
        events: list[Event] = []

        async def collect(event: Event) -> None:
            events.append(event)

        handle = await r.service.resume_job(generation.job_id, on_event=collect)
        assert handle is not None and handle.plan is None and handle.images == 2
        done = await handle.wait()
        record = await r.service.get_job(generation.job_id)

    assert done.status is JobStatus.SUCCEEDED and [i.index for i in done.images] == [0, 1]
    assert all(i.path.is_file() for i in done.images) and done.usage.generated_images == 2
    assert record.status is JobStatus.SUCCEEDED and [i.path for i in record.images] == [i.path for i in done.images]
    assert record.usage.generated_images == 2 and not record.resumable
    assert [t.state for t in record.provider_tasks] == ["done"]
    assert r.state.requests["chanjing"] == 1
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert sum(isinstance(e, ImageReady) for e in events) == 2


async def test_a_resumed_task_that_is_still_not_done_leaves_the_job_running_again(tmp_path: Path,
                                                                                   server: Emulator):
    async with rig(tmp_path, server, settings=lambda base: DEADLINE) as r:
        generation = await parked(r)
        handle = await r.service.resume_job(generation.job_id)
        assert handle is not None
        again = await handle.wait()
        record = await r.service.get_job(generation.job_id)
    assert again.status is JobStatus.RUNNING and record.status is JobStatus.RUNNING and record.resumable
    assert "did not finish within 120 s" in again.notes[-1]


async def test_resuming_twice_in_one_process_polls_the_task_once(tmp_path: Path, server: Emulator):
    async with rig(tmp_path, server, settings=lambda base: DEADLINE) as r:
        generation = await parked(r)
        first = await r.service.resume_job(generation.job_id)
        second = await r.service.resume_job(generation.job_id)
        assert first is second and first is not None
        r.state.hold.set()
        await first.wait()


async def test_there_is_nothing_to_resume_in_a_finished_job_or_one_without_a_task(tmp_path: Path,
                                                                                  server: Emulator):
    async with rig(tmp_path, server) as r:
        finished = await r.service.generate(chanjing(), requester=ME)
        ark = await r.service.generate(GenerateRequest.create(prompt="fox", provider="ark", size="1K"),
                                       requester=ME)
        assert finished.status is JobStatus.SUCCEEDED
        assert await r.service.resume_job(finished.job_id) is None
        assert await r.service.resume_job(ark.job_id) is None


async def test_a_job_stopped_while_its_task_ran_is_interrupted_and_can_be_resumed(tmp_path: Path,
                                                                                  server: Emulator):
    async with rig(tmp_path, server, settings=lambda base: {"chanjing_deadline": 1e9}) as r:
        r.state.hold = asyncio.Event()
        polled = asyncio.Event()

        async def on_event(event: Event) -> None:
            if isinstance(event, Progress):  # after the task was recorded (the saver keeps the order)
                polled.set()

        handle = await r.service.start(chanjing(), requester=ME, on_event=on_event)
        await polled.wait()
        handle.task.cancel()  # the process stops while the task still runs at Chanjing
        await asyncio.gather(handle.task, return_exceptions=True)
        stopped = await r.service.get_job(handle.job_id)
        r.state.hold.set()
        resumed = await r.service.resume_job(handle.job_id)
        assert resumed is not None
        done = await resumed.wait()

    assert stopped.status is JobStatus.INTERRUPTED and stopped.resumable
    assert [t.state for t in stopped.provider_tasks] == ["running"]
    assert done.status is JobStatus.SUCCEEDED and len(done.images) == 1 and done.error is None
    assert r.state.requests["chanjing"] == 1
