"""``SqliteJobStore``: the embedded ``JobStore`` and ``CounterStore`` (stdlib ``sqlite3``, off the event loop).

One connection per store, guarded by a lock and used from worker threads (``asyncio.to_thread``). The file may
be shared by several processes (the MCP server and the Discord bot), hence WAL mode, a busy timeout and short
``BEGIN IMMEDIATE`` write transactions: a writer takes the database's write lock before reading what it
will change, so quota checks are atomic across processes too.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from core.clocks import WallClock, utc_now
from core.errors import InvalidRequestError, JobNotFoundError
from core.jobs import JobRecord, Requester, new_job_id
from core.jobs_schema import (
    IMAGE_COLUMNS,
    JOB_COLUMNS,
    from_db_time,
    image_row,
    load_records,
    open_connection,
    to_db_time,
    to_json,
    transaction,
)
from core.process import OwnerProcess
from core.results import GeneratedImage, ImageFailure, JobStatus, Usage

T = TypeVar("T")

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
INTERRUPTED_MESSAGE = "The process running this job stopped before the job finished."


class SqliteJobStore:
    """The SQLite ``JobStore`` + ``CounterStore``. Open it with ``async with SqliteJobStore.open(path) as s``."""

    def __init__(self, connection: sqlite3.Connection, *, path: Path, clock: WallClock = utc_now) -> None:
        """Wrap an open connection (use ``open``/``connect``, which also prepare the schema)."""
        self.path = path
        self._connection = connection
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    async def connect(cls, path: Path | str, *, clock: WallClock = utc_now,
                      busy_timeout: float = 30.0) -> SqliteJobStore:
        """Open (creating parent directories and the schema) a store; call ``close()`` when done.

        Raises:
            ConfigurationError: the file was written by a newer, incompatible version.
        """
        path = Path(path)
        connection = await asyncio.to_thread(open_connection, path, busy_timeout)
        return cls(connection, path=path, clock=clock)

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path | str, *, clock: WallClock = utc_now,
                   busy_timeout: float = 30.0) -> AsyncIterator[SqliteJobStore]:
        """``async with SqliteJobStore.open(path) as store``: ``connect`` + ``close``."""
        store = await cls.connect(path, clock=clock, busy_timeout=busy_timeout)
        try:
            yield store
        finally:
            await store.close()

    async def __aenter__(self) -> SqliteJobStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection (waiting for a running operation); later calls raise RuntimeError."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._locked, work)

    def _locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job store is closed")
            return work(self._connection)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(lambda c: transaction(c, work, "BEGIN IMMEDIATE"))

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # A deferred transaction gives several SELECTs one consistent snapshot.
        return await self._run(lambda c: transaction(c, work, "BEGIN"))

    def _now(self) -> str:
        return to_db_time(self._clock())

    # -- jobs ------------------------------------------------------------------------------------------------

    async def create(self, *, requester: Requester, request: dict[str, Any], parameters: dict[str, Any],
                     provider: str, model: str, prompt: str, parent_id: str | None = None,
                     job_id: str | None = None) -> JobRecord:
        """Record a new ``QUEUED`` job owned by this process.

        Raises:
            InvalidRequestError: ``job_id`` was given and is already taken.
        """
        owner = OwnerProcess.current()
        record = JobRecord(
            job_id=job_id or new_job_id(), requester=requester, request=request, parameters=parameters,
            provider=provider, model=model, prompt=prompt, status=JobStatus.QUEUED,
            created_at=from_db_time(self._now()), parent_id=parent_id,
        )
        for _attempt in range(5):
            try:
                await self._write(lambda c: _insert_job(c, record, owner))
                return record
            except sqlite3.IntegrityError:
                if job_id is not None:
                    raise InvalidRequestError("job_id", job_id, "an id no other job uses") from None
                record.job_id = new_job_id()  # a 60-bit collision: astronomically rare, but cheap to survive
        raise RuntimeError("could not allocate a unique job id")

    async def mark_running(self, job_id: str) -> None:
        """The job left the queue; this process now owns it. Raises JobNotFoundError."""
        owner = OwnerProcess.current()
        sql = ("UPDATE jobs SET status = ?, started_at = ?, owner_host = ?, owner_pid = ?, owner_start = ?, "
               "owner_token = ? WHERE id = ?")
        args = (JobStatus.RUNNING.value, self._now(), owner.host, owner.pid, owner.start_time, owner.token,
                job_id)
        await self._write(lambda c: _update_one(c, job_id, sql, args))

    async def add_image(self, job_id: str, image: GeneratedImage) -> None:
        """Record a saved image (replacing one with the same index). Raises JobNotFoundError."""
        def work(connection: sqlite3.Connection) -> None:
            _require_job(connection, job_id)
            connection.execute(
                f"INSERT OR REPLACE INTO job_images (job_id, {IMAGE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, *image_row(image)),
            )

        await self._write(work)

    async def add_failure(self, job_id: str, failure: ImageFailure) -> None:
        """Record an image the provider did not produce. Raises JobNotFoundError."""
        def work(connection: sqlite3.Connection) -> None:
            _require_job(connection, job_id)
            connection.execute("INSERT INTO job_failures (job_id, idx, code, message, kind) VALUES (?, ?, ?, ?, ?)",
                               (job_id, failure.index, failure.code, failure.message, failure.kind))

        await self._write(work)

    async def finish(self, job_id: str, *, status: JobStatus, usage: Usage, error: str | None = None,
                     error_kind: str | None = None) -> None:
        """Close the job with a finished ``status``.

        Raises:
            JobNotFoundError: no such job.
            ValueError: ``status`` is queued or running.
        """
        status = JobStatus(status)
        if not status.finished:
            raise ValueError(f"finish() needs a finished status, not {status.value!r}")
        sql = ("UPDATE jobs SET status = ?, usage_images = ?, usage_output_tokens = ?, usage_total_tokens = ?, "
               "error = ?, error_kind = ?, finished_at = ? WHERE id = ?")
        args = (status.value, usage.generated_images, usage.output_tokens, usage.total_tokens, error,
                error_kind, self._now(), job_id)
        await self._write(lambda c: _update_one(c, job_id, sql, args))

    async def get(self, job_id: str) -> JobRecord:
        """The job. Raises JobNotFoundError."""
        def work(connection: sqlite3.Connection) -> JobRecord:
            row = connection.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise _not_found(job_id)
            return load_records(connection, [row])[0]

        return await self._read(work)

    async def list_jobs(self, *, user_id: str | None = None, adapter: str | None = None,
                        limit: int = 20) -> list[JobRecord]:
        """The newest jobs first, optionally of one user and/or adapter. Raises ValueError for ``limit`` < 1."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        args = {"user": user_id, "adapter": adapter, "limit": limit}
        return await self._read(lambda c: load_records(c, c.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE (:user IS NULL OR user_id = :user) AND "
            "(:adapter IS NULL OR adapter = :adapter) ORDER BY created_at DESC, seq DESC LIMIT :limit",
            args).fetchall()))

    async def set_extra(self, job_id: str, key: str, value: Any) -> None:
        """Set one JSON-serialisable adapter metadata entry (e.g. a Discord message id). Raises JobNotFoundError."""
        encoded = json.dumps(value)  # fail early, before touching the database

        def work(connection: sqlite3.Connection) -> None:
            row = connection.execute("SELECT extra FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise _not_found(job_id)
            extra = json.loads(row[0])
            extra[key] = json.loads(encoded)
            connection.execute("UPDATE jobs SET extra = ? WHERE id = ?", (to_json(extra), job_id))

        await self._write(work)

    async def recover_interrupted(self) -> list[str]:
        """Mark queued/running jobs whose owning process is gone as ``INTERRUPTED`` (keeping their images).

        Returns the ids, oldest first. Entry points call this at start-up.
        """
        candidates = await self._read(lambda c: c.execute(
            "SELECT id, owner_host, owner_pid, owner_start, owner_token FROM jobs WHERE status IN (?, ?) "
            "ORDER BY created_at, seq", _ACTIVE).fetchall())
        gone = [(job_id, token) for job_id, host, pid, start, token in candidates
                if pid is None or OwnerProcess(pid=pid, start_time=start, token=token or "", host=host).is_gone()]
        if not gone:
            return []

        def work(connection: sqlite3.Connection) -> list[str]:
            now, recovered = self._now(), []
            for job_id, token in gone:
                # Same owner token and still active: nobody finished or took over the job meanwhile.
                cursor = connection.execute(
                    "UPDATE jobs SET status = ?, finished_at = ?, error = ?, error_kind = 'interrupted' "
                    "WHERE id = ? AND status IN (?, ?) AND owner_token IS ?",
                    (JobStatus.INTERRUPTED.value, now, INTERRUPTED_MESSAGE, job_id, *_ACTIVE, token))
                if cursor.rowcount:
                    recovered.append(job_id)
            return recovered

        return await self._write(work)

    # -- quotas and metadata ---------------------------------------------------------------------------------

    async def reserve_quota(self, *, key: str, day: str, amount: int, limit: int) -> bool:
        """Add ``amount`` to the (key, day) counter only if it stays ≤ ``limit``; True when it did.

        Atomic across tasks and processes. Raises ValueError for a negative ``amount``.
        """
        if amount < 0:
            raise ValueError("amount must not be negative")

        def work(connection: sqlite3.Connection) -> bool:
            used = _quota(connection, key, day)
            if used + amount > limit:
                return False
            connection.execute(
                "INSERT INTO quotas (key, day, used) VALUES (?, ?, ?) "
                "ON CONFLICT (key, day) DO UPDATE SET used = excluded.used", (key, day, used + amount))
            return True

        return await self._write(work)

    async def release_quota(self, *, key: str, day: str, amount: int) -> None:
        """Give back ``amount``; the counter never goes below 0. Raises ValueError for a negative amount."""
        if amount < 0:
            raise ValueError("amount must not be negative")
        await self._write(lambda c: c.execute(
            "UPDATE quotas SET used = MAX(used - ?, 0) WHERE key = ? AND day = ?", (amount, key, day)))

    async def quota_used(self, *, key: str, day: str) -> int:
        """The (key, day) counter; 0 when never used."""
        return await self._read(lambda c: _quota(c, key, day))

    async def get_meta(self, key: str) -> str | None:
        """A stored metadata value, or None."""
        row = await self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone())
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store (or replace) a metadata value."""
        await self._write(lambda c: c.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value)))


# -- helpers (run in worker threads, under the store's lock) ---------------------------------------------------


def _insert_job(connection: sqlite3.Connection, record: JobRecord, owner: OwnerProcess) -> None:
    who = record.requester
    connection.execute(
        "INSERT INTO jobs (id, adapter, user_id, guild_id, channel_id, display_name, request, parameters, "
        "provider, model, prompt, status, created_at, parent_id, extra, owner_host, owner_pid, owner_start, "
        "owner_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.id, who.adapter, who.user_id, who.guild_id, who.channel_id, who.display_name,
         to_json(record.request), to_json(record.parameters), record.provider, record.model, record.prompt,
         record.status.value, to_db_time(record.created_at), record.parent_id, to_json(record.extra), owner.host,
         owner.pid, owner.start_time, owner.token),
    )


def _update_one(connection: sqlite3.Connection, job_id: str, sql: str, args: tuple[Any, ...]) -> None:
    if connection.execute(sql, args).rowcount == 0:
        raise _not_found(job_id)


def _require_job(connection: sqlite3.Connection, job_id: str) -> None:
    if connection.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
        raise _not_found(job_id)


def _quota(connection: sqlite3.Connection, key: str, day: str) -> int:
    row = connection.execute("SELECT used FROM quotas WHERE key = ? AND day = ?", (key, day)).fetchone()
    return int(row[0]) if row else 0


def _not_found(job_id: str) -> JobNotFoundError:
    shown = job_id if len(job_id) <= 40 else job_id[:39] + "…"
    return JobNotFoundError(f"No job with id {shown!r}.")
