"""``seedream db upgrade`` / ``db current`` and ``seedream doctor``, each the real command in a subprocess, on a
SQLite file and on a PostgreSQL schema of the test's own (``tests.services``)."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.core.test_cli import run
from tests.core.test_db import LEGACY_SCHEMA
from tests.services import RedisNamespace

HEAD = "0002"
PROVIDERS = ("ark", "visual", "chanjing", "gateway")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but never listening: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def lines_of(stdout: str) -> dict[str, str]:
    """``seedream doctor``'s lines by check name: {"redis": "✗ Redis at … does not answer …"}."""
    return {line[2:16].strip(): line for line in stdout.splitlines()}


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


# -- db upgrade ------------------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_db_upgrade_makes_a_new_sqlite_file_once_and_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jobs.sqlite3"
    first = run("db", "upgrade", tmp_path=tmp_path)
    second = run("db", "upgrade", tmp_path=tmp_path)
    current = run("db", "current", tmp_path=tmp_path)

    assert (first.returncode, first.stdout, first.stderr) == (0, f"{path}: no schema yet → revision {HEAD}\n", "")
    assert (second.returncode, second.stdout) == (0, f"{path}: already at revision {HEAD}\n")
    assert (current.returncode, current.stdout) == (0, f"{path}: revision {HEAD} (this version's)\n")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]


@pytest.mark.embedded
def test_db_upgrade_migrates_a_file_of_the_first_store_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.executescript(LEGACY_SCHEMA)
        connection.execute("PRAGMA user_version = 1")
    before = run("db", "current", tmp_path=tmp_path, SEEDREAM_JOBS_DB=str(path))
    done = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_JOBS_DB=str(path))

    assert before.stdout == (f"{path}: the first embedded store's schema (this version needs {HEAD}: run "
                             "`seedream db upgrade`)\n")
    assert (done.returncode, done.stdout) == (0, f"{path}: the first embedded store's schema → revision {HEAD}\n")


def test_db_upgrade_on_a_postgresql_schema_then_again(tmp_path: Path, postgres_url: str) -> None:
    first = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=postgres_url)
    second = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=postgres_url)

    where = "postgresql://127.0.0.1:5432/test"  # without driver or options; a password would show as ***
    assert (first.returncode, first.stdout, first.stderr) == (0, f"{where}: no schema yet → revision {HEAD}\n", "")
    assert (second.returncode, second.stdout) == (0, f"{where}: already at revision {HEAD}\n")
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    engine.dispose()


@pytest.mark.embedded
def test_db_upgrade_refuses_another_programs_sqlite_file_and_leaves_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    before = path.read_bytes()
    done = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_JOBS_DB=str(path))

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "another program's SQLite database (tables: invoices)" in done.stderr
    assert path.read_bytes() == before


def test_db_upgrade_refuses_a_foreign_postgresql_schema_and_a_newer_one(tmp_path: Path, postgres_url: str) -> None:
    execute(postgres_url, "CREATE TABLE invoices (id INTEGER)")
    foreign = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=postgres_url)
    execute(postgres_url, "DROP TABLE invoices")
    assert run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=postgres_url).returncode == 0
    execute(postgres_url, "UPDATE alembic_version SET version_num = '9999'")
    newer = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=postgres_url)
    newer_current = run("db", "current", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=postgres_url)

    assert foreign.returncode == 2 and foreign.stderr.count("\n") == 1
    assert "is not a seedream-studio job database (it holds other tables); it was left untouched" in foreign.stderr
    for done in (newer, newer_current):
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert "written by a newer version of seedream-studio (revision 9999)" in done.stderr


def test_db_upgrade_of_a_server_that_does_not_answer_is_one_line_without_the_password(
        tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql://seedream:hunter2@127.0.0.1:{closed_port}/jobs"
    done = run("db", "upgrade", tmp_path=tmp_path, SEEDREAM_DATABASE_URL=url)

    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1
    assert f"The job database at postgresql://seedream:***@127.0.0.1:{closed_port}/jobs does not answer" in done.stderr
    assert "hunter2" not in done.stderr


# -- doctor ----------------------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_doctor_on_a_new_sandbox_setup_passes_and_never_shows_a_key(tmp_path: Path) -> None:
    done = run("doctor", tmp_path=tmp_path, ARK_API_KEY="canary-ark-key-7f3a")
    lines = lines_of(done.stdout)

    assert done.returncode == 0, done.stdout + done.stderr
    assert list(lines) == ["job database", "redis", "output folder", *PROVIDERS, "sandbox"]
    assert lines["job database"] == f"✓ job database   {tmp_path / 'data' / 'jobs.sqlite3'}: new, created at first use"
    assert lines["redis"].startswith("– redis          SEEDREAM_REDIS_URL not set")
    assert lines["output folder"].startswith(f"✓ output folder  {tmp_path / 'data' / 'images'}: writable, ")
    assert lines["ark"].startswith("✓ ark            ARK_API_KEY set; ")
    assert lines["visual"] == "– visual         VOLC_ACCESSKEY, VOLC_SECRETKEY not set (set them to use visual)"
    assert lines["sandbox"].startswith("✓ sandbox")
    assert "canary-ark-key-7f3a" not in done.stdout + done.stderr


@pytest.mark.embedded
def test_doctor_fails_naming_an_unreachable_redis_and_an_unusable_output_folder(
        tmp_path: Path, closed_port: int) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run("doctor", "--json", tmp_path=tmp_path, SEEDREAM_REDIS_URL=f"redis://:pw-secret@127.0.0.1:{closed_port}/0",
               SEEDREAM_OUTPUT_DIR=str(blocker / "images"))
    checks = {check["name"]: check for check in json.loads(done.stdout)}

    assert done.returncode == 1
    assert checks["redis"]["status"] == "fail"
    assert checks["redis"]["detail"].startswith(f"Redis at redis://127.0.0.1:{closed_port} does not answer")
    assert checks["output folder"]["status"] == "fail"
    assert f"The output folder {blocker / 'images'} cannot be used: {blocker} is a file, not a folder" in (
        checks["output folder"]["detail"])
    assert checks["job database"]["status"] == "ok" and checks["sandbox"]["status"] == "ok"
    assert "pw-secret" not in done.stdout + done.stderr


@pytest.mark.embedded
def test_doctor_fails_for_the_chosen_provider_without_its_key_and_for_half_a_key_pair(tmp_path: Path) -> None:
    done = run("doctor", tmp_path=tmp_path, SEEDREAM_PROVIDER="ark", VOLC_ACCESSKEY="AKLT-canary")
    lines = lines_of(done.stdout)

    assert done.returncode == 1
    assert lines["ark"] == ("✗ ark            SEEDREAM_PROVIDER is ark but ARK_API_KEY not set: set it, or choose "
                            "another provider")
    assert lines["visual"].startswith("✗ visual         VOLC_SECRETKEY not set")
    assert "AKLT-canary" not in done.stdout


def test_doctor_on_postgresql_and_redis_asks_for_db_upgrade_until_it_is_run(
        tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace) -> None:
    env = {"SEEDREAM_DATABASE_URL": postgres_url, "SEEDREAM_REDIS_URL": redis_namespace.url,
           "SEEDREAM_REDIS_PREFIX": redis_namespace.prefix}
    before = run("doctor", tmp_path=tmp_path, **env)
    assert run("db", "upgrade", tmp_path=tmp_path, **env).returncode == 0
    after = run("doctor", tmp_path=tmp_path, **env)

    where = "postgresql://127.0.0.1:5432/test"
    assert before.returncode == 1
    assert lines_of(before.stdout)["job database"] == (
        f"✗ job database   {where}: no schema yet, this version needs {HEAD}: run `seedream db upgrade`")
    assert after.returncode == 0, after.stdout
    assert lines_of(after.stdout)["job database"] == (
        f"✓ job database   {where}: schema at revision {HEAD} (this version's)")
    redis_line = lines_of(after.stdout)["redis"]
    assert redis_line.startswith("✓ redis          redis://127.0.0.1:6379: answers (")
    assert f"keys under '{redis_namespace.prefix}:'" in redis_line
