"""The job database's tables, as SQLAlchemy Core objects for the queries of ``core.jobs_sql``.

The tables are *made* by the Alembic migrations in ``core/migrations`` (never by ``create_all``); this module
describes the newest revision, and ``tests/core/test_jobs_sql.py`` checks that the two agree. Times are
fixed-width UTC ISO 8601 text (text order is time order), JSON is text: one schema for SQLite and
PostgreSQL, and the file today's embedded store wrote stays readable as it is.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, Table, Text

metadata = MetaData()

jobs = Table(
    "jobs", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # insertion order: breaks created_at ties
    Column("id", Text, nullable=False, unique=True),
    Column("adapter", Text, nullable=False),
    Column("user_id", Text),
    Column("guild_id", Text),
    Column("channel_id", Text),
    Column("display_name", Text),
    Column("request", Text, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("usage_images", Integer, nullable=False, server_default="0"),
    Column("usage_output_tokens", Integer, nullable=False, server_default="0"),
    Column("usage_total_tokens", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("error_kind", Text),
    Column("created_at", Text, nullable=False),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("parent_id", Text),
    Column("extra", Text, nullable=False, server_default="{}"),
    Column("owner_host", Text),  # pids are only comparable on the same host / pid namespace
    Column("owner_pid", Integer),
    Column("owner_start", Text),  # the owner's OS start time, to detect a recycled pid
    Column("owner_token", Text),  # random per process: its heartbeat row, and earlier incarnations of a pid
)

job_images = Table(
    "job_images", metadata,
    Column("job_id", Text, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("path", Text, nullable=False),  # relative to the output folder when inside it
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("format", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("seed", Integer),
    Column("source_url", Text),
    Column("url_expires_at", Text),  # ISO 8601 with the offset it was given
    Column("sidecar_path", Text),
)

job_failures = Table(
    "job_failures", metadata,
    Column("job_id", Text, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("code", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("kind", Text),  # the failure's meaning (content_rejected, timeout, …), decided by the provider adapter
    Index("job_failures_by_job", "job_id", "idx"),
)

quotas = Table(
    "quotas", metadata,
    Column("key", Text, primary_key=True),
    Column("day", Text, primary_key=True),
    Column("used", Integer, nullable=False),
)

meta = Table(
    "meta", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

owners = Table(
    "owners", metadata,
    Column("token", Text, primary_key=True),  # OwnerProcess.token
    Column("host", Text),
    Column("pid", Integer),
    Column("start_time", Text),
    Column("heartbeat_at", Text, nullable=False),  # a live owner refreshes it; survivors judge by its age
)
