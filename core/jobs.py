"""The job store: every generation, its parameters, outputs, usage, status and who asked.

Two small interfaces, so each backend implements only what it stores:

* ``JobStore`` — the jobs themselves, used by ``ImageService`` and the adapters' job views.
* ``CounterStore`` — daily quota counters (atomic across processes) and a small key/value table for adapter
  metadata (e.g. the Discord command-schema hash); used by the adapters that enforce quotas.

``SqlJobStore`` (``core.jobs_sql``) implements both, on SQLite (the embedded default) and PostgreSQL. A job's
owning process is recorded by the store (``core.process`` and a heartbeat per process), so
``recover_interrupted()`` can mark the jobs of a process that is gone as ``INTERRUPTED``, keeping the images
already saved.

A job whose provider task outlives its run (a Chanjing task past the poll deadline) is *released*: it stays
``RUNNING`` with no owning process, its tasks recorded in ``extra`` (``ProviderTask``), until a process
resumes it (``ImageService.resume_job``); recovery leaves released jobs alone.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.results import GeneratedImage, Generation, ImageFailure, JobStatus, Usage

__all__ = ["CounterStore", "JobRecord", "JobStore", "ProviderTask", "Requester", "new_job_id"]

#: ``JobRecord.extra`` keys the core itself writes: the job's provider tasks, and the usage billed so far
#: while any of them is unfinished.
TASKS_KEY = "provider_tasks"
USAGE_KEY = "usage_so_far"


@dataclass(frozen=True)
class Requester:
    """Who asked for a job, as the adapter knows them."""

    adapter: str  # "cli" | "mcp" | "discord" | "test"
    user_id: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class ProviderTask:
    """An async task a provider runs for a job: enough for any process to poll it again.

    ``state``: ``running`` (being polled), ``pending`` (it outlived the wait; the job is released) or ``done``.
    """

    provider: str  # as the job chose it, e.g. "chanjing" or "sandbox-chanjing"
    task_id: str
    first: int  # the job-wide index of its first image
    images: int  # how many it was asked for
    state: str = "running"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderTask:
        return cls(provider=str(data["provider"]), task_id=str(data["task_id"]), first=int(data["first"]),
                   images=int(data["images"]), state=str(data.get("state", "running")))


@dataclass
class JobRecord(Generation):
    """A stored job: its ``Generation`` plus who asked, what they asked and adapter metadata."""

    requester: Requester = field(kw_only=True)
    request: dict[str, Any] = field(kw_only=True)  # GenerateRequest.model_dump(mode="json")
    started_at: datetime | None = field(default=None, kw_only=True)
    parent_id: str | None = field(default=None, kw_only=True)  # e.g. the original job of a reroll
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # adapter metadata (JSON)

    @property
    def id(self) -> str:
        return self.job_id

    def to_generation(self) -> Generation:
        """The job as a plain ``Generation`` (a copy, without the record's own fields)."""
        return Generation(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Generation)})

    @property
    def provider_tasks(self) -> list[ProviderTask]:
        """The provider tasks the job started (Chanjing), in the order they were started."""
        return [ProviderTask.from_dict(task) for task in self.extra.get(TASKS_KEY) or ()]

    @property
    def resumable(self) -> bool:
        """The job waits on provider tasks that outlived its run (``pending``), or that its process left behind
        when it stopped (``INTERRUPTED``): ``ImageService.resume_job`` continues it."""
        if self.status is JobStatus.RUNNING:
            return any(task.state == "pending" for task in self.provider_tasks)
        return self.status is JobStatus.INTERRUPTED and any(t.state != "done" for t in self.provider_tasks)


class JobStore(Protocol):
    """Where jobs live. Every method is safe to call concurrently."""

    async def create(self, *, requester: Requester, request: dict[str, Any], parameters: dict[str, Any],
                     provider: str, model: str, prompt: str, parent_id: str | None = None,
                     job_id: str | None = None, extra: dict[str, Any] | None = None) -> JobRecord:
        """Record a new ``QUEUED`` job owned by this process, with its first adapter metadata (``extra``).

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
        """Record an image that was not produced or not saved. Raises JobNotFoundError."""
        ...

    async def finish(self, job_id: str, *, status: JobStatus, usage: Usage, error: str | None = None,
                     error_kind: str | None = None) -> None:
        """Close the job with a finished ``status``. Raises JobNotFoundError, ValueError (unfinished status)."""
        ...

    async def get(self, job_id: str) -> JobRecord:
        """The job. Raises JobNotFoundError."""
        ...

    async def list_jobs(self, *, user_id: str | None = None, adapter: str | None = None,
                        limit: int = 20) -> list[JobRecord]:
        """The newest jobs first, optionally of one user and/or adapter."""
        ...

    async def set_extra(self, job_id: str, key: str, value: Any) -> None:
        """Set one JSON-serialisable adapter metadata entry. Raises JobNotFoundError."""
        ...

    async def release(self, job_id: str) -> None:
        """The job stays ``RUNNING`` but no process runs it: it waits on provider tasks recorded in ``extra``.
        ``recover_interrupted`` leaves it alone; ``mark_running`` takes it over again. Raises JobNotFoundError."""
        ...

    async def recover_interrupted(self) -> list[str]:
        """Mark queued/running jobs whose owning process is gone as ``INTERRUPTED``; return their ids."""
        ...

    async def close(self) -> None:
        """Release the store's resources; further calls fail."""
        ...


class CounterStore(Protocol):
    """Daily counters (quotas) and adapter metadata. Every method is safe across processes."""

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


def new_job_id() -> str:
    """A short random id, safe in URLs and Discord custom_ids: 12 lowercase base32 characters (60 bits)."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()[:12]
