"""A hostile environment through the real ``seedream`` command: bad settings, an output folder that is a
file, read-only or full, a disk that fills up mid-group, a job database that is not ours, a read-only home.
Each ends with one line naming the variable or path, the right exit code, and no traceback; nothing is sent
to the provider when the problem can be seen up front, and nothing the provider made is lost otherwise.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.hostile_env import clean_env, needs_mount, read_only_folder, run, tmpfs
from tests.reliability.harness import Emulator, emulator_server


@pytest_asyncio.fixture
async def ark() -> AsyncIterator[Emulator]:
    async with emulator_server() as emulator:
        yield emulator


def ark_env(tmp_path: Path, emulator: Emulator, **extra: str) -> dict[str, str]:
    """The real Ark adapter pointed at the emulator on loopback, which counts every request it gets."""
    return clean_env(tmp_path, ARK_API_KEY="test-key", SEEDREAM_PROVIDER="ark",
                     SEEDREAM_ARK_BASE_URL=emulator.base + "/api/v3", **extra)


def requests_received(emulator: Emulator) -> int:
    return sum(emulator.state.requests.values())


@pytest.mark.parametrize(("variable", "value", "allowed"), [
    ("SEEDREAM_ARK_CONCURRENCY", "abc", "a whole number ≥ 0"),
    ("SEEDREAM_ARK_CONCURRENCY", "-1", "a whole number ≥ 0"),
    ("SEEDREAM_CONNECT_TIMEOUT", "nan", "a number > 0"),
    ("SEEDREAM_SANDBOX_LATENCY", "inf", "a number ≥ 0"),
    ("SEEDREAM_MAX_RETRIES", "1.5", "a whole number ≥ 0"),
])
async def test_an_invalid_setting_is_one_line_naming_the_variable_its_value_and_what_is_allowed(
        tmp_path: Path, variable: str, value: str, allowed: str):
    done = await run("seedream", "generate", "a fox", "--provider", "sandbox",
                     env=clean_env(tmp_path, **{variable: value}), cwd=tmp_path)
    assert done.code == 2
    assert done.line == f"seedream: Invalid {variable}: '{value}'. Allowed: {allowed}."


async def test_a_bad_value_in_dot_env_names_the_variable_and_the_file(tmp_path: Path):
    (tmp_path / ".env").write_text("SEEDREAM_ARK_IMAGES_PER_MINUTE=lots\n")
    done = await run("seedream", "generate", "a fox", "--provider", "sandbox", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert done.line == (f"seedream: Invalid SEEDREAM_ARK_IMAGES_PER_MINUTE (in {tmp_path / '.env'}): 'lots'. "
                         "Allowed: a whole number ≥ 0.")


async def test_a_dot_env_of_binary_garbage_is_one_line_saying_it_is_not_text(tmp_path: Path):
    (tmp_path / ".env").write_bytes(b"SEEDREAM_PROVIDER=\xff\xfe\x00\x9c garbage\n")
    done = await run("seedream", "generate", "a fox", "--provider", "sandbox", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert done.line.startswith(f"seedream: {tmp_path / '.env'} is not UTF-8 text (byte 0xff")


async def test_a_malformed_base_url_is_a_settings_error_not_a_provider_to_retry(tmp_path: Path):
    done = await run("seedream", "generate", "a fox", "--provider", "ark",
                     env=clean_env(tmp_path, ARK_API_KEY="k", SEEDREAM_ARK_BASE_URL="ark.example.com/api/v3"),
                     cwd=tmp_path)
    assert done.code == 2
    assert done.line.startswith("seedream: Invalid SEEDREAM_ARK_BASE_URL: 'ark.example.com/api/v3'. Allowed: an "
                                "absolute http(s) URL")


async def test_an_empty_output_dir_variable_means_unset_and_never_the_working_directory(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    done = await run("seedream", "generate", "a fox", "--provider", "sandbox", "--size", "1K", "--json",
                     env=clean_env(tmp_path, SEEDREAM_OUTPUT_DIR=""), cwd=work)
    assert done.code == 0, done.stderr
    assert Path(json.loads(done.stdout)["images"][0]["path"]).is_relative_to(tmp_path / "data" / "images")
    assert list(work.iterdir()) == []


async def test_an_output_folder_that_is_a_file_is_refused_before_the_provider_is_asked(tmp_path: Path,
                                                                                        ark: Emulator):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    done = await run("seedream", "generate", "a fox", "--count", "2",
                     env=ark_env(tmp_path, ark, SEEDREAM_OUTPUT_DIR=str(blocker)), cwd=tmp_path)
    assert done.code == 2
    assert done.line == (f"seedream: The output folder {blocker} cannot be used: it is a file, not a folder. "
                         "Set SEEDREAM_OUTPUT_DIR (the command line's --out) to a folder you can write to.")
    assert requests_received(ark) == 0


async def test_an_output_folder_that_cannot_be_created_is_refused_before_the_provider_is_asked(
        tmp_path: Path, ark: Emulator):
    done = await run("seedream", "generate", "a fox", "--out", "/proc/seedream-test",
                     env=ark_env(tmp_path, ark), cwd=tmp_path)
    assert done.code == 2
    assert "The output folder /proc/seedream-test cannot be used: it cannot be created" in done.line
    assert requests_received(ark) == 0


async def test_a_read_only_output_folder_is_refused_before_the_provider_is_asked(tmp_path: Path, ark: Emulator):
    with read_only_folder(tmp_path / "ro") as folder:
        done = await run("seedream", "generate", "a fox", "--out", str(folder), env=ark_env(tmp_path, ark),
                         cwd=tmp_path)
    assert done.code == 2
    assert f"The output folder {folder} cannot be used: files cannot be written there" in done.line
    assert requests_received(ark) == 0


@needs_mount()
async def test_a_disk_too_small_for_the_request_is_refused_before_the_provider_is_asked(tmp_path: Path,
                                                                                       ark: Emulator):
    with tmpfs(tmp_path / "small", size="1m") as folder:
        done = await run("seedream", "generate", "two foxes", "--size", "2K", "--count", "2", "--out", str(folder),
                         env=ark_env(tmp_path, ark), cwd=tmp_path)
    assert done.code == 2
    assert "cannot be used: its disk has" in done.line and "this request needs about" in done.line
    assert "Free some space" in done.line
    assert requests_received(ark) == 0


@needs_mount()
async def test_a_disk_that_fills_up_mid_group_keeps_the_saved_image_and_lists_the_rest_with_their_links(
        tmp_path: Path, ark: Emulator):
    # Each result is padded to 1.5 MB (still a valid image): the first fits the 2 MiB disk, the others do not,
    # though the request's expected size (1K images) fits, so the up-front check lets it through.
    ark.reset(max_result_bytes=1_500_000)
    with tmpfs(tmp_path / "disk", size="2m") as folder:
        done = await run("seedream", "generate", "four lanterns", "--size", "1K", "--series", "4", "--json",
                         "--out", str(folder), env=ark_env(tmp_path, ark), cwd=tmp_path)
        result = json.loads(done.stdout)
        assert [Path(i["path"]).is_file() for i in result["images"]] == [True]
        assert not list(folder.rglob("*.part"))
    assert done.code == 3 and result["status"] == "partial"
    failures = result["failures"]
    assert [f["index"] for f in failures] == [1, 2, 3]
    assert {f["kind"] for f in failures} == {"save_failed"} and {f["code"] for f in failures} == {"ENOSPC"}
    for failure in failures:
        assert failure["source_url"].startswith(ark.base) and failure["url_expires_at"]
        assert "the disk is full" in failure["message"] and failure["source_url"] in failure["message"]
    assert result["usage"]["generated_images"] == ark.state.generated["ark"] == 4
    assert "image 2 of 4 failed: produced (and billed) but not saved" in done.stderr  # progress, numbered from 1


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_garbage_job_database_is_byte_identical_after_every_command_and_names_the_way_out(tmp_path: Path):
    db = tmp_path / "jobs.db"
    db.write_bytes(bytes(range(256)) * 40)
    before = fingerprint(db)
    env = clean_env(tmp_path, SEEDREAM_JOBS_DB=str(db))
    for command in (["generate", "a fox", "--provider", "sandbox"], ["jobs"], ["jobs", "abc"], ["jobs", "--json"],
                    ["edit", str(db), "--prompt", "x", "--provider", "sandbox"]):
        done = await run("seedream", *command, env=env, cwd=tmp_path)
        assert done.code == 2, command
        assert done.line == (f"seedream: The job database {db} is not a SQLite database (another program's file, "
                             f"or damaged): move it aside (mv {db} {db}.bad) or set SEEDREAM_JOBS_DB to a new file. "
                             "It was left untouched.")
    assert fingerprint(db) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("jobs")) == ["jobs.db"]


async def test_a_damaged_sqlite_database_is_refused_untouched(tmp_path: Path):
    db = tmp_path / "jobs.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)  # the header, then no database
    before = fingerprint(db)
    done = await run("seedream", "jobs", env=clean_env(tmp_path, SEEDREAM_JOBS_DB=str(db)), cwd=tmp_path)
    assert done.code == 2
    assert f"The job database {db} is a damaged SQLite database" in done.line and "move it aside" in done.line
    assert fingerprint(db) == before


async def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path):
    db = tmp_path / "app.sqlite3"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    before = fingerprint(db)
    done = await run("seedream", "jobs", env=clean_env(tmp_path, SEEDREAM_JOBS_DB=str(db)), cwd=tmp_path)
    assert done.code == 2
    assert "is another program's SQLite database (tables: users): move it aside" in done.line
    assert fingerprint(db) == before


async def test_a_read_only_home_is_one_line_naming_the_variable_to_set(tmp_path: Path):
    with read_only_folder(tmp_path / "home") as home:
        env = clean_env(tmp_path) | {"HOME": str(home)}
        env.pop("SEEDREAM_DATA_DIR")
        env.pop("XDG_DATA_HOME", None)
        done = await run("seedream", "generate", "a fox", "--provider", "sandbox", env=env, cwd=tmp_path)
    assert done.code == 2
    assert done.line.startswith(f"seedream: The job database folder {home}/.local/share/seedream-studio cannot be "
                                "used:")
    assert done.line.endswith("Set SEEDREAM_DATA_DIR (or SEEDREAM_JOBS_DB) to somewhere you can write to.")
