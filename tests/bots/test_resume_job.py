"""A Chanjing task that outlives the poll deadline: the reply says the job is still running at the provider
and where to find it; ``/job`` later picks the task up again, saves its images and shows them."""

from __future__ import annotations

from pathlib import Path

from core.results import JobStatus
from tests.bots.conftest import status_of, world_of

# The sandbox's Chanjing task stays queued for one poll; a deadline shorter than one poll interval parks the
# job after that poll, and the next poll (by the resume) finds the task done.
PARKING = {"provider": "sandbox-chanjing", "chanjing_deadline": 0.001}


async def test_job_picks_up_a_chanjing_task_that_outlived_its_deadline_and_shows_its_images(tmp_path: Path):
    async with world_of(tmp_path, service_settings=PARKING) as world:
        world.emulator.config.chanjing_queued_polls = 1
        world.emulator.config.chanjing_generating_polls = 0
        first = await world.imagine("a lighthouse at dusk", size="1K")
        await world.settled(first)
        [job] = await world.jobs()
        assert job.status is JobStatus.RUNNING and job.resumable
        assert status_of(first).startswith("⏳ Still running at the provider")
        assert f"`/job id:{job.id}`" in status_of(first)

        look = await world.fake.slash("job", {"id": job.id})
        await world.settled(look)
        resumed = await world.service.resume_job(job.id)  # the handle /job started (the same one)
        assert resumed is not None
        done = await resumed.wait()
        assert done.status is JobStatus.SUCCEEDED and len(done.images) == 1
        again = await world.fake.slash("job", {"id": job.id})
        await world.settled(again)
        assert any(m.attachments for m in again.all_messages()), status_of(again)
