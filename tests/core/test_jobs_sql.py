"""The SQL job store, on SQLite and on PostgreSQL alike: round trips, listing, crash recovery across processes
and hosts, atomic quotas, metadata, relative image paths.

Every test runs twice (``database`` is parametrised); PostgreSQL tests get a schema of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import normalize_url
from core.errors import InvalidRequestError, JobNotFoundError
from core.jobs import Requester
from core.jobs_sql import SqlJobStore
from core.process import OwnerProcess, process_start_time
from core.results import GeneratedImage, ImageFailure, JobStatus, Usage

REPO_ROOT = Path(__file__).resolve().parents[2]
ALICE = Requester(adapter="discord", user_id="1001", guild_id="42", channel_id="7", display_name="Alice")
BOB = Requester(adapter="mcp", user_id="bob")


class TickingClock:
    """Each reading is one second after the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL: a SQLite file in new directories, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        return str(tmp_path / "nested" / "dir" / "jobs.sqlite3")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(database: str) -> AsyncIterator[SqlJobStore]:
    async with SqlJobStore.open(database, clock=TickingClock()) as opened:
        yield opened


def image(index: int, **changes: object) -> GeneratedImage:
    fields: dict[str, object] = {
        "index": index, "path": Path(f"/data/images/job-{index}.png"), "width": 2048, "height": 2048,
        "bytes": 123_456, "format": "png", "model": "seedream-4.0", "provider": "ark", "seed": 42,
        "source_url": "https://example.invalid/x.png",
        "url_expires_at": datetime(2025, 1, 2, 8, 30, 0, 123, tzinfo=timezone(timedelta(hours=8))),
        "sidecar_path": Path(f"/data/images/job-{index}.json"),
    }
    fields.update(changes)
    return GeneratedImage(**fields)  # type: ignore[arg-type]


async def new_job(store: SqlJobStore, requester: Requester = ALICE, **changes: object) -> str:
    fields: dict[str, object] = {"requester": requester, "request": {"prompt": "a cat", "count": 2},
                                 "parameters": {"size": "2K"}, "provider": "ark", "model": "seedream-4.0",
                                 "prompt": "a cat"}
    fields.update(changes)
    return (await store.create(**fields)).id  # type: ignore[arg-type]


async def raw(database: str, sql: str, **args: object) -> list[tuple[object, ...]]:
    """Run SQL on another connection: stands in for state another process or host left behind."""
    engine = create_async_engine(normalize_url(database))
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(sql), args)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


@contextlib.contextmanager
def child(database: str, mode: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen([sys.executable, "-m", "tests.core.jobs_child", database, mode, *args],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT) as process:
        yield process


def run_child_to_exit(database: str) -> tuple[str, int]:
    with child(database, "exit") as process:
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return out.strip(), process.pid


async def test_a_job_round_trips_through_its_updates_exactly(store: SqlJobStore, database: str) -> None:
    created = await store.create(requester=ALICE, request={"prompt": "a cat", "count": 2},
                                 parameters={"size": "2K", "references": []}, provider="ark",
                                 model="seedream-4.0", prompt="a cat", parent_id="parent000001")
    assert created.status is JobStatus.QUEUED
    assert (await raw(database, "SELECT owner_pid FROM jobs WHERE id = :id", id=created.id)) == [(os.getpid(),)]
    await store.mark_running(created.id)
    await store.add_image(created.id, image(2, url_expires_at=None, sidecar_path=None, seed=None))
    await store.add_image(created.id, image(0, width=1))
    await store.add_image(created.id, image(0))  # the same index again replaces the first record
    await store.add_failure(created.id, ImageFailure(index=1, code="OutputImageSensitiveContentDetected",
                                                     message="refused by moderation", kind="content_rejected"))
    usage = Usage(generated_images=2, output_tokens=32_768, total_tokens=32_768)
    await store.finish(created.id, status=JobStatus.PARTIAL, usage=usage, error="1 of 3 refused",
                       error_kind="content_rejected")

    async with SqlJobStore.open(database) as reopened:  # another connection reads what was committed
        job = await reopened.get(created.id)
    assert job.requester == ALICE and job.parent_id == "parent000001"
    assert (job.request, job.parameters) == (created.request, created.parameters)
    assert job.images == [image(0), image(2, url_expires_at=None, sidecar_path=None, seed=None)]
    assert job.images[0].url_expires_at.utcoffset() == timedelta(hours=8)  # type: ignore[union-attr]
    assert job.failures == [ImageFailure(1, "OutputImageSensitiveContentDetected", "refused by moderation",
                                         "content_rejected")]
    assert (job.status, job.usage, job.error, job.error_kind) == (
        JobStatus.PARTIAL, usage, "1 of 3 refused", "content_rejected")
    assert job.created_at == created.created_at and job.created_at.tzinfo is not None
    assert job.created_at < job.started_at < job.finished_at  # type: ignore[operator]


async def test_job_ids_are_twelve_url_safe_characters_and_unique(store: SqlJobStore) -> None:
    ids = [await new_job(store) for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(re.fullmatch(r"[a-z2-7]{12}", job_id) for job_id in ids)


async def test_an_explicit_job_id_is_kept_and_a_taken_one_is_refused(store: SqlJobStore) -> None:
    assert await new_job(store, job_id="myjob0000001") == "myjob0000001"
    with pytest.raises(InvalidRequestError):
        await new_job(store, job_id="myjob0000001")
    assert [j.id for j in await store.list_jobs()] == ["myjob0000001"]


async def test_listing_is_newest_first_filtered_and_limited(store: SqlJobStore) -> None:
    alice = [await new_job(store, ALICE) for _ in range(5)]
    bob = [await new_job(store, BOB) for _ in range(2)]
    assert [j.id for j in await store.list_jobs()] == [*reversed(bob), *reversed(alice)]
    assert [j.id for j in await store.list_jobs(user_id="1001")] == list(reversed(alice))
    assert [j.id for j in await store.list_jobs(adapter="mcp")] == list(reversed(bob))
    assert await store.list_jobs(adapter="mcp", user_id="1001") == []
    assert [j.id for j in await store.list_jobs(user_id="1001", limit=2)] == [alice[4], alice[3]]
    with pytest.raises(ValueError):
        await store.list_jobs(limit=0)


async def test_jobs_created_in_the_same_instant_still_list_newest_first(database: str) -> None:
    instant = datetime(2025, 5, 5, tzinfo=UTC)
    async with SqlJobStore.open(database, clock=lambda: instant) as store:
        ids = [await new_job(store) for _ in range(4)]
        assert [j.id for j in await store.list_jobs()] == list(reversed(ids))


async def test_every_operation_on_an_unknown_job_says_job_not_found(store: SqlJobStore) -> None:
    calls = [
        store.get("nope"), store.mark_running("nope"), store.add_image("nope", image(0)),
        store.add_failure("nope", ImageFailure(0, "x", "y", "provider_error")), store.set_extra("nope", "k", 1),
        store.finish("nope", status=JobStatus.FAILED, usage=Usage()),
    ]
    for call in calls:
        with pytest.raises(JobNotFoundError, match="nope"):
            await call


async def test_finishing_with_an_unfinished_status_is_refused(store: SqlJobStore) -> None:
    job_id = await new_job(store)
    with pytest.raises(ValueError):
        await store.finish(job_id, status=JobStatus.RUNNING, usage=Usage())
    assert (await store.get(job_id)).status is JobStatus.QUEUED


async def test_adapter_metadata_is_merged_key_by_key_even_when_written_concurrently(store: SqlJobStore) -> None:
    job_id = await new_job(store)
    await store.set_extra(job_id, "message_id", 123456789012345678)
    await asyncio.gather(*(store.set_extra(job_id, f"k{n}", n) for n in range(10)))
    await store.set_extra(job_id, "message_id", 5)
    assert (await store.get(job_id)).extra == {"message_id": 5} | {f"k{n}": n for n in range(10)}


async def test_a_job_whose_process_died_is_marked_interrupted_keeping_its_images(
        store: SqlJobStore, database: str) -> None:
    job_id, pid = run_child_to_exit(database)
    assert (await store.get(job_id)).status is JobStatus.RUNNING

    assert await store.recover_interrupted() == [job_id]
    job = await store.get(job_id)
    assert (job.status, job.error_kind) == (JobStatus.INTERRUPTED, "interrupted")
    assert (await raw(database, "SELECT owner_pid FROM jobs WHERE id = :id", id=job_id)) == [(pid,)]
    assert [i.index for i in job.images] == [0] and job.finished_at is not None
    assert await store.recover_interrupted() == []


async def test_a_job_owned_by_a_live_process_or_by_this_one_is_left_alone(
        store: SqlJobStore, database: str) -> None:
    mine = await new_job(store)
    with child(database, "wait") as process:
        assert process.stdout is not None and process.stdin is not None
        theirs = process.stdout.readline().strip()
        assert await store.recover_interrupted() == []
        assert (await store.get(theirs)).status is JobStatus.RUNNING
        process.stdin.write("done\n")
        process.stdin.flush()
        process.wait(timeout=60)
    assert await store.recover_interrupted() == [theirs]
    assert (await store.get(mine)).status is JobStatus.QUEUED


async def test_a_job_left_by_an_earlier_process_with_our_pid_is_interrupted(
        store: SqlJobStore, database: str) -> None:
    job_id = await new_job(store)
    # A container restarted as the same pid: same pid in the row, but another process's token.
    await raw(database, "UPDATE jobs SET owner_token = 'an-earlier-incarnation' WHERE id = :id", id=job_id)
    assert await store.recover_interrupted() == [job_id]


async def test_a_job_on_another_host_is_interrupted_only_once_its_heartbeat_is_stale(database: str) -> None:
    clock = TickingClock()
    async with SqlJobStore.open(database, clock=clock, owner_timeout=30.0) as store:
        job_id, _ = run_child_to_exit(database)
        # Written by a process on another machine: its pid says nothing here, its heartbeat does.
        await raw(database, "UPDATE jobs SET owner_host = 'another-machine' WHERE id = :id", id=job_id)
        token = (await raw(database, "SELECT owner_token FROM jobs WHERE id = :id", id=job_id))[0][0]
        await raw(database, "UPDATE owners SET host = 'another-machine', heartbeat_at = :at WHERE token = :t",
                  at=clock.now.isoformat(timespec="microseconds"), t=token)
        clock.now += timedelta(seconds=20)
        assert await store.recover_interrupted() == []
        assert (await store.get(job_id)).status is JobStatus.RUNNING
        clock.now += timedelta(seconds=20)  # 40 s without a heartbeat: the machine is gone
        assert await store.recover_interrupted() == [job_id]


async def test_a_live_store_keeps_its_own_heartbeat_fresh(database: str) -> None:
    clock = TickingClock()
    async with SqlJobStore.open(database, clock=clock, owner_timeout=30.0) as store:
        job_id = await new_job(store)
        await store.mark_running(job_id)
        clock.now += timedelta(minutes=5)
        await store.beat()
        rows = await raw(database, "SELECT heartbeat_at FROM owners WHERE token = :t",
                         t=OwnerProcess.current().token)
        assert rows == [(clock.now.isoformat(timespec="microseconds"),)]
        assert await store.recover_interrupted() == []
        clock.now += timedelta(days=8)
        assert await store.forget_owners() == 1


@pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="process start times need /proc")
async def test_a_job_whose_pid_was_recycled_by_another_live_process_is_interrupted(
        store: SqlJobStore, database: str) -> None:
    job_id, _ = run_child_to_exit(database)
    with child(database, "wait") as stranger:
        assert stranger.stdout is not None and stranger.stdin is not None
        stranger_job = stranger.stdout.readline().strip()
        # The dead owner's pid now belongs to a live process that started at another time.
        await raw(database, "UPDATE jobs SET owner_pid = :pid WHERE id = :id", pid=stranger.pid, id=job_id)
        assert await store.recover_interrupted() == [job_id]
        assert (await store.get(stranger_job)).status is JobStatus.RUNNING
        stranger.stdin.write("done\n")
        stranger.stdin.flush()
        stranger.wait(timeout=60)


async def test_fifty_concurrent_reservations_against_a_limit_of_ten_grant_exactly_ten(
        store: SqlJobStore) -> None:
    results = await asyncio.gather(*(store.reserve_quota(key="user:1", day="2025-01-01", amount=1, limit=10)
                                     for _ in range(50)))
    assert results.count(True) == 10
    assert await store.quota_used(key="user:1", day="2025-01-01") == 10
    assert await store.quota_used(key="user:1", day="2025-01-02") == 0


def test_fifty_reservations_from_five_processes_against_a_limit_of_ten_grant_exactly_ten(database: str) -> None:
    with contextlib.ExitStack() as stack:
        running = [stack.enter_context(child(database, "quota", "10")) for _ in range(5)]
        for process in running:  # everyone has opened the database before anyone reserves
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in running:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        granted = [int(process.communicate(timeout=60)[0]) for process in running]
    assert sum(granted) == 10, granted

    async def used() -> int:
        async with SqlJobStore.open(database) as store:
            return await store.quota_used(key="user:1", day="2025-01-01")

    assert asyncio.run(used()) == 10


async def test_released_quota_never_goes_below_zero(store: SqlJobStore) -> None:
    key = {"key": "guild:42", "day": "2025-01-01"}
    assert await store.reserve_quota(**key, amount=3, limit=4)
    assert not await store.reserve_quota(**key, amount=2, limit=4)
    await store.release_quota(**key, amount=5)
    assert await store.quota_used(**key) == 0
    await store.release_quota(key="never-used", day="2025-01-01", amount=1)
    assert await store.quota_used(key="never-used", day="2025-01-01") == 0
    assert await store.reserve_quota(**key, amount=4, limit=4)
    assert not await store.reserve_quota(key="other", day="2025-01-01", amount=5, limit=4)
    with pytest.raises(ValueError):
        await store.reserve_quota(**key, amount=-1, limit=4)
    with pytest.raises(ValueError):
        await store.release_quota(**key, amount=-1)


async def test_metadata_values_are_stored_and_replaced(store: SqlJobStore) -> None:
    assert await store.get_meta("discord.commands.hash") is None
    await store.set_meta("discord.commands.hash", "abc")
    await store.set_meta("discord.commands.hash", "def")
    assert await store.get_meta("discord.commands.hash") == "def"


async def test_images_in_the_output_folder_are_found_by_replicas_that_mount_it_elsewhere(
        database: str, tmp_path: Path) -> None:
    here, there = tmp_path / "mnt" / "a" / "images", tmp_path / "srv" / "images"
    outside = image(1, path=tmp_path / "elsewhere" / "x.png", sidecar_path=None)
    async with SqlJobStore.open(database, output_dir=here) as replica_a:
        job_id = await new_job(replica_a)
        await replica_a.add_image(job_id, image(0, path=here / "2025" / "a.png", sidecar_path=here / "2025" / "a.json"))
        await replica_a.add_image(job_id, outside)
    stored = await raw(database, "SELECT path, sidecar_path FROM job_images WHERE job_id = :id ORDER BY idx",
                       id=job_id)
    assert stored == [("2025/a.png", "2025/a.json"), (str(outside.path), None)]
    async with SqlJobStore.open(database, output_dir=there) as replica_b:
        seen = (await replica_b.get(job_id)).images
    assert [i.path for i in seen] == [there / "2025" / "a.png", outside.path]
    assert seen[0].sidecar_path == there / "2025" / "a.json"


async def test_a_failures_kind_is_recorded(store: SqlJobStore, database: str) -> None:
    job_id = await new_job(store)
    await store.add_failure(job_id, ImageFailure(0, "OutputImageRiskDetection", "refused", "content_rejected"))
    rows = await raw(database, "SELECT idx, code, kind FROM job_failures WHERE job_id = :id", id=job_id)
    assert rows == [(0, "OutputImageRiskDetection", "content_rejected")]


async def test_a_closed_store_refuses_further_calls(database: str) -> None:
    store = await SqlJobStore.connect(database)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await store.get_meta("x")
