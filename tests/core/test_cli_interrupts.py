"""Ctrl-C through the real ``seedream generate``: a first SIGINT finishes the images in flight and prints the
result, a second stops at once keeping whole images. Each step waits on what the command prints on stderr
(its progress lines), never on time passing."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

from PIL import Image

from tests.hostile_env import BIN, clean_env


class Command:
    """A running ``seedream`` whose stderr lines are read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str, env: dict[str, str], cwd: Path) -> Command:
        process = await asyncio.create_subprocess_exec(BIN / "seedream", *args, env=env, cwd=cwd,
                                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return cls(process)

    async def line_with(self, text: str) -> str:
        """The next stderr line containing ``text`` (fails if the command ends first)."""
        assert self.process.stderr is not None
        while True:
            raw = await asyncio.wait_for(self.process.stderr.readline(), timeout=60)
            assert raw, f"the command ended without printing {text!r}: {self.lines}"
            line = raw.decode()
            self.lines.append(line)
            if text in line:
                return line

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    async def finish(self) -> tuple[int, dict]:
        stdout, stderr = await asyncio.wait_for(self.process.communicate(), timeout=60)
        self.lines += stderr.decode().splitlines(keepends=True)
        assert "Traceback" not in "".join(self.lines)
        assert self.process.returncode is not None
        return self.process.returncode, json.loads(stdout)


def sandbox_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(tmp_path, SEEDREAM_PROVIDER="sandbox", SEEDREAM_SANDBOX_LATENCY="0.4", **extra)


def whole(paths: list[str]) -> bool:
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return True


async def test_one_ctrl_c_during_a_group_says_so_at_once_finishes_it_and_prints_the_json(tmp_path: Path):
    command = await Command.start("generate", "four lanterns", "--size", "1K", "--series", "4", "--json",
                                  env=sandbox_env(tmp_path), cwd=tmp_path)
    await command.line_with(": generating")
    command.interrupt()
    sent = time.monotonic()
    said = await command.line_with("Ctrl-C again to stop")
    answered_in = time.monotonic() - sent
    code, result = await command.finish()
    assert "finishing 4 images in flight…" in said
    assert answered_in < 0.5, f"the first Ctrl-C was acknowledged after {answered_in:.2f} s"
    assert code == 0 and result["status"] == "succeeded"
    assert len(result["images"]) == 4 and whole([i["path"] for i in result["images"]])


async def test_a_second_ctrl_c_stops_at_once_keeping_whole_images_and_exits_130(tmp_path: Path):
    out = tmp_path / "out"
    command = await Command.start("generate", "four lanterns", "--size", "1K", "--series", "4", "--json",
                                  "--out", str(out), env=sandbox_env(tmp_path), cwd=tmp_path)
    await command.line_with(": generating")
    command.interrupt()
    await command.line_with("Ctrl-C again to stop")
    command.interrupt()
    await command.line_with("stopping now")
    code, result = await command.finish()
    assert code == 130 and result["status"] == "interrupted"
    assert len(result["images"]) < 4 and whole([i["path"] for i in result["images"]])
    assert not list(out.rglob("*.part"))


async def test_a_first_ctrl_c_sends_no_new_request_and_exits_130_with_what_was_saved(tmp_path: Path):
    # One request at a time: when Ctrl-C comes, one take is in flight and two wait for their turn.
    command = await Command.start("generate", "three lanterns", "--size", "1K", "--count", "3", "--json",
                                  env=sandbox_env(tmp_path, SEEDREAM_ARK_CONCURRENCY="1"), cwd=tmp_path)
    await command.line_with(": generating")
    command.interrupt()
    said = await command.line_with("Ctrl-C again to stop")
    code, result = await command.finish()
    assert "finishing 1 image in flight…" in said
    assert code == 130 and result["status"] == "interrupted"
    assert len(result["images"]) == 1 and result["usage"]["generated_images"] == 1
    assert result["error"] == "stopped on request before 2 image(s) were sent to the provider"
