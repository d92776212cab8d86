"""Opening the job database: new files and schemas, in-place migration of the first store's files, refusing
(untouched) what is not ours, concurrent openers, and a database server that does not answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.db import normalize_url, open_database
from core.errors import BackendUnavailableError, ConfigurationError
from core.jobs_sql import SqlJobStore
from core.jobs_tables import metadata
from core.results import ImageFailure

HEAD = "0002"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "jobs.sqlite3")
    return request.getfixturevalue("postgres_url")


async def revision(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()


async def columns(engine: AsyncEngine) -> dict[str, set[tuple[str, bool]]]:
    def read(connection) -> dict[str, set[tuple[str, bool]]]:
        inspector = inspect(connection)
        return {table: {(c["name"], bool(c["nullable"])) for c in inspector.get_columns(table)}
                for table in inspector.get_table_names() if table != "alembic_version"}

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def test_the_migrations_make_exactly_the_tables_the_store_queries(database: str) -> None:
    engine = await open_database(database)
    try:
        made = await columns(engine)
        assert await revision(engine) == HEAD
    finally:
        await engine.dispose()
    declared = {table.name: {(c.name, bool(c.nullable)) for c in table.columns} for table in metadata.sorted_tables}
    assert made == declared


async def test_a_new_sqlite_database_is_a_private_wal_file_in_new_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "jobs.sqlite3"
    async with SqlJobStore.open(path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


async def test_four_openers_of_a_new_database_at_once_migrate_it_once(database: str) -> None:
    stores = await asyncio.gather(*(SqlJobStore.connect(database) for _ in range(4)))
    try:
        assert [await store.quota_used(key="k", day="d") for store in stores] == [0, 0, 0, 0]
        assert await revision(stores[0].engine) == HEAD
    finally:
        for store in stores:
            await store.close()


LEGACY_SCHEMA = (Path(__file__).parent / "legacy_v1_schema.sql").read_text()


def write_legacy_file(path: Path) -> None:
    """A job database as the first release's embedded store left it: one job with an image and a failure."""
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.executescript(LEGACY_SCHEMA)
        connection.execute(
            "INSERT INTO jobs (id, adapter, user_id, request, parameters, provider, model, prompt, status, "
            "created_at) VALUES ('oldjob000001', 'cli', 'u', '{\"prompt\": \"p\"}', '{}', 'ark', 'm', 'p', "
            "'succeeded', '2025-01-01T00:00:00.000000+00:00')")
        connection.execute("INSERT INTO job_images (job_id, idx, path, width, height, bytes, format, model, "
                           "provider) VALUES ('oldjob000001', 0, ?, 1, 1, 1, 'png', 'm', 'ark')",
                           (str(path.parent / "a.png"),))
        connection.execute("INSERT INTO job_failures (job_id, idx, code, message) VALUES "
                           "('oldjob000001', 1, 'x', 'refused')")
        connection.execute("INSERT INTO quotas (key, day, used) VALUES ('k', 'd', 3)")
        connection.execute("PRAGMA user_version = 1")


async def test_a_file_written_by_the_first_embedded_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    write_legacy_file(path)
    async with SqlJobStore.open(path) as new:
        record = await new.get("oldjob000001")
        assert (record.prompt, [i.path for i in record.images]) == ("p", [tmp_path / "a.png"])
        assert record.failures == [ImageFailure(1, "x", "refused", "provider_error")]  # no kind was recorded
        assert await new.quota_used(key="k", day="d") == 3
        assert await revision(new.engine) == HEAD
        await new.add_failure("oldjob000001", ImageFailure(2, "y", "timeout", "timeout"))  # the new column


def _write_foreign(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE recipes (name TEXT)")
        connection.execute("INSERT INTO recipes VALUES ('soup')")


@pytest.mark.parametrize("content", ["foreign", "corrupt", "newer", "newer-revision"])
async def test_a_file_that_is_not_ours_or_is_newer_is_refused_and_left_untouched(
        tmp_path: Path, content: str) -> None:
    path = tmp_path / "jobs.sqlite3"
    if content == "foreign":
        _write_foreign(path)
    elif content == "corrupt":
        path.write_bytes(b"this is not a database, just bytes" * 200)
    else:
        async with SqlJobStore.open(path):
            pass
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            if content == "newer":
                connection.execute("DROP TABLE alembic_version")
                connection.execute("PRAGMA user_version = 99")
            else:
                connection.execute("UPDATE alembic_version SET version_num = 'ffff'")
    before = path.read_bytes()
    expected = "newer" if content.startswith("newer") else "not a seedream-studio job database"
    with pytest.raises(ConfigurationError, match=expected) as caught:
        await SqlJobStore.connect(path)
    assert path.read_bytes() == before
    assert "SEEDREAM_DATABASE_URL" in caught.value.variables


async def test_a_postgresql_schema_holding_other_tables_is_refused_and_left_untouched(postgres_url: str) -> None:
    other = create_async_engine(normalize_url(postgres_url))
    try:
        async with other.begin() as connection:
            await connection.execute(text("CREATE TABLE jobs (name TEXT)"))
            await connection.execute(text("INSERT INTO jobs VALUES ('not ours')"))
        with pytest.raises(ConfigurationError, match="not a seedream-studio job database"):
            await SqlJobStore.connect(postgres_url)
        async with other.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            rows = (await connection.execute(text("SELECT name FROM jobs"))).all()
        assert (tables, rows) == (["jobs"], [("not ours",)])
    finally:
        await other.dispose()


async def test_a_database_left_at_an_older_revision_must_be_upgraded_when_migrating_is_off(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    write_legacy_file(path)
    with pytest.raises(ConfigurationError, match="seedream db upgrade"):
        await open_database(path, migrate=False)
    await (await open_database(path)).dispose()
    engine = await open_database(path, migrate=False)
    assert await revision(engine) == HEAD
    await engine.dispose()


async def test_a_postgresql_server_that_does_not_answer_is_a_clear_error_naming_the_variable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://seedream:hunter2@127.0.0.1:{port}/jobs"
    with pytest.raises(BackendUnavailableError, match="SEEDREAM_DATABASE_URL") as caught:
        await SqlJobStore.connect(url)
    assert caught.value.backend == "database" and "hunter2" not in caught.value.message


def test_only_postgresql_and_sqlite_urls_are_accepted() -> None:
    assert normalize_url("postgresql://h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///tmp/x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url(Path("rel.db")).database == str(Path("rel.db").absolute())
    with pytest.raises(ConfigurationError, match="SEEDREAM_DATABASE_URL"):
        normalize_url("mysql://h/db")


def test_the_head_revision_named_in_the_package_is_the_newest_script() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from core.db import MIGRATIONS
    from core.migrations import HEAD as NAMED

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == NAMED
