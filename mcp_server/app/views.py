"""What ``job_status`` tells the gallery about a job: its request, live state, images (as resource URIs) and
the arguments its actions need, so the app holds no catalog knowledge of its own."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from core.catalog import CATALOG, Catalog, ModelSpec
from core.errors import FailureKind, SeedreamError
from core.jobs import JobRecord
from core.results import GeneratedImage, JobStatus
from mcp_server.app.board import LiveJob
from mcp_server.models import PREVIEW_URI, image_uri

_MIME = {"jpeg": "image/jpeg", "png": "image/png"}
#: Request fields the tools take (the rest of a stored request are core options the tools do not offer).
_TOOL_FIELDS = ("prompt", "model", "size", "aspect_ratio", "count", "series", "guidance", "watermark",
                "output_format", "provider")


class ImageView(BaseModel):
    index: int
    uri: str
    preview_uri: str
    name: str
    mime_type: str
    width: int
    height: int
    bytes: int
    seed: int | None
    path: str

    @classmethod
    def of(cls, job_id: str, image: GeneratedImage) -> ImageView:
        return cls(index=image.index, uri=image_uri(job_id, image.index),
                   preview_uri=PREVIEW_URI.format(job_id=job_id, index=image.index), name=image.path.name,
                   mime_type=_MIME.get(image.format, "application/octet-stream"), width=image.width,
                   height=image.height, bytes=image.bytes, seed=image.seed, path=str(image.path))


class FailureView(BaseModel):
    index: int
    kind: str
    message: str


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, Any]


class EditTarget(BaseModel):
    model: str | None
    provider: str | None


class JobActions(BaseModel):
    reroll: ToolCall
    edit: EditTarget
    rerender_size: str | None


class JobView(BaseModel):
    job_id: str
    tool: str
    status: str
    finished: bool
    version: int
    queue_position: int | None
    expected: int
    prompt: str
    model: str
    provider: str
    size: str | None
    seed: int | None
    images: list[ImageView]
    failures: list[FailureView]
    error: str | None
    actions: JobActions


def job_view(record: JobRecord, live: LiveJob, *, catalog: Catalog = CATALOG) -> JobView:
    """The gallery's view of ``record``; ``live`` adds the version and queue position only events carry."""
    parameters = record.parameters
    provider = str(parameters.get("provider") or record.provider)
    finished = record.status.finished
    return JobView(
        job_id=record.id,
        tool=_tool(record),
        status=_status(record),
        finished=finished,
        version=live.version,
        queue_position=None if finished else live.queue_position,
        expected=int(parameters.get("series") or parameters.get("count") or 1),
        prompt=record.prompt,
        model=record.model,
        provider=provider,
        size=parameters.get("size"),
        seed=parameters.get("seed"),
        images=[ImageView.of(record.id, image) for image in record.images],
        failures=[FailureView(index=f.index, kind=f.kind, message=f.message) for f in record.failures],
        error=record.error,
        actions=_actions(record, provider, catalog),
    )


def _status(record: JobRecord) -> str:
    """The job's status; a job stopped on request is ``cancelled`` (the store says interrupted, kind cancelled)."""
    if record.status is JobStatus.INTERRUPTED and record.error_kind == FailureKind.CANCELLED:
        return "cancelled"
    return str(record.status)


def _tool(record: JobRecord) -> str:
    return "edit_image" if record.request.get("images") else "generate_image"


def _actions(record: JobRecord, provider: str, catalog: Catalog) -> JobActions:
    arguments = {k: v for k in _TOOL_FIELDS if (v := record.request.get(k)) not in (None, False)}
    if record.request.get("images"):
        arguments["images"] = list(record.request["images"])
    model = _edit_model(record, provider, catalog)
    tiers = sorted(model.sizes.tiers, key=lambda tier: float(tier[:-1])) if model else []
    return JobActions(
        reroll=ToolCall(name=_tool(record), arguments=arguments),  # no seed: a reroll is a new draw
        edit=EditTarget(model=model.key if model else None, provider=provider),
        rerender_size=tiers[-1] if tiers else None,
    )


def _edit_model(record: JobRecord, provider: str, catalog: Catalog) -> ModelSpec | None:
    """The job's model when it takes reference images, else the provider's editing default; None when the
    catalog no longer knows them (the server's default then applies)."""
    try:
        model = catalog.find_model(provider, record.model)
        return model if model.max_references else catalog.find_model(provider, None, editing=True)
    except SeedreamError:
        return None
