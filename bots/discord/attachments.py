"""Files in and out: attachments checked and turned into references, saved results turned into uploads
(layer 2, Discord helpers).
"""

from __future__ import annotations

import base64
import io
import mimetypes

import discord

from bots.discord.imaging import fit_saved, result_filename
from core.catalog import ReferenceRules
from core.errors import InvalidRequestError
from core.references import probe_image
from core.results import GeneratedImage

_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg"}


async def reference_from_attachment(
    attachment: discord.Attachment, *, rules: ReferenceRules, field: str
) -> str:
    """Check an attachment's type, size and pixels (before downloading, when Discord says them), download
    it, check the bytes, and return it as a data URI.

    Raises:
        InvalidRequestError: naming ``field`` and the file.
    """
    name = attachment.filename
    declared = (attachment.content_type or mimetypes.guess_type(name)[0] or "").split(";")[0].strip().lower()
    fmt = _TYPES.get(declared)
    allowed = "/".join(f.upper() for f in rules.formats) + " images"
    if fmt is None or fmt not in rules.formats:
        raise InvalidRequestError(field, name, allowed, reason=f"it is {declared or 'not an image'}")
    limit = f"images up to {rules.max_bytes / 1024 / 1024:.3g} MiB"
    if attachment.size > rules.max_bytes:
        raise InvalidRequestError(field, name, limit, reason=f"it is {attachment.size / 1024 / 1024:.3g} MiB")
    if attachment.width and attachment.height:
        _check_pixels(attachment.width, attachment.height, rules=rules, field=field, name=name)
    data = await attachment.read()
    if len(data) > rules.max_bytes:
        raise InvalidRequestError(field, name, limit, reason="the download is larger than announced")
    real, width, height = probe_image(data, field=field, source=name)
    if real not in rules.formats:
        raise InvalidRequestError(field, name, allowed, reason=f"it is really {real}")
    _check_pixels(width, height, rules=rules, field=field, name=name)
    return f"data:image/{real};base64,{base64.b64encode(data).decode('ascii')}"


def _check_pixels(width: int, height: int, *, rules: ReferenceRules, field: str, name: str) -> None:
    if min(width, height) < rules.min_side or width * height > rules.max_pixels:
        raise InvalidRequestError(
            field,
            name,
            f"each side at least {rules.min_side} px and at most {rules.max_pixels:,} pixels",
            reason=f"it is {width}x{height}",
        )


def result_files(
    job_id: str, images: list[GeneratedImage], *, limit: int, spoiler: bool
) -> list[discord.File]:
    """Saved results as uploads, each fitted under ``limit`` bytes (CPU work: run it in a thread)."""
    files = []
    for image in images:
        fitted = fit_saved(image, limit=limit)
        name = result_filename(job_id, image.index, fitted.format, spoiler=spoiler)
        files.append(discord.File(io.BytesIO(fitted.data), filename=name))
    return files
