"""A job's images as MCP resources, for clients that cannot open the server's files (another machine, a web
connector, an in-chat app): ``seedream://jobs/{job_id}/images/{index}`` is the saved file's bytes with its
own MIME type, ``…/preview`` the downscaled JPEG a result carries, and ``seedream://jobs/{job_id}`` the job
as JSON (the ``structuredContent`` of ``get_job``: status and every image's URIs).

Only this server's jobs (those its MCP clients asked for; for a named user, their own: ``mcp_server.identity``)
are readable, and of a job only the images it saved, from the output folder; a read larger than
``SEEDREAM_MCP_RESOURCE_MAX_BYTES`` is refused with an error that says what to read instead. The job store
and the output folder are shared by replicas, so any replica reads any job's images while it still runs.
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from mcp_types import Resource as MCPResource
from mcp_types import ResourceTemplate as MCPResourceTemplate

from core.errors import JobNotFoundError
from core.jobs import JobRecord
from core.results import GeneratedImage
from mcp_server import identity
from mcp_server.content import unknown_job
from mcp_server.models import IMAGE_URI, JOB_URI, PREVIEW_URI, image_uri, job_result
from mcp_server.paths import is_inside
from mcp_server.state import AppState

SCHEME = "seedream://"
LISTED_JOBS = 10  # resources/list names the images of this many recent jobs
_URI = re.compile(r"seedream://jobs/(?P<job>[A-Za-z0-9_-]{1,64})(?:/images/(?P<index>\d{1,4})(?P<preview>/preview)?)?")
_MIME = {"jpeg": "image/jpeg", "png": "image/png"}

TEMPLATES = [
    MCPResourceTemplate(
        uri_template=IMAGE_URI,
        name="image",
        title="Saved image, full size",
        description="An image a job saved (index as in its result), as the file's bytes.",
    ),
    MCPResourceTemplate(
        uri_template=PREVIEW_URI,
        name="image-preview",
        title="Image preview",
        description="The image downscaled to the JPEG a tool result carries.",
        mime_type="image/jpeg",
    ),
    MCPResourceTemplate(
        uri_template=JOB_URI,
        name="job",
        title="Job",
        description="A job's status, images and failures, as get_job's structured result.",
        mime_type="application/json",
    ),
]


def is_ours(uri: str) -> bool:
    return uri.startswith(SCHEME)


async def read(state: AppState, uri: str) -> ReadResourceContents:
    """The contents of one of our URIs.

    Raises:
        ResourceNotFoundError: not a URI of ours, or no such job (of this server) or image.
        ResourceError: the image's file is gone or its preview could not be made.
        MCPError: the image is larger than the per-read limit.
    """
    match = _URI.fullmatch(uri)
    if match is None:
        raise ResourceNotFoundError(f"Unknown resource {uri!r}: expected {IMAGE_URI}, …/preview or {JOB_URI}.")
    record = await _job(state, match["job"])
    if match["index"] is None:
        structured = job_result(record.to_generation(), pending=not record.status.finished)
        return ReadResourceContents(structured.model_dump_json(), "application/json")
    image = _image(record, int(match["index"]))
    if match["preview"]:
        preview = await state.previews.single(record.id, image)
        if preview is None:
            raise ResourceError(f"No preview of the image at index {image.index} of job {record.id} could be made.")
        return ReadResourceContents(base64.b64decode(preview.data), "image/jpeg")
    return ReadResourceContents(await _file_bytes(state, record.id, image), _MIME.get(image.format, "image/jpeg"))


async def listed(state: AppState) -> list[MCPResource]:
    """The images of the most recent jobs, newest job first."""
    records = await state.service.list_jobs(adapter=identity.ADAPTER, user_id=identity.current_user(),
                                            limit=LISTED_JOBS)
    return [
        MCPResource(
            uri=image_uri(record.id, image.index),
            name=image.path.name,
            title=f"Image {image.index + 1} of job {record.id}",
            description=f"{image.width}x{image.height} {image.model}: {_short(record.prompt)}",
            mime_type=_MIME.get(image.format),
            size=image.bytes,
        )
        for record in records
        for image in record.images
    ]


async def _job(state: AppState, job_id: str) -> JobRecord:
    try:
        record = await state.service.get_job(job_id)
    except JobNotFoundError:
        record = None
    if record is None or not identity.may_see(record):  # other adapters' and other people's jobs stay unseen
        raise ResourceNotFoundError(f"{unknown_job(job_id)} list_jobs shows the recent ones.")
    return record


def _image(record: JobRecord, index: int) -> GeneratedImage:
    for image in record.images:
        if image.index == index:
            return image
    saved = ", ".join(str(i.index) for i in record.images) or "none"
    raise ResourceNotFoundError(f"Job {record.id} has no saved image at index {index} (its indexes: {saved}).")


async def _file_bytes(state: AppState, job_id: str, image: GeneratedImage) -> bytes:
    limit = state.settings.resource_max_bytes
    if not is_inside(image.path, (state.service.settings.images_dir.resolve(),)):
        raise ResourceError(f"The image at index {image.index} of job {job_id} is no longer in the output folder.")
    size = image.path.stat().st_size
    if size > limit:
        raise MCPError(
            code=INVALID_PARAMS,
            message=(
                f"The image at index {image.index} of job {job_id} is {_mb(size)}, over this server's per-read "
                f"limit of {_mb(limit)} (SEEDREAM_MCP_RESOURCE_MAX_BYTES). Read "
                f"{image_uri(job_id, image.index)}/preview for a downscaled JPEG, or open {image.path} on the server."
            ),
            data={"uri": image_uri(job_id, image.index), "bytes": size, "max_bytes": limit},
        )
    return await asyncio.to_thread(Path.read_bytes, image.path)


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MiB"


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:79] + "…"
