"""The job store: every generation, its parameters, outputs, usage, status and who asked.

``JobStore`` is the interface adapters and ``ImageService`` use; ``SqliteJobStore`` (in ``core.jobs_sqlite``,
re-exported here) is the embedded default. A server database can replace it by implementing the same
protocol. Besides jobs, the store keeps daily quota counters (atomic across processes) and a small key/value
table for adapter metadata (e.g. the Discord command-schema hash).

Crash recovery: each job remembers the process that owns it (host name, pid, the OS start time of that
process and a per-process token). ``recover_interrupted()`` marks queued/running jobs whose owner is gone as
``INTERRUPTED``, keeping the images already saved. A recycled pid is told apart from the original owner by
its start time (Linux) and, for our own pid, by the token (a container restarting as pid 1). Jobs owned on
another host (or container: its own hostname and pid namespace) are left alone, since their pids mean
nothing here.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.results import GeneratedImage, Generation, ImageFailure, JobStatus, Usage

if TYPE_CHECKING:
    from core.jobs_sqlite import SqliteJobStore

__all__ = [
    "JobRecord",
    "JobStore",
    "OwnerProcess",
    "Requester",
    "SqliteJobStore",
    "new_job_id",
    "process_is_alive",
    "process_start_time",
    "utc_now",
]


@dataclass(frozen=True)
class Requester:
    """Who asked for a job, as the adapter knows them."""

    adapter: str  # "cli" | "mcp" | "discord" | "test"
    user_id: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    display_name: str | None = None


@dataclass
class JobRecord:
    """One stored job. ``images`` are ordered by their index in the group."""

    id: str
    requester: Requester
    request: dict[str, Any]  # GenerateRequest.model_dump(mode="json")
    parameters: dict[str, Any]  # Plan.parameters()
    provider: str
    model: str
    prompt: str
    status: JobStatus
    created_at: datetime
    images: list[GeneratedImage] = field(default_factory=list)
    failures: list[ImageFailure] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    error_kind: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    parent_id: str | None = None  # e.g. the original job of a reroll
    extra: dict[str, Any] = field(default_factory=dict)  # adapter metadata (JSON)
    owner_pid: int | None = None

    def to_generation(self) -> Generation:
        """The job as the ``Generation`` adapters render."""
        return Generation(
            job_id=self.id, status=self.status, provider=self.provider, model=self.model, prompt=self.prompt,
            images=list(self.images), failures=list(self.failures), usage=self.usage, error=self.error,
            error_kind=self.error_kind, created_at=self.created_at, finished_at=self.finished_at,
            parameters=dict(self.parameters),
        )


class JobStore(Protocol):
    """Where jobs, quota counters and adapter metadata live. Every method is safe to call concurrently."""

    async def create(self, *, requester: Requester, request: dict[str, Any], parameters: dict[str, Any],
                     provider: str, model: str, prompt: str, parent_id: str | None = None,
                     job_id: str | None = None) -> JobRecord:
        """Record a new ``QUEUED`` job owned by this process.

        Raises:
            InvalidRequestError: ``job_id`` was given and is already taken.
        """
        ...

    async def mark_running(self, job_id: str) -> None:
        """The job left the queue (and this process now owns it). Raises JobNotFoundError."""
        ...

    async def add_image(self, job_id: str, image: GeneratedImage) -> None:
        """Record a saved image (replacing one with the same index). Raises JobNotFoundError."""
        ...

    async def add_failure(self, job_id: str, failure: ImageFailure) -> None:
        """Record an image the provider did not produce. Raises JobNotFoundError."""
        ...

    async def finish(self, job_id: str, *, status: JobStatus, usage: Usage, error: str | None = None,
                     error_kind: str | None = None) -> None:
        """Close the job with a finished ``status``. Raises JobNotFoundError, ValueError (unfinished status)."""
        ...

    async def get(self, job_id: str) -> JobRecord:
        """The job. Raises JobNotFoundError."""
        ...

    async def list_jobs(self, *, user_id: str | None = None, adapter: str | None = None, limit: int = 20,
                        before: str | datetime | None = None) -> list[JobRecord]:
        """Newest first. ``before`` is a job id (a page cursor, exclusive) or a creation time (exclusive).

        Raises:
            JobNotFoundError: ``before`` is an unknown job id.
        """
        ...

    async def set_extra(self, job_id: str, key: str, value: Any) -> None:
        """Set one JSON-serialisable adapter metadata entry. Raises JobNotFoundError."""
        ...

    async def delete(self, job_id: str) -> None:
        """Delete the record (not its files: the caller does that). Raises JobNotFoundError."""
        ...

    async def recover_interrupted(self) -> list[str]:
        """Mark queued/running jobs whose owning process is gone as ``INTERRUPTED``; return their ids."""
        ...

    async def reserve_quota(self, *, key: str, day: str, amount: int, limit: int) -> bool:
        """Atomically add ``amount`` to the counter if it stays ≤ ``limit``; say whether it did."""
        ...

    async def release_quota(self, *, key: str, day: str, amount: int) -> None:
        """Give back ``amount`` (the counter never goes below 0)."""
        ...

    async def quota_used(self, *, key: str, day: str) -> int:
        """The counter's value (0 when never used)."""
        ...

    async def get_meta(self, key: str) -> str | None:
        """A stored metadata value, or None."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Store a metadata value."""
        ...

    async def usage_summary(self, *, since: datetime | None = None,
                            user_id: str | None = None) -> dict[str, Any]:
        """Jobs and saved images per provider/model, optionally since a time and for one user."""
        ...

    async def close(self) -> None:
        """Release the store's resources; further calls fail."""
        ...


def utc_now() -> datetime:
    """The current time, UTC-aware (the store's default clock)."""
    return datetime.now(UTC)


def new_job_id() -> str:
    """A short random id, safe in URLs and Discord custom_ids: 12 lowercase base32 characters (60 bits)."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()[:12]


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


def __getattr__(name: str) -> Any:
    # Lazy re-export: core.jobs_sqlite imports the records above, so a top-level import would be circular.
    if name == "SqliteJobStore":
        from core.jobs_sqlite import SqliteJobStore

        return SqliteJobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
