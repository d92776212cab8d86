"""The SQLite job store: round trips, listing, crash recovery across processes, atomic quotas, metadata."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.errors import ConfigurationError, InvalidRequestError, JobNotFoundError
from core.jobs import JobStore, Requester
from core.jobs_schema import SCHEMA_VERSION
from core.jobs_sqlite import SqliteJobStore
from core.process import process_start_time
from core.results import GeneratedImage, ImageFailure, JobStatus, Usage

REPO_ROOT = Path(__file__).resolve().parents[2]
ALICE = Requester(adapter="discord", user_id="1001", guild_id="42", channel_id="7", display_name="Alice")
BOB = Requester(adapter="mcp", user_id="bob")

# A separate process that uses the same database file, then exits or waits for a line on stdin.
CHILD = """
import asyncio, sys
from pathlib import Path
from core.jobs import Requester
from core.jobs_sqlite import SqliteJobStore
from core.results import GeneratedImage

async def jobs(path, mode):
    async with SqliteJobStore.open(path) as store:
        job = await store.create(requester=Requester(adapter="test"), request={}, parameters={},
                                 provider="ark", model="m", prompt="child")
        await store.mark_running(job.id)
        await store.add_image(job.id, GeneratedImage(index=0, path=Path("/tmp/x.png"), width=1, height=1,
                                                     bytes=1, format="png", model="m", provider="ark"))
        print(job.id, flush=True)
        if mode == "wait":
            sys.stdin.readline()

async def quota(path, attempts):
    async with SqliteJobStore.open(path) as store:
        print("ready", flush=True)
        sys.stdin.readline()
        results = await asyncio.gather(*(store.reserve_quota(key="user:1", day="2025-01-01", amount=1,
                                                             limit=20) for _ in range(attempts)))
        print(sum(results), flush=True)

path, mode = sys.argv[1], sys.argv[2]
asyncio.run(quota(path, int(sys.argv[3])) if mode == "quota" else jobs(path, mode))
"""


class TickingClock:
    """Each reading is one second after the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "jobs.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteJobStore]:
    async with SqliteJobStore.open(db_path, clock=TickingClock()) as opened:
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


async def new_job(store: JobStore, requester: Requester = ALICE, **changes: object) -> str:
    fields: dict[str, object] = {"requester": requester, "request": {"prompt": "a cat", "count": 2},
                                 "parameters": {"size": "2K"}, "provider": "ark", "model": "seedream-4.0",
                                 "prompt": "a cat"}
    fields.update(changes)
    return (await store.create(**fields)).id  # type: ignore[arg-type]


@contextlib.contextmanager
def child(db_path: Path, mode: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen([sys.executable, "-c", CHILD, str(db_path), mode, *args], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env) as process:
        yield process


def run_child_to_exit(db_path: Path) -> tuple[str, int]:
    with child(db_path, "exit") as process:
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return out.strip(), process.pid


def owner_pid(db_path: Path, job_id: str) -> int:
    """The pid the store recorded as the job's owner."""
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        return connection.execute("SELECT owner_pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def raw(db_path: Path, sql: str, *args: object) -> None:
    """Write to the file directly: stands in for state an earlier process left behind."""
    with contextlib.closing(sqlite3.connect(db_path)) as connection, connection:
        connection.execute(sql, args)


async def test_a_job_round_trips_through_its_updates_exactly(store: SqliteJobStore, db_path: Path) -> None:
    created = await store.create(requester=ALICE, request={"prompt": "a cat", "count": 2},
                                 parameters={"size": "2K", "references": []}, provider="ark",
                                 model="seedream-4.0", prompt="a cat", parent_id="parent000001")
    assert created.status is JobStatus.QUEUED and owner_pid(db_path, created.id) == os.getpid()
    await store.mark_running(created.id)
    await store.add_image(created.id, image(2, url_expires_at=None, sidecar_path=None, seed=None))
    await store.add_image(created.id, image(0))
    await store.add_failure(created.id, ImageFailure(index=1, code="OutputImageSensitiveContentDetected",
                                                     message="refused by moderation", kind="content_rejected"))
    usage = Usage(generated_images=2, output_tokens=32_768, total_tokens=32_768)
    await store.finish(created.id, status=JobStatus.PARTIAL, usage=usage, error="1 of 3 refused",
                       error_kind="content_rejected")

    async with SqliteJobStore.open(db_path) as reopened:  # another connection reads what was committed
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
    generation = job.to_generation()
    assert (generation.job_id, generation.status, generation.images) == (job.id, JobStatus.PARTIAL, job.images)
    assert generation.parameters == {"size": "2K", "references": []}


async def test_job_ids_are_twelve_url_safe_characters_and_unique(store: SqliteJobStore) -> None:
    ids = [await new_job(store) for _ in range(100)]
    assert len(set(ids)) == 100
    assert all(re.fullmatch(r"[a-z2-7]{12}", job_id) for job_id in ids)


async def test_an_explicit_job_id_is_kept_and_a_taken_one_is_refused(store: SqliteJobStore) -> None:
    assert await new_job(store, job_id="myjob0000001") == "myjob0000001"
    with pytest.raises(InvalidRequestError):
        await new_job(store, job_id="myjob0000001")


async def test_listing_is_newest_first_filtered_and_limited(store: SqliteJobStore) -> None:
    alice = [await new_job(store, ALICE) for _ in range(5)]
    bob = [await new_job(store, BOB) for _ in range(2)]
    assert [j.id for j in await store.list_jobs()] == [*reversed(bob), *reversed(alice)]
    assert [j.id for j in await store.list_jobs(user_id="1001")] == list(reversed(alice))
    assert [j.id for j in await store.list_jobs(adapter="mcp")] == list(reversed(bob))
    assert await store.list_jobs(adapter="mcp", user_id="1001") == []

    assert [j.id for j in await store.list_jobs(user_id="1001", limit=2)] == [alice[4], alice[3]]


async def test_jobs_created_in_the_same_instant_still_list_newest_first(db_path: Path) -> None:
    instant = datetime(2025, 5, 5, tzinfo=UTC)
    async with SqliteJobStore.open(db_path, clock=lambda: instant) as store:
        ids = [await new_job(store) for _ in range(4)]
        assert [j.id for j in await store.list_jobs()] == list(reversed(ids))
        assert [j.id for j in await store.list_jobs(limit=2)] == [ids[3], ids[2]]


async def test_every_operation_on_an_unknown_job_says_job_not_found(store: SqliteJobStore) -> None:
    calls = [
        store.get("nope"), store.mark_running("nope"), store.add_image("nope", image(0)),
        store.add_failure("nope", ImageFailure(0, "x", "y", "provider_error")), store.set_extra("nope", "k", 1),
        store.finish("nope", status=JobStatus.FAILED, usage=Usage()),
    ]
    for call in calls:
        with pytest.raises(JobNotFoundError, match="nope"):
            await call


async def test_finishing_with_an_unfinished_status_is_refused(store: SqliteJobStore) -> None:
    job_id = await new_job(store)
    with pytest.raises(ValueError):
        await store.finish(job_id, status=JobStatus.RUNNING, usage=Usage())
    assert (await store.get(job_id)).status is JobStatus.QUEUED


async def test_adapter_metadata_is_merged_key_by_key(store: SqliteJobStore) -> None:
    job_id = await new_job(store)
    await store.set_extra(job_id, "message_id", 123456789012345678)
    await store.set_extra(job_id, "buttons", ["reroll", "upscale"])
    await store.set_extra(job_id, "message_id", 5)
    assert (await store.get(job_id)).extra == {"message_id": 5, "buttons": ["reroll", "upscale"]}


async def test_a_job_whose_process_died_is_marked_interrupted_keeping_its_images(
        store: SqliteJobStore, db_path: Path) -> None:
    job_id, pid = run_child_to_exit(db_path)
    assert (await store.get(job_id)).status is JobStatus.RUNNING

    assert await store.recover_interrupted() == [job_id]
    job = await store.get(job_id)
    assert (job.status, job.error_kind, owner_pid(db_path, job_id)) == (JobStatus.INTERRUPTED, "interrupted", pid)
    assert [i.index for i in job.images] == [0] and job.finished_at is not None
    assert await store.recover_interrupted() == []


async def test_a_job_owned_by_a_live_process_or_by_this_one_is_left_alone(
        store: SqliteJobStore, db_path: Path) -> None:
    mine = await new_job(store)
    with child(db_path, "wait") as process:
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
        store: SqliteJobStore, db_path: Path) -> None:
    job_id = await new_job(store)
    # A container restarted as the same pid: same pid in the row, but another process's token.
    raw(db_path, "UPDATE jobs SET owner_token = 'an-earlier-incarnation' WHERE id = ?", job_id)
    assert await store.recover_interrupted() == [job_id]


async def test_a_job_owned_on_another_host_is_left_alone(store: SqliteJobStore, db_path: Path) -> None:
    job_id, _ = run_child_to_exit(db_path)
    # Written by a process in another container: its pid, dead or not here, says nothing about it.
    raw(db_path, "UPDATE jobs SET owner_host = 'another-container' WHERE id = ?", job_id)
    assert await store.recover_interrupted() == []
    assert (await store.get(job_id)).status is JobStatus.RUNNING


@pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="process start times need /proc")
async def test_a_job_whose_pid_was_recycled_by_another_live_process_is_interrupted(
        store: SqliteJobStore, db_path: Path) -> None:
    job_id, _ = run_child_to_exit(db_path)
    with child(db_path, "wait") as stranger:
        assert stranger.stdout is not None and stranger.stdin is not None
        stranger_job = stranger.stdout.readline().strip()
        # The dead owner's pid now belongs to a live process that started at another time.
        raw(db_path, "UPDATE jobs SET owner_pid = ? WHERE id = ?", stranger.pid, job_id)
        assert await store.recover_interrupted() == [job_id]
        assert (await store.get(stranger_job)).status is JobStatus.RUNNING
        stranger.stdin.write("done\n")
        stranger.stdin.flush()
        stranger.wait(timeout=60)


async def test_fifty_concurrent_reservations_against_a_limit_of_ten_grant_exactly_ten(
        store: SqliteJobStore) -> None:
    results = await asyncio.gather(*(store.reserve_quota(key="user:1", day="2025-01-01", amount=1, limit=10)
                                     for _ in range(50)))
    assert results.count(True) == 10
    assert await store.quota_used(key="user:1", day="2025-01-01") == 10
    assert await store.quota_used(key="user:1", day="2025-01-02") == 0


def test_four_processes_racing_on_one_file_never_exceed_the_quota(db_path: Path) -> None:
    processes = [child(db_path, "quota", "15") for _ in range(4)]
    with contextlib.ExitStack() as stack:
        running = [stack.enter_context(p) for p in processes]
        for process in running:  # everyone has opened the file before anyone starts reserving
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in running:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        granted = [int(process.communicate(timeout=60)[0]) for process in running]
    assert sum(granted) == 20, granted

    async def used() -> int:
        async with SqliteJobStore.open(db_path) as store:
            return await store.quota_used(key="user:1", day="2025-01-01")

    assert asyncio.run(used()) == 20


async def test_released_quota_never_goes_below_zero(store: SqliteJobStore) -> None:
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


async def test_metadata_values_are_stored_and_replaced(store: SqliteJobStore) -> None:
    assert await store.get_meta("discord.commands.hash") is None
    await store.set_meta("discord.commands.hash", "abc")
    await store.set_meta("discord.commands.hash", "def")
    assert await store.get_meta("discord.commands.hash") == "def"


async def test_opening_creates_a_private_wal_database_in_new_directories(
        store: SqliteJobStore, db_path: Path) -> None:
    assert db_path.exists()
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    if os.name == "posix":
        assert db_path.stat().st_mode & 0o777 == 0o600


async def test_a_database_from_a_newer_version_is_a_configuration_error(db_path: Path) -> None:
    async with SqliteJobStore.open(db_path):
        pass
    raw(db_path, "PRAGMA user_version = 99")
    with pytest.raises(ConfigurationError, match="newer"):
        async with SqliteJobStore.open(db_path):
            pass


async def test_a_closed_store_refuses_further_calls(db_path: Path) -> None:
    store = await SqliteJobStore.connect(db_path)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await store.get_meta("x")


async def test_a_database_from_the_first_schema_is_migrated_and_its_failures_get_a_kind(db_path: Path) -> None:
    async with SqliteJobStore.open(db_path) as store:
        job_id = await new_job(store)
    raw(db_path, "ALTER TABLE job_failures DROP COLUMN kind")
    raw(db_path, "PRAGMA user_version = 1")
    raw(db_path, "INSERT INTO job_failures (job_id, idx, code, message) VALUES (?, 0, 'X', 'old')", job_id)
    async with SqliteJobStore.open(db_path) as store:
        assert (await store.get(job_id)).failures == [ImageFailure(0, "X", "old", "provider_error")]
