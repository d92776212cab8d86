"""The SQLite job store's connection set-up, schema, migrations (``PRAGMA user_version``) and row mapping.

To change the schema, append a step to ``_MIGRATIONS`` (never edit a released one): a file at version *n*
runs the steps after *n*, inside the caller's write transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from core.errors import ConfigurationError
from core.jobs import JobRecord, Requester
from core.results import GeneratedImage, ImageFailure, JobStatus, Usage

_V1 = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,              -- insertion order: breaks ties between equal created_at
    id TEXT NOT NULL UNIQUE,
    adapter TEXT NOT NULL,
    user_id TEXT,
    guild_id TEXT,
    channel_id TEXT,
    display_name TEXT,
    request TEXT NOT NULL,                -- JSON
    parameters TEXT NOT NULL,             -- JSON
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    status TEXT NOT NULL,
    usage_images INTEGER NOT NULL DEFAULT 0,
    usage_output_tokens INTEGER NOT NULL DEFAULT 0,
    usage_total_tokens INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_kind TEXT,
    created_at TEXT NOT NULL,             -- fixed-width UTC ISO 8601: text order is time order
    started_at TEXT,
    finished_at TEXT,
    parent_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',     -- JSON
    owner_host TEXT,                      -- pids are only comparable on the same host / pid namespace
    owner_pid INTEGER,
    owner_start TEXT,                     -- the owner's OS start time, to detect a recycled pid
    owner_token TEXT                      -- random per process, to detect an earlier incarnation of our pid
);
CREATE INDEX jobs_by_time ON jobs (created_at, seq);
CREATE INDEX jobs_by_user ON jobs (user_id, created_at);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued', 'running');
CREATE TABLE job_images (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    format TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    seed INTEGER,
    source_url TEXT,
    url_expires_at TEXT,                  -- ISO 8601 with the offset it was given
    sidecar_path TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE job_failures (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_failures_by_job ON job_failures (job_id, idx);
CREATE TABLE quotas (
    key TEXT NOT NULL,
    day TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (key, day)
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Each image failure says what kind of failure it was (``core.errors.FailureKind``).
_V2 = """
ALTER TABLE job_failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'provider_error';
"""

_MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(_MIGRATIONS)
T = TypeVar("T")


def open_connection(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating the directories, the file and the schema) a connection in WAL mode, autocommit.

    Raises:
        ConfigurationError: the file was written by a newer, incompatible version.
    """
    in_memory = str(path) == ":memory:"
    if not in_memory:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() and os.name == "posix":
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # prompts and user ids: owner-only file
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if not in_memory:
            _enable_wal(connection, busy_timeout)
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        version = transaction(connection, migrate, "BEGIN IMMEDIATE")
    except BaseException:
        connection.close()
        raise
    if version > SCHEMA_VERSION:
        connection.close()
        raise ConfigurationError(
            f"The job database {path} was written by a newer version of seedream-studio "
            f"(schema {version}, this version reads {SCHEMA_VERSION}). Upgrade, or point to another file.",
            variables=("SEEDREAM_JOBS_DB",))
    return connection


def _enable_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL unless already in it. Switching needs an exclusive lock and SQLite does not wait for it
    (the busy timeout does not apply), so processes opening a new file together retry briefly instead of
    failing with "database is locked". Runs in a worker thread, so the short sleeps block no event loop."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], begin: str) -> T:
    """Run ``work`` between ``begin`` (e.g. ``BEGIN IMMEDIATE``) and ``COMMIT``; roll back if it raises."""
    connection.execute(begin)
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the schema up to ``SCHEMA_VERSION``; return the version the file had (may be newer than ours).

    Runs inside the caller's ``BEGIN IMMEDIATE``, so concurrent openers migrate once.
    """
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    for step in _MIGRATIONS[version:]:
        for statement in _statements(step):
            connection.execute(statement)
    if version < SCHEMA_VERSION:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the caller's transaction, so run statement by statement.
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# -- row mapping ---------------------------------------------------------------------------------------------

JOB_COLUMNS = (
    "id, adapter, user_id, guild_id, channel_id, display_name, request, parameters, provider, model, prompt, "
    "status, usage_images, usage_output_tokens, usage_total_tokens, error, error_kind, created_at, "
    "started_at, finished_at, parent_id, extra"
)
IMAGE_COLUMNS = (
    "idx, path, width, height, bytes, format, model, provider, seed, source_url, url_expires_at, sidecar_path"
)


def load_records(connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[JobRecord]:
    """Build records from ``JOB_COLUMNS`` rows, fetching their images and failures in two queries."""
    ids = [row[0] for row in rows]
    images: dict[str, list[GeneratedImage]] = {i: [] for i in ids}
    failures: dict[str, list[ImageFailure]] = {i: [] for i in ids}
    marks = ", ".join("?" * len(ids))
    for job_id, *image in connection.execute(
            f"SELECT job_id, {IMAGE_COLUMNS} FROM job_images WHERE job_id IN ({marks}) ORDER BY idx", ids):
        images[job_id].append(image_from_row(image))
    for job_id, index, code, message, kind in connection.execute(
            f"SELECT job_id, idx, code, message, kind FROM job_failures WHERE job_id IN ({marks}) "
            "ORDER BY idx, rowid", ids):
        failures[job_id].append(ImageFailure(index=index, code=code, message=message, kind=kind))
    return [record_from_row(row, images[row[0]], failures[row[0]]) for row in rows]


def record_from_row(row: tuple[Any, ...], images: list[GeneratedImage],
                    failures: list[ImageFailure]) -> JobRecord:
    """A record from a ``JOB_COLUMNS`` row."""
    (job_id, adapter, user_id, guild_id, channel_id, display_name, request, parameters, provider, model,
     prompt, status, usage_images, usage_output, usage_total, error, error_kind, created_at, started_at,
     finished_at, parent_id, extra) = row
    return JobRecord(
        job_id=job_id, requester=Requester(adapter=adapter, user_id=user_id, guild_id=guild_id,
                                       channel_id=channel_id, display_name=display_name),
        request=json.loads(request), parameters=json.loads(parameters), provider=provider, model=model,
        prompt=prompt, status=JobStatus(status), images=images, failures=failures,
        usage=Usage(generated_images=usage_images, output_tokens=usage_output, total_tokens=usage_total),
        error=error, error_kind=error_kind, created_at=from_db_time(created_at),
        started_at=from_db_time(started_at) if started_at else None,
        finished_at=from_db_time(finished_at) if finished_at else None,
        parent_id=parent_id, extra=json.loads(extra),
    )


def image_row(image: GeneratedImage) -> tuple[Any, ...]:
    """The ``IMAGE_COLUMNS`` values of an image."""
    # Datetimes keep their own offset (isoformat round-trips exactly); paths are stored as given.
    return (image.index, str(image.path), image.width, image.height, image.bytes, image.format, image.model,
            image.provider, image.seed, image.source_url,
            image.url_expires_at.isoformat() if image.url_expires_at else None,
            str(image.sidecar_path) if image.sidecar_path else None)


def image_from_row(row: list[Any]) -> GeneratedImage:
    """An image from its ``IMAGE_COLUMNS`` values."""
    (index, path, width, height, size, fmt, model, provider, seed, source_url, expires, sidecar) = row
    return GeneratedImage(
        index=index, path=Path(path), width=width, height=height, bytes=size, format=fmt, model=model,
        provider=provider, seed=seed, source_url=source_url,
        url_expires_at=datetime.fromisoformat(expires) if expires else None,
        sidecar_path=Path(sidecar) if sidecar else None,
    )


def to_db_time(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order."""
    if moment.tzinfo is None:
        raise ValueError("the job store needs timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str) -> datetime:
    """The UTC-aware datetime ``to_db_time`` wrote."""
    return datetime.fromisoformat(text)


def to_json(value: Any) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
