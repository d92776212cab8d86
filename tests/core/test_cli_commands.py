"""The command line's own promises, through the real ``seedream``: prompts from stdin or a file, ``--version``,
``seedream jobs`` one line per job, ``~`` expanded, references refused by name, image numbers from 1, one
line per error with a documented exit code, and progress on stderr (live on a terminal, plain elsewhere)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import socket
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.hostile_env import BIN, clean_env, run


def sandbox(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(tmp_path, SEEDREAM_PROVIDER="sandbox", **extra)


async def test_a_prompt_piped_on_stdin_with_a_dash_generates(tmp_path: Path):
    done = await run("seedream", "generate", "-", "--provider", "sandbox", "--size", "1K", "--json",
                     env=clean_env(tmp_path), cwd=tmp_path, stdin=b"a red fox\n")
    assert done.code == 0, done.stderr
    job = json.loads(done.stdout)
    listing = await run("seedream", "jobs", job["id"], "--json", env=clean_env(tmp_path), cwd=tmp_path)
    assert json.loads(listing.stdout)["prompt"] == "a red fox"


async def test_a_prompt_file_is_read_with_tilde_expanded(tmp_path: Path):
    (tmp_path / "home" / "prompt.txt").parent.mkdir(exist_ok=True)
    (tmp_path / "home" / "prompt.txt").write_text("a lighthouse\nat dusk\n", encoding="utf-8")
    done = await run("seedream", "generate", "--prompt-file", "~/prompt.txt", "--size", "1K", "--json",
                     env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 0, done.stderr
    listing = await run("seedream", "jobs", "--json", env=sandbox(tmp_path), cwd=tmp_path)
    assert json.loads(listing.stdout)[0]["prompt"] == "a lighthouse\nat dusk"


async def test_a_megabyte_prompt_on_stdin_is_one_line_saying_the_limit(tmp_path: Path):
    done = await run("seedream", "generate", "-", env=sandbox(tmp_path), cwd=tmp_path, stdin=b"fox " * 262_144)
    assert done.code == 2
    assert "Allowed: at most 4000 characters." in done.line


async def test_a_prompt_file_that_is_not_utf8_is_named(tmp_path: Path):
    (tmp_path / "p.txt").write_bytes(b"caf\xe9 au lait")
    done = await run("seedream", "generate", "--prompt-file", "p.txt", env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert done.line == ("seedream: Invalid prompt: 'p.txt' (byte 0xE9 at offset 3 is not UTF-8). "
                         "Allowed: UTF-8 text.")


async def test_prompt_bytes_that_are_not_utf8_are_named_not_called_control_characters(tmp_path: Path):
    done = await run("seedream", "generate", os.fsdecode(b"a \xff fox"), env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert "contains the byte 0xFF, which is not UTF-8" in done.line


@pytest.mark.parametrize("script", ["seedream", "seedream-mcp", "seedream-bot"])
async def test_every_entry_point_prints_the_distributions_version(tmp_path: Path, script: str):
    done = await run(script, "--version", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.code == 0
    assert done.stdout.strip() == f"{script} {version('seedream-studio')}"


async def test_jobs_lists_one_line_per_job_with_date_status_model_and_paths_whatever_the_prompt(tmp_path: Path):
    made = await run("seedream", "generate", "--prompt-file", "-", "--size", "1K", "--count", "2", "--json",
                     env=sandbox(tmp_path), cwd=tmp_path, stdin=b"line one\nline two\n\tand [brackets]")
    paths = [i["path"] for i in json.loads(made.stdout)["images"]]
    done = await run("seedream", "jobs", env=sandbox(tmp_path), cwd=tmp_path)
    (line,) = done.stdout.splitlines()
    assert line.split()[2:5] == [json.loads(made.stdout)["id"], "succeeded", "sandbox/seedream-4.0"]
    assert line[:4].isdigit() and line[4] == "-"  # YYYY-MM-DD HH:MM first
    assert '"line one line two and [brackets]"' in line
    assert line.endswith(" ".join(paths))


async def test_out_with_a_tilde_goes_to_the_home_folder(tmp_path: Path):
    done = await run("seedream", "generate", "a fox", "--size", "1K", "--out=~/pictures", "--json",
                     env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert Path(json.loads(done.stdout)["images"][0]["path"]).is_relative_to(tmp_path / "home" / "pictures")
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(("reference", "reason"), [
    ("ftp://example.com/a.png", "unsupported scheme 'ftp'"),
    ("gopher://example.com/a", "unsupported scheme 'gopher'"),
    ("javascript:alert(1)", "unsupported scheme 'javascript'"),
    ("/tmp", "it is a folder"),
    ("/dev/zero", "it is a character device"),
])
async def test_references_are_refused_by_what_they_are(tmp_path: Path, reference: str, reason: str):
    done = await run("seedream", "edit", reference, "--prompt", "x", env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert done.line.startswith(f"seedream: Invalid images[0]: '{reference}' ({reason}).")


async def test_a_named_pipe_as_reference_is_refused_without_being_opened(tmp_path: Path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever
    done = await run("seedream", "edit", str(fifo), "--prompt", "x", env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 2 and "(it is a named pipe)" in done.line


async def test_a_failed_image_is_numbered_from_one(tmp_path: Path):
    done = await run("seedream", "generate", "[refuse:1] three boats", "--size", "1K", "--series", "3",
                     env=sandbox(tmp_path), cwd=tmp_path)
    assert done.code == 3
    assert "seedream: image 2 failed: " in done.stderr and "image 1 failed" not in done.stderr


async def test_progress_is_one_plain_line_per_event_on_stderr_and_never_on_stdout(tmp_path: Path):
    done = await run("seedream", "generate", "two kites", "--size", "1K", "--count", "2", "--json",
                     env=sandbox(tmp_path), cwd=tmp_path)
    result = json.loads(done.stdout)  # stdout is the one JSON object
    lines = done.stderr.splitlines()
    assert all(line.startswith("seedream: [") for line in lines)
    saved = [line for line in lines if " saved (1024x1024): " in line]
    assert len(saved) == 2 and {line.split(": ", 2)[-1] for line in saved} == {i["path"] for i in result["images"]}
    assert lines[-1].endswith(f"job {result['id']}: succeeded, 2 images saved")


def test_on_a_terminal_progress_is_live_and_a_long_path_is_never_broken(tmp_path: Path):
    out = tmp_path / ("a-folder-with-a-long-name-" * 3)
    primary, secondary = pty.openpty()
    os.set_blocking(primary, True)
    env = sandbox(tmp_path, COLUMNS="60", LINES="20", TERM="xterm")
    process = subprocess.Popen([BIN / "seedream", "generate", "a fox", "--size", "1K", "--out", str(out)],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=secondary)
    os.close(secondary)
    screen = b""
    while chunk := _read(primary):
        screen += chunk
    stdout, _ = process.communicate(timeout=60)
    (path,) = stdout.decode().splitlines()
    assert process.returncode == 0
    assert len(path) > 60 and path.encode() in screen  # one piece, though wider than the terminal
    assert b"\x1b[" in screen  # drawn live (cursor control), not plain lines


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the other end closed
        return b""


async def test_jobs_with_a_limit_of_zero_is_a_one_line_usage_error(tmp_path: Path):
    done = await run("seedream", "jobs", "--limit", "0", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert done.line == "seedream jobs: argument --limit: 0 is out of range: allowed 1–10000 (see seedream jobs --help)"


def test_a_closed_stdout_ends_quietly_with_141(tmp_path: Path):
    reader, writer = os.pipe()
    os.close(reader)  # like `seedream models | head -1` once head has gone
    done = subprocess.run([BIN / "seedream", "models"], stdout=writer, stderr=subprocess.PIPE,
                          env=clean_env(tmp_path), cwd=tmp_path, timeout=60)
    os.close(writer)
    assert done.returncode == 141 and done.stderr == b""


async def test_the_emulator_refuses_a_port_out_of_range_in_one_line(tmp_path: Path):
    done = await run("seedream", "emulator", "--port", "99999", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.code == 2
    assert done.line == ("seedream emulator: argument --port: 99999 is out of range: allowed 0–65535 "
                         "(see seedream emulator --help)")


async def test_the_emulator_on_a_taken_port_says_so_and_exits_2(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = await asyncio.wait_for(run("seedream", "emulator", "--port", str(port), env=clean_env(tmp_path),
                                          cwd=tmp_path), timeout=60)
    assert done.code == 2
    assert done.line == (f"seedream: cannot listen on 127.0.0.1:{port}: the port is in use; choose another with "
                         "--port (or --host)")


async def test_help_tells_independent_images_from_a_series(tmp_path: Path):
    done = await run("seedream", "generate", "--help", env=clean_env(tmp_path), cwd=tmp_path)
    text = " ".join(done.stdout.split())
    assert "--count N N independent images to pick from, one request each" in text
    assert "--series N one group request for up to N related images" in text
    assert "exit codes:" in text
