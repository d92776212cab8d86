"""Rows of the job database ↔ ``JobRecord``, ``GeneratedImage``, ``ImageFailure``, and the owner check on a
row (for ``core.jobs_sql``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row

from core.errors import FailureKind
from core.jobs import JobRecord, Requester
from core.process import OwnerProcess
from core.results import GeneratedImage, ImageFailure, JobStatus, Usage


def to_db_time(moment: datetime) -> str:
    """Fixed-width UTC text, so text order is time order.

    Raises:
        ValueError: a naive datetime.
    """
    if moment.tzinfo is None:
        raise ValueError("the job store needs timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def to_json(value: Any) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def stored_path(path: Path, output_dir: Path | None) -> str:
    """A path as recorded: relative to ``output_dir`` when inside it (replicas mount it in different places)."""
    if output_dir is not None and path.is_absolute() and path.is_relative_to(output_dir):
        return path.relative_to(output_dir).as_posix()
    return str(path)


def loaded_path(text: str, output_dir: Path | None) -> Path:
    """A recorded path as this process sees it: relative ones are under ``output_dir``."""
    path = Path(text)
    return output_dir / path if output_dir is not None and not path.is_absolute() else path


def image_values(image: GeneratedImage, output_dir: Path | None) -> dict[str, Any]:
    """The ``job_images`` columns of an image."""
    # Datetimes keep their own offset (isoformat round-trips exactly).
    return {
        "idx": image.index, "path": stored_path(image.path, output_dir), "width": image.width,
        "height": image.height, "bytes": image.bytes, "format": image.format, "model": image.model,
        "provider": image.provider, "seed": image.seed, "source_url": image.source_url,
        "url_expires_at": image.url_expires_at.isoformat() if image.url_expires_at else None,
        "sidecar_path": stored_path(image.sidecar_path, output_dir) if image.sidecar_path else None,
    }


def image_from_row(row: Row[Any], output_dir: Path | None) -> GeneratedImage:
    """An image from its ``job_images`` row."""
    return GeneratedImage(
        index=row.idx, path=loaded_path(row.path, output_dir), width=row.width, height=row.height,
        bytes=row.bytes, format=row.format, model=row.model, provider=row.provider, seed=row.seed,
        source_url=row.source_url,
        url_expires_at=datetime.fromisoformat(row.url_expires_at) if row.url_expires_at else None,
        sidecar_path=loaded_path(row.sidecar_path, output_dir) if row.sidecar_path else None,
    )


def failure_from_row(row: Row[Any]) -> ImageFailure:
    """A failure from its ``job_failures`` row (rows from before kinds existed are generic provider errors)."""
    return ImageFailure(index=row.idx, code=row.code, message=row.message,
                        kind=row.kind or FailureKind.PROVIDER_ERROR)


def record_from_row(row: Row[Any], images: list[GeneratedImage], failures: Sequence[Row[Any]]) -> JobRecord:
    """A record from its ``jobs`` row, images and failure rows."""
    return JobRecord(
        job_id=row.id, requester=Requester(adapter=row.adapter, user_id=row.user_id, guild_id=row.guild_id,
                                       channel_id=row.channel_id, display_name=row.display_name),
        request=json.loads(row.request), parameters=json.loads(row.parameters), provider=row.provider,
        model=row.model, prompt=row.prompt, status=JobStatus(row.status), images=images,
        failures=[failure_from_row(f) for f in failures],
        usage=Usage(generated_images=row.usage_images, output_tokens=row.usage_output_tokens,
                    total_tokens=row.usage_total_tokens),
        error=row.error, error_kind=row.error_kind, created_at=datetime.fromisoformat(row.created_at),
        started_at=datetime.fromisoformat(row.started_at) if row.started_at else None,
        finished_at=datetime.fromisoformat(row.finished_at) if row.finished_at else None,
        parent_id=row.parent_id, extra=json.loads(row.extra),
    )


def job_values(record: JobRecord, owner: OwnerProcess) -> dict[str, Any]:
    """The ``jobs`` columns of a new record owned by ``owner``."""
    who = record.requester
    return {
        "id": record.id, "adapter": who.adapter, "user_id": who.user_id, "guild_id": who.guild_id,
        "channel_id": who.channel_id, "display_name": who.display_name, "request": to_json(record.request),
        "parameters": to_json(record.parameters), "provider": record.provider, "model": record.model,
        "prompt": record.prompt, "status": record.status.value, "created_at": to_db_time(record.created_at),
        "parent_id": record.parent_id, "extra": to_json(record.extra), "owner_host": owner.host,
        "owner_pid": owner.pid, "owner_start": owner.start_time, "owner_token": owner.token,
    }


def owner_gone(row: Row[Any], stale_before: str) -> bool:
    """Whether the process owning an active job (a row with its owner columns and heartbeat) is gone."""
    if row.owner_pid is None:
        return True
    if row.owner_token == OwnerProcess.current().token:
        return False
    if row.heartbeat_at is not None and row.heartbeat_at < stale_before:
        return True  # silent for longer than the timeout, wherever it ran
    owner = OwnerProcess(pid=row.owner_pid, start_time=row.owner_start, token=row.owner_token or "",
                         host=row.owner_host)
    return owner.is_gone()  # same host: the pid checks (another host: False)
