"""A hostile environment for the entry-point tests: the real ``seedream`` / ``seedream-mcp`` as subprocesses
with a clean environment, and file systems that are full or read-only (a small ``tmpfs`` when the test may
mount one, the OS's own permission checks otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hermetic import provider_variables

BIN = Path(sys.executable).parent


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No keys or settings of the developer's; a home and a data folder of the test's own."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    cleared = set(provider_variables(os.environ))
    keep = {k: v for k, v in os.environ.items() if k not in cleared}
    return keep | {"HOME": str(home), "SEEDREAM_DATA_DIR": str(tmp_path / "data")} | extra


@dataclass(frozen=True)
class Done:
    """A finished command: its exit code and what it wrote."""

    code: int
    stdout: str
    stderr: str

    @property
    def line(self) -> str:
        """stderr, which must be a single line (the one message)."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]

    def assert_no_traceback(self) -> None:
        assert "Traceback" not in self.stderr + self.stdout, self.stderr


async def run(command: str, *args: str, env: dict[str, str], cwd: Path, stdin: bytes | None = None) -> Done:
    """Run an entry point to its end without blocking the loop (an emulator may be serving in it)."""
    process = await asyncio.create_subprocess_exec(
        BIN / command, *args, env=env, cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=120)
    assert process.returncode is not None
    done = Done(process.returncode, out.decode(errors="surrogateescape"), err.decode(errors="surrogateescape"))
    done.assert_no_traceback()
    return done


def can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(folder: Path, *, size: str, read_only: bool = False) -> Iterator[Path]:
    """A real small file system at ``folder``: a full disk is a full disk, read-only is read-only."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def needs_mount() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root on Linux")


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """A folder nothing can be written into: a read-only mount as root (who ignores permission bits), the
    permission bits otherwise."""
    if can_mount():
        with tmpfs(folder, size="1m", read_only=True):
            yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)
