"""The job database's engine and migrations: one code path for SQLite (embedded) and PostgreSQL (shared).

``open_database(url)`` builds an async SQLAlchemy engine (``aiosqlite`` or ``psycopg`` 3) and brings the
schema to the newest Alembic revision, safely when several processes open the same database at once (SQLite:
inside ``BEGIN IMMEDIATE``; PostgreSQL: under a transaction-level advisory lock). It refuses, *without
writing anything*, a file or schema that is not a seedream-studio job database, a corrupt file, and one
written by a newer version. A file written by the first embedded store (SQLite ``user_version`` 1, no Alembic
table) is stamped at revision ``0001`` and upgraded in place.

SQLite connections run in WAL mode with a busy timeout, and ``write_engine(engine)`` begins its transactions
with ``BEGIN IMMEDIATE`` (the writer takes the lock before reading what it will change), so read-modify-write
steps are atomic across processes there too. On PostgreSQL the same steps use row locks (``FOR UPDATE``) or
single atomic statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.errors import BackendUnavailableError, ConfigurationError
from core.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

E = TypeVar("E", AsyncEngine, Engine)

__all__ = ["LEGACY", "database_revision", "database_unavailable", "describe", "normalize_url", "open_database",
           "sqlite_sync_engine", "unavailable_errors", "upgrade_database", "write_engine"]

VARIABLE = "SEEDREAM_DATABASE_URL"
MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_TABLES = {"jobs", "job_images", "job_failures", "quotas", "meta"}
#: How long a PostgreSQL connection attempt may take before the store reports the database unavailable.
CONNECT_TIMEOUT = 2
_WRITE = "seedream_write"
#: The revision reported for a file of the first embedded store (``user_version`` 1, before Alembic).
LEGACY = "legacy"


def normalize_url(url: str | Path) -> URL:
    """``postgresql://…`` → psycopg 3, ``sqlite:///…`` or a bare path → aiosqlite.

    Raises:
        ConfigurationError: another kind of database.
    """
    if isinstance(url, Path) or "://" not in url:
        return URL.create("sqlite+aiosqlite", database=str(Path(url).expanduser().absolute()))
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ConfigurationError(
        f"{VARIABLE} must be a postgresql:// or sqlite:/// URL, not {parsed.drivername}://…",
        variables=(VARIABLE,))


def database_unavailable(url: URL, exc: BaseException | None = None) -> BackendUnavailableError:
    """The error for a database that does not answer (the URL shown without its password)."""
    why = f" ({type(exc).__name__})" if exc is not None else ""
    where = describe(url)
    return BackendUnavailableError(
        f"The job database at {where} does not answer{why}, so jobs cannot be recorded. Start it or fix "
        f"{VARIABLE}; or unset {VARIABLE} to keep jobs in the embedded SQLite file.",
        backend="database", variable=VARIABLE)


def describe(url: URL) -> str:
    """The database as a person would name it: a file path, or the URL without its password or driver."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.set(drivername=url.get_backend_name(), query={}).render_as_string(hide_password=True)


def unavailable_errors(engine: AsyncEngine) -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the server does not answer" for this engine (none for a SQLite file)."""
    if engine.dialect.name == "sqlite":
        return ()
    return (OperationalError, InterfaceError, OSError)


def write_engine(engine: E) -> E:
    """The engine whose transactions write: ``BEGIN IMMEDIATE`` on SQLite, a plain ``BEGIN`` elsewhere."""
    return engine.execution_options(**{_WRITE: True})


def sqlite_sync_engine(engine: AsyncEngine, *, busy_timeout: float = 30.0) -> Engine | None:
    """For a SQLite database, a plain (pysqlite) engine on the same file, configured alike: a whole transaction
    then runs in one worker-thread hop, where the async driver needs one hop per statement. ``None`` for a
    database server, whose async driver is used as it is."""
    if engine.dialect.name != "sqlite":
        return None
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_engine(url, pool_reset_on_return=None, connect_args={"check_same_thread": False})
    _configure_sqlite(sync, busy_timeout)
    return sync


async def open_database(url: str | Path | URL, *, busy_timeout: float = 30.0, migrate: bool = True) -> AsyncEngine:
    """An engine for ``url`` with the schema at the newest revision (``migrate=False``: checked only).

    Raises:
        ConfigurationError: not a job database, corrupt, written by a newer version, or (``migrate=False``)
            not yet migrated.
        BackendUnavailableError: the PostgreSQL server does not answer.
    """
    engine, _before = await _open(url, busy_timeout=busy_timeout, migrate=migrate)
    return engine


async def upgrade_database(url: str | Path | URL) -> tuple[str | None, str]:
    """Bring the schema to the newest revision (``seedream db upgrade``): (the revision it had — ``None`` for a
    new database, ``LEGACY`` for a file of the first embedded store — and the one it has now).

    Raises:
        ConfigurationError, BackendUnavailableError: as ``open_database``.
    """
    engine, before = await _open(url, busy_timeout=30.0, migrate=True)
    await engine.dispose()
    return before, HEAD


async def database_revision(url: str | Path | URL) -> str | None:
    """The schema revision of the job database, read without writing anything (a missing SQLite file is not
    created): ``None`` when it has no schema yet, ``LEGACY`` for a file of the first embedded store.

    Raises:
        ConfigurationError: not a job database, corrupt, or written by a newer version.
        BackendUnavailableError: the PostgreSQL server does not answer.
    """
    url = url if isinstance(url, URL) else normalize_url(url)
    if url.get_backend_name() == "sqlite":
        return await asyncio.to_thread(_sqlite_revision, url)
    engine = create_async_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_revision)
    except unavailable_errors(engine) as exc:
        raise database_unavailable(url, exc) from exc
    finally:
        await engine.dispose()


async def _open(url: str | Path | URL, *, busy_timeout: float, migrate: bool) -> tuple[AsyncEngine, str | None]:
    """The engine, and the revision the schema had before (as ``upgrade_database`` reports it)."""
    url = url if isinstance(url, URL) else normalize_url(url)
    if url.get_backend_name() == "sqlite":
        await asyncio.to_thread(_prepare_sqlite_file, url, busy_timeout)
        # Every transaction ends in an explicit COMMIT or ROLLBACK: no reset needed when a connection returns.
        engine = create_async_engine(url, pool_reset_on_return=None)
        _configure_sqlite(engine.sync_engine, busy_timeout)
    else:
        engine = create_async_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        async with write_engine(engine).begin() as connection:
            before = await connection.run_sync(_migrate, migrate)
    except BaseException as exc:
        await engine.dispose()
        if isinstance(exc, unavailable_errors(engine)):
            raise database_unavailable(url, exc) from exc
        raise
    return engine, before


# -- SQLite ----------------------------------------------------------------------------------------------------


def _prepare_sqlite_file(url: URL, busy_timeout: float) -> None:
    """Create a new file (owner-only) or check an existing one without writing, then switch it to WAL."""
    database = url.database or ""
    if database in ("", ":memory:"):
        return
    path = Path(database)
    if path.exists() and path.stat().st_size > 0:
        _check_sqlite_file(path)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.name == "posix" and not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # prompts and user ids: owner-only file
    with contextlib.closing(sqlite3.connect(path, timeout=busy_timeout)) as connection:
        _enable_wal(connection, busy_timeout)


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not a job database (or not a database at all), opening it read-only."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = connection.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _foreign(str(path), f"it cannot be read as a database: {exc}") from exc
    if "alembic_version" in tables or (version == 1 and tables >= LEGACY_TABLES):
        return
    if version > 1:
        raise _newer(str(path), f"schema {version}")
    if tables:
        raise _foreign(str(path), "it holds other tables")


def _sqlite_revision(url: URL) -> str | None:
    """``database_revision`` of a SQLite file, through a read-only connection (runs in a worker thread)."""
    path = Path(url.database or "")
    if url.database in (None, "", ":memory:") or not path.exists() or path.stat().st_size == 0:
        return None
    _check_sqlite_file(path)
    # The URL names the file (in messages); the connection itself is read-only.
    engine = create_engine(url.set(drivername="sqlite+pysqlite"),
                           creator=lambda: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True))
    try:
        with engine.connect() as connection:
            return _read_revision(connection)
    finally:
        engine.dispose()


def _enable_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    # Switching to WAL needs an exclusive lock and SQLite does not wait for it (the busy timeout does not
    # apply), so processes opening a new file together retry briefly. Runs in a worker thread.
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


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy then issues BEGIN itself (below) instead of the driver's implicit, deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (f"busy_timeout = {int(busy_timeout * 1000)}", "synchronous = NORMAL", "foreign_keys = ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# -- migrations ------------------------------------------------------------------------------------------------


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _migrate(connection: Connection, migrate: bool) -> str | None:
    """Inside the opener's write transaction: classify the database, stamp a legacy file, upgrade. Returns the
    revision it had before (``None``: new, ``LEGACY``: the first embedded store's file)."""
    where = describe(connection.engine.url)
    if connection.dialect.name == "postgresql":
        # One migrating process at a time per schema; the lock ends with the transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('seedream-migrate:' || current_schema()))"))
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables and _revision(connection) == HEAD:
        return HEAD  # the usual start-up: nothing to do, and no need to load Alembic for it
    before = _revision(connection) if "alembic_version" in tables else LEGACY if tables else None
    _migrate_with_alembic(connection, tables, where, migrate)
    return before


def _read_revision(connection: Connection) -> str | None:
    """The revision of a database this version can open (read only); see ``database_revision``."""
    where = describe(connection.engine.url)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables:
        if not tables:
            return None
        if connection.dialect.name == "sqlite" and tables >= LEGACY_TABLES:
            return LEGACY  # _check_sqlite_file has seen its user_version
        raise _foreign(where, "it holds other tables")
    current = _revision(connection)
    if current is not None and current != HEAD:
        from alembic.script import ScriptDirectory
        from alembic.util.exc import CommandError

        try:
            ScriptDirectory(str(MIGRATIONS)).get_revision(current)
        except CommandError as exc:
            raise _newer(where, f"revision {current}") from exc
    return current


def _revision(connection: Connection) -> str | None:
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _migrate_with_alembic(connection: Connection, tables: set[str], where: str, migrate: bool) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    config = _alembic_config(connection)
    if "alembic_version" not in tables and tables:
        sqlite = connection.dialect.name == "sqlite"
        version = connection.exec_driver_sql("PRAGMA user_version").scalar() if sqlite else None
        if version != 1 or not tables >= LEGACY_TABLES:
            raise _foreign(where, "it holds other tables")
        if migrate:
            command.stamp(config, "0001")
    current = MigrationContext.configure(connection).get_current_revision()
    scripts = ScriptDirectory.from_config(config)
    if current is not None:
        try:
            scripts.get_revision(current)
        except CommandError as exc:
            raise _newer(where, f"revision {current}") from exc
    if migrate:
        command.upgrade(config, "head")
    elif current != scripts.get_current_head():
        raise ConfigurationError(f"The job database at {where} needs an upgrade: run `seedream db upgrade`.",
                                 variables=(VARIABLE,))


def _foreign(where: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"{where} is not a seedream-studio job database ({why}); it was left untouched. Point "
        f"{VARIABLE} (or SEEDREAM_JOBS_DB) at another database.", variables=(VARIABLE, "SEEDREAM_JOBS_DB"))


def _newer(where: str, what: str) -> ConfigurationError:
    return ConfigurationError(
        f"The job database {where} was written by a newer version of seedream-studio ({what}). Upgrade "
        f"seedream-studio, or point {VARIABLE} (or SEEDREAM_JOBS_DB) at another database.",
        variables=(VARIABLE, "SEEDREAM_JOBS_DB"))

