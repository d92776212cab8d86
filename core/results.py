"""What a generation produced: saved images, per-image failures, usage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every requested image was produced
    PARTIAL = "partial"  # some images produced, some failed
    FAILED = "failed"  # nothing produced
    INTERRUPTED = "interrupted"  # the process died while the job ran

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class Usage:
    """What the provider billed for (``generated_images`` is the billing unit)."""

    generated_images: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(generated_images=self.generated_images + other.generated_images,
                     output_tokens=self.output_tokens + other.output_tokens,
                     total_tokens=self.total_tokens + other.total_tokens)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class GeneratedImage:
    """One image saved on disk."""

    index: int
    path: Path
    width: int
    height: int
    bytes: int
    format: str  # "jpeg" | "png"
    model: str
    provider: str
    seed: int | None = None
    source_url: str | None = None
    url_expires_at: datetime | None = None
    sidecar_path: Path | None = None

    @property
    def file_uri(self) -> str:
        return self.path.as_uri()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["sidecar_path"] = str(self.sidecar_path) if self.sidecar_path else None
        data["url_expires_at"] = self.url_expires_at.isoformat() if self.url_expires_at else None
        data["file_uri"] = self.file_uri
        return data


@dataclass(frozen=True)
class ImageFailure:
    """One image that was not produced or not saved, by its index in the job.

    ``kind`` is a ``core.errors.FailureKind`` value decided by the provider adapter (or by storage when the
    image could not be saved: ``save_failed``, with the provider's link in ``source_url`` when it sent one);
    ``code`` is the provider's own code (or the OS error's name), ``message`` says why and what to do.
    """

    index: int
    code: str
    message: str
    kind: str
    # An image the provider produced but that could not be saved: where it can still be fetched, until when.
    source_url: str | None = None
    url_expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["url_expires_at"] = self.url_expires_at.isoformat() if self.url_expires_at else None
        return data


@dataclass
class Generation:
    """A job's outcome; every produced image is in ``images`` even when the job as a whole failed."""

    job_id: str
    status: JobStatus
    provider: str
    model: str
    prompt: str
    images: list[GeneratedImage] = field(default_factory=list)
    failures: list[ImageFailure] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None  # why the job stopped, when it did not finish normally
    error_kind: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "status": str(self.status),
            "provider": self.provider,
            "model": self.model,
            "prompt": self.prompt,
            "images": [i.to_dict() for i in self.images],
            "failures": [f.to_dict() for f in self.failures],
            "usage": self.usage.to_dict(),
            "error": self.error,
            "error_kind": self.error_kind,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "parameters": self.parameters,
        }
