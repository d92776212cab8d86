"""``SqlJobStore``: the job store and counters on SQLAlchemy 2 Core — one code path for SQLite and PostgreSQL.

``await SqlJobStore.connect(url)`` opens (and migrates, see ``core.db``) the database at ``url``: a SQLite file
path or ``sqlite:///…`` (embedded), or ``postgresql://…`` (shared by processes on several machines). Every
read-modify-write step is atomic across processes: ``BEGIN IMMEDIATE`` on SQLite, row locks or single
statements (``INSERT … ON CONFLICT … WHERE``) on PostgreSQL.

Owners: each job records the process that runs it, and each open store keeps a heartbeat row for its process
(refreshed every ``owner_timeout / 3``). ``recover_interrupted()`` marks active jobs whose owner is gone as
``INTERRUPTED``: on the same host by the pid checks of ``OwnerProcess``, on any host by a heartbeat older
than ``owner_timeout``. Image paths inside ``output_dir`` are recorded relative to it, so replicas that mount
the shared folder at different places all find the files.

Each step is a synchronous function of a ``Connection``, run in one transaction: on PostgreSQL through the
async driver (``run_sync``), on SQLite whole in a worker thread (one hop per transaction, not per statement).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Row, case, delete, select, update
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clocks import WallClock, utc_now
from core.db import database_unavailable, open_database, sqlite_sync_engine, unavailable_errors, write_engine
from core.errors import InvalidRequestError, JobNotFoundError
from core.jobs import JobRecord, Requester, new_job_id
from core.jobs_sql_rows import (
    image_from_row,
    image_values,
    job_values,
    owner_gone,
    record_from_row,
    to_db_time,
    to_json,
)
from core.jobs_tables import job_failures, job_images, jobs, meta, owners, quotas
from core.process import OwnerProcess
from core.results import GeneratedImage, ImageFailure, JobStatus, Usage

__all__ = ["INTERRUPTED_MESSAGE", "SqlJobStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[Connection], T]

ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
INTERRUPTED_MESSAGE = "The process running this job stopped before the job finished."
RELEASED = "released"  # the owner token of a job no process runs: it waits on a provider task


class SqlJobStore:
    """Jobs, quota counters and adapter metadata in SQLite or PostgreSQL. Open with ``connect``/``open``."""

    def __init__(self, engine: AsyncEngine, *, output_dir: Path | None = None, clock: WallClock = utc_now,
                 owner_timeout: float = 30.0, busy_timeout: float = 30.0) -> None:
        """Wrap a migrated engine (use ``connect``/``open``)."""
        self.engine = engine
        self.output_dir = output_dir
        self.owner_timeout = owner_timeout
        self._writer = write_engine(engine)
        self._sync: Engine | None = sqlite_sync_engine(engine, busy_timeout=busy_timeout)
        self._sync_writer = write_engine(self._sync) if self._sync is not None else None
        self._clock = clock
        self._unavailable = unavailable_errors(engine)
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    async def connect(cls, url: str | Path | URL, *, output_dir: Path | None = None, clock: WallClock = utc_now,
                      owner_timeout: float = 30.0, busy_timeout: float = 30.0) -> SqlJobStore:
        """Open the database (creating or upgrading its schema) and start this process's heartbeat.

        Raises:
            ConfigurationError: not a job database, or written by a newer version (left untouched).
            BackendUnavailableError: the database server does not answer.
        """
        engine = await open_database(url, busy_timeout=busy_timeout)
        store = cls(engine, output_dir=output_dir, clock=clock, owner_timeout=owner_timeout,
                    busy_timeout=busy_timeout)
        try:
            await store.beat()
        except BaseException:
            await engine.dispose()
            raise
        store._heartbeat = asyncio.get_running_loop().create_task(store._beat_forever(), name="job-store-heartbeat")
        return store

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str | Path | URL, **options: Any) -> AsyncIterator[SqlJobStore]:
        """``async with SqlJobStore.open(url) as store``: ``connect`` + ``close``."""
        store = await cls.connect(url, **options)
        try:
            yield store
        finally:
            await store.close()

    async def close(self) -> None:
        """Stop the heartbeat and close the connections; later calls raise RuntimeError."""
        if self._closed:
            return
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._sync is not None:
            await asyncio.to_thread(self._sync.dispose)
        await self.engine.dispose()

    async def _read(self, work: Work[T]) -> T:
        return await self._run(work, write=False)

    async def _write(self, work: Work[T]) -> T:
        return await self._run(work, write=True)

    async def _run(self, work: Work[T], *, write: bool) -> T:
        if self._closed:
            raise RuntimeError("the job store is closed")
        if self._sync is not None:
            return await asyncio.to_thread(self._run_here, work, write=write)
        try:
            async with (self._writer if write else self.engine).begin() as connection:
                return await connection.run_sync(work)
        except self._unavailable as exc:
            raise database_unavailable(self.engine.url, exc) from exc

    def _run_here(self, work: Work[T], *, write: bool) -> T:
        """One SQLite transaction in this (worker) thread."""
        assert self._sync is not None and self._sync_writer is not None
        with (self._sync_writer if write else self._sync).begin() as connection:
            return work(connection)

    def _now(self) -> str:
        return to_db_time(self._clock())

    # -- owners ----------------------------------------------------------------------------------------------

    async def beat(self) -> None:
        """Refresh this process's heartbeat row (the store does it every ``owner_timeout / 3``)."""
        owner = OwnerProcess.current()
        values = {"token": owner.token, "host": owner.host, "pid": owner.pid, "start_time": owner.start_time,
                  "heartbeat_at": self._now()}

        def work(connection: Connection) -> None:
            insert = _insert(connection, owners).values(**values)
            connection.execute(insert.on_conflict_do_update(
                index_elements=[owners.c.token], set_={"heartbeat_at": insert.excluded.heartbeat_at}))

        await self._write(work)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.owner_timeout / 3)
            try:
                await self.beat()
            except Exception as exc:  # the database may be back at the next beat; jobs go on meanwhile
                log.warning("could not refresh this process's heartbeat in the job store: %s", exc)

    # -- jobs ------------------------------------------------------------------------------------------------

    async def create(self, *, requester: Requester, request: dict[str, Any], parameters: dict[str, Any],
                     provider: str, model: str, prompt: str, parent_id: str | None = None,
                     job_id: str | None = None, extra: dict[str, Any] | None = None) -> JobRecord:
        """Record a new ``QUEUED`` job owned by this process, with its first adapter metadata (``extra``).

        Raises:
            InvalidRequestError: ``job_id`` was given and is already taken.
        """
        owner = OwnerProcess.current()
        record = JobRecord(
            job_id=job_id or new_job_id(), requester=requester, request=request, parameters=parameters,
            provider=provider, model=model, prompt=prompt, status=JobStatus.QUEUED,
            created_at=datetime.fromisoformat(self._now()), parent_id=parent_id, extra=dict(extra or {}),
        )
        for _attempt in range(5):
            try:
                await self._write(lambda c: c.execute(jobs.insert().values(**job_values(record, owner))))
                return record
            except IntegrityError:
                if job_id is not None:
                    raise InvalidRequestError("job_id", job_id, "an id no other job uses") from None
                record.job_id = new_job_id()  # a 60-bit collision: astronomically rare, but cheap to survive
        raise RuntimeError("could not allocate a unique job id")

    async def mark_running(self, job_id: str) -> None:
        """The job left the queue; this process now owns it. Raises JobNotFoundError."""
        owner = OwnerProcess.current()
        await self._update_job(job_id, status=JobStatus.RUNNING.value, started_at=self._now(),
                               owner_host=owner.host, owner_pid=owner.pid, owner_start=owner.start_time,
                               owner_token=owner.token)

    async def add_image(self, job_id: str, image: GeneratedImage) -> None:
        """Record a saved image (replacing one with the same index). Raises JobNotFoundError."""
        values = {"job_id": job_id, **image_values(image, self.output_dir)}

        def work(connection: Connection) -> None:
            insert = _insert(connection, job_images).values(**values)
            changes = {name: insert.excluded[name] for name in values if name not in ("job_id", "idx")}
            connection.execute(insert.on_conflict_do_update(
                index_elements=[job_images.c.job_id, job_images.c.idx], set_=changes))

        await self._write_for_job(job_id, work)

    async def add_failure(self, job_id: str, failure: ImageFailure) -> None:
        """Record an image the provider did not produce. Raises JobNotFoundError."""
        def work(connection: Connection) -> None:
            connection.execute(job_failures.insert().values(
                job_id=job_id, idx=failure.index, code=failure.code, message=failure.message,
                kind=failure.kind))

        await self._write_for_job(job_id, work)

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
        await self._update_job(job_id, status=status.value, usage_images=usage.generated_images,
                               usage_output_tokens=usage.output_tokens, usage_total_tokens=usage.total_tokens,
                               error=error, error_kind=error_kind, finished_at=self._now())

    async def get(self, job_id: str) -> JobRecord:
        """The job. Raises JobNotFoundError."""
        def work(connection: Connection) -> JobRecord:
            rows = connection.execute(select(jobs).where(jobs.c.id == job_id)).all()
            if not rows:
                raise _not_found(job_id)
            return self._records(connection, rows)[0]

        return await self._read(work)

    async def list_jobs(self, *, user_id: str | None = None, adapter: str | None = None,
                        limit: int = 20) -> list[JobRecord]:
        """Newest first, optionally one user's or one adapter's. Raises ValueError for ``limit`` < 1."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.seq.desc()).limit(limit)
        if user_id is not None:
            query = query.where(jobs.c.user_id == user_id)
        if adapter is not None:
            query = query.where(jobs.c.adapter == adapter)

        def work(connection: Connection) -> list[JobRecord]:
            return self._records(connection, connection.execute(query).all())

        return await self._read(work)

    async def set_extra(self, job_id: str, key: str, value: Any) -> None:
        """Set one JSON-serialisable adapter metadata entry (e.g. a Discord message id). Raises JobNotFoundError."""
        encoded = json.dumps(value)  # fail early, before touching the database

        def work(connection: Connection) -> None:
            found = (connection.execute(
                select(jobs.c.extra).where(jobs.c.id == job_id).with_for_update())).scalar_one_or_none()
            if found is None:
                raise _not_found(job_id)
            extra = json.loads(found) | {key: json.loads(encoded)}
            connection.execute(update(jobs).where(jobs.c.id == job_id).values(extra=to_json(extra)))

        await self._write(work)

    async def release(self, job_id: str) -> None:
        """The job stays running, owned by no process (it waits on a provider task). Raises JobNotFoundError."""
        await self._update_job(job_id, owner_host=None, owner_pid=None, owner_start=None, owner_token=RELEASED)

    async def recover_interrupted(self) -> list[str]:
        """Mark queued/running jobs whose owning process is gone as ``INTERRUPTED`` (keeping their images).

        Returns the ids, oldest first. Entry points call this at start-up; survivors may call it any time.
        """
        query = (select(jobs.c.id, jobs.c.owner_host, jobs.c.owner_pid, jobs.c.owner_start, jobs.c.owner_token,
                        owners.c.heartbeat_at)
                 .outerjoin(owners, owners.c.token == jobs.c.owner_token)
                 .where(jobs.c.status.in_(ACTIVE), jobs.c.owner_token.is_distinct_from(RELEASED))
                 .order_by(jobs.c.created_at, jobs.c.seq))
        candidates = await self._read(lambda c: _all(c, query))
        stale_before = to_db_time(self._clock() - timedelta(seconds=self.owner_timeout))
        gone = [(row.id, row.owner_token) for row in candidates if owner_gone(row, stale_before)]
        if not gone:
            return []

        def work(connection: Connection) -> list[str]:
            now, recovered = self._now(), []
            for job_id, token in gone:
                # Same owner token and still active: nobody finished or took over the job meanwhile.
                result = connection.execute(
                    update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE),
                                       jobs.c.owner_token.is_not_distinct_from(token))
                    .values(status=JobStatus.INTERRUPTED.value, finished_at=now, error=INTERRUPTED_MESSAGE,
                            error_kind="interrupted"))
                if result.rowcount:
                    recovered.append(job_id)
            return recovered

        return await self._write(work)

    # -- quotas and metadata ---------------------------------------------------------------------------------

    async def reserve_quota(self, *, key: str, day: str, amount: int, limit: int) -> bool:
        """Add ``amount`` to the (key, day) counter only if it stays ≤ ``limit``; True when it did.

        One atomic statement, so safe across tasks, processes and machines. Raises ValueError for a negative
        ``amount``.
        """
        if amount < 0:
            raise ValueError("amount must not be negative")
        if amount > limit:
            return False

        def work(connection: Connection) -> bool:
            insert = _insert(connection, quotas).values(key=key, day=day, used=amount)
            total = quotas.c.used + insert.excluded.used
            statement = insert.on_conflict_do_update(
                index_elements=[quotas.c.key, quotas.c.day], set_={"used": total}, where=total <= limit)
            return connection.execute(statement.returning(quotas.c.used)).first() is not None

        return await self._write(work)

    async def release_quota(self, *, key: str, day: str, amount: int) -> None:
        """Give back ``amount``; the counter never goes below 0. Raises ValueError for a negative amount."""
        if amount < 0:
            raise ValueError("amount must not be negative")
        left = case((quotas.c.used > amount, quotas.c.used - amount), else_=0)
        await self._write(lambda c: c.execute(
            update(quotas).where(quotas.c.key == key, quotas.c.day == day).values(used=left)))

    async def quota_used(self, *, key: str, day: str) -> int:
        """The (key, day) counter; 0 when never used."""
        query = select(quotas.c.used).where(quotas.c.key == key, quotas.c.day == day)
        used = await self._read(lambda c: _scalar(c, query))
        return int(used or 0)

    async def get_meta(self, key: str) -> str | None:
        """A stored metadata value, or None."""
        return await self._read(lambda c: _scalar(c, select(meta.c.value).where(meta.c.key == key)))

    async def set_meta(self, key: str, value: str) -> None:
        """Store (or replace) a metadata value."""
        def work(connection: Connection) -> None:
            insert = _insert(connection, meta).values(key=key, value=value)
            connection.execute(insert.on_conflict_do_update(
                index_elements=[meta.c.key], set_={"value": insert.excluded.value}))

        await self._write(work)

    async def forget_owners(self, *, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete heartbeat rows of owners silent for ``older_than``; return how many."""
        cutoff = to_db_time(self._clock() - older_than)
        result = await self._write(lambda c: c.execute(delete(owners).where(owners.c.heartbeat_at < cutoff)))
        return int(result.rowcount or 0)

    # -- helpers ---------------------------------------------------------------------------------------------

    async def _write_for_job(self, job_id: str, work: Work[None]) -> None:
        """A write of rows that belong to a job: the foreign key proves the job exists (no extra query on the
        hot path of saving an image)."""
        try:
            await self._write(work)
        except IntegrityError:
            raise _not_found(job_id) from None

    async def _update_job(self, job_id: str, **values: Any) -> None:
        def work(connection: Connection) -> None:
            result = connection.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
            if result.rowcount == 0:
                raise _not_found(job_id)

        await self._write(work)

    def _records(self, connection: Connection, rows: list[Row[Any]]) -> list[JobRecord]:
        """Records for job rows, with their images and failures fetched in two queries."""
        ids = [row.id for row in rows]
        images: dict[str, list[GeneratedImage]] = {i: [] for i in ids}
        failures: dict[str, list[Row[Any]]] = {i: [] for i in ids}
        for image in _all(connection, select(job_images).where(job_images.c.job_id.in_(ids))
                                .order_by(job_images.c.idx)):
            images[image.job_id].append(image_from_row(image, self.output_dir))
        for failure in _all(connection, select(job_failures).where(job_failures.c.job_id.in_(ids))
                                  .order_by(job_failures.c.idx)):
            failures[failure.job_id].append(failure)
        return [record_from_row(row, images[row.id], failures[row.id]) for row in rows]


def _insert(connection: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` (the same API on SQLite and PostgreSQL).
    Imported on use: the PostgreSQL dialect takes a tenth of a second to load, which SQLite users never need."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _all(connection: Connection, query: Any) -> list[Row[Any]]:
    return list(connection.execute(query).all())


def _scalar(connection: Connection, query: Any) -> Any:
    return connection.execute(query).scalar_one_or_none()


def _not_found(job_id: str) -> JobNotFoundError:
    shown = job_id if len(job_id) <= 40 else job_id[:39] + "…"
    return JobNotFoundError(f"No job with id {shown!r}.")
