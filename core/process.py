"""Which process owns a job, told apart across pid reuse, restarts and hosts.

Each job remembers the process that runs it (host name, pid, the OS start time of that process and a
per-process token), so a later process can tell whether that owner is gone and mark its jobs interrupted.
A recycled pid is told apart from the original owner by its start time (Linux) and, for our own pid, by the
token (a container restarting as pid 1). Owners on another host (or container: its own hostname and pid
namespace) are never judged from here, since their pids mean nothing here.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OwnerProcess", "process_is_alive", "process_start_time"]


@dataclass(frozen=True)
class OwnerProcess:
    """Identifies a process across pid reuse: host, pid, OS start time (where known), per-process token."""

    pid: int
    start_time: str | None
    token: str
    host: str | None = None

    @classmethod
    def current(cls) -> OwnerProcess:
        """This process (recomputed after a fork, which changes the pid)."""
        cached = _CURRENT.get("owner")
        if cached is None or cached.pid != os.getpid():
            pid = os.getpid()
            cached = cls(pid=pid, start_time=process_start_time(pid), token=secrets.token_hex(8),
                         host=socket.gethostname())
            _CURRENT["owner"] = cached
        return cached

    def is_gone(self) -> bool:
        """True when the process that recorded this identity no longer runs.

        False when that cannot be known: another host or container (pids there mean nothing here).
        """
        me = OwnerProcess.current()
        if self.host is not None and self.host != me.host:
            return False
        if self.pid == me.pid:
            # Our pid but another token: an earlier incarnation (e.g. a container restarted as pid 1).
            return self.token != me.token
        if not process_is_alive(self.pid):
            return True
        if self.start_time is None:
            return False
        now_start = process_start_time(self.pid)
        return now_start is not None and now_start != self.start_time


_CURRENT: dict[str, OwnerProcess] = {}


def process_start_time(pid: int) -> str | None:
    """The OS start time of ``pid`` as an opaque string (Linux: clock ticks since boot), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_is_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie counts as dead)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_process_is_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, but belongs to another user
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in ("Z", "X")


def _windows_process_is_alive(pid: int) -> bool:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    # os.kill(pid, 0) would terminate the process on Windows, hence the Win32 calls.
    query_limited_information, still_active = 0x1000, 259
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = wintypes.DWORD()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
