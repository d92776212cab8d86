"""Files in and out: attachments checked and turned into references, saved results turned into uploads
(layer 2, Discord helpers).
"""

from __future__ import annotations

import asyncio
import base64
import io
import mimetypes
from dataclasses import dataclass

import discord

from bots.discord.imaging import fit_saved, result_filename, to_png
from core.catalog import ReferenceRules
from core.errors import InvalidRequestError
from core.references import probe_image
from core.results import GeneratedImage

_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg"}
#: Formats Discord users often post that the providers refuse: converted to PNG (a GIF's first frame).
_CONVERTED = {"image/webp": "webp", "image/gif": "gif"}


@dataclass(frozen=True)
class Reference:
    """An attachment checked and ready to send: a data URI, its pixel size, and the file's name."""

    uri: str
    width: int
    height: int
    name: str


def is_image(attachment: discord.Attachment) -> bool:
    """An attachment that ``reference_from_attachment`` may accept (by its declared type or name)."""
    return _declared_type(attachment) in {**_TYPES, **_CONVERTED}


def _declared_type(attachment: discord.Attachment) -> str:
    guessed = mimetypes.guess_type(attachment.filename)[0]
    return (attachment.content_type or guessed or "").split(";")[0].strip().lower()


async def reference_from_attachment(
    attachment: discord.Attachment, *, rules: ReferenceRules, field: str
) -> Reference:
    """Check an attachment's type, size, pixels and shape (before downloading, when Discord says them),
    download it, convert a WebP or GIF to PNG, check the bytes, and return it as a data URI. Every refusal
    names the file.

    Raises:
        InvalidRequestError: naming ``field`` and the file.
    """
    name = attachment.filename
    declared = _declared_type(attachment)
    allowed = "/".join(f.upper() for f in rules.formats) + " images (WebP and GIF are converted to PNG)"
    fmt = _TYPES.get(declared) or _CONVERTED.get(declared)
    if fmt is None or (fmt not in rules.formats and declared not in _CONVERTED):
        raise InvalidRequestError(field, name, allowed, reason=f"it is {declared or 'not an image'}")
    limit = f"images up to {rules.max_bytes / 1024 / 1024:.3g} MiB"
    if attachment.size > rules.max_bytes:
        raise InvalidRequestError(field, name, limit, reason=f"it is {attachment.size / 1024 / 1024:.3g} MiB")
    if attachment.width and attachment.height:
        check_pixels(attachment.width, attachment.height, rules=rules, field=field, name=name)
    data = await attachment.read()
    if len(data) > rules.max_bytes:
        raise InvalidRequestError(field, name, limit, reason="the download is larger than announced")
    real, width, height = probe_image(data, field=field, source=name)
    check_pixels(width, height, rules=rules, field=field, name=name)
    if real in _CONVERTED.values() and real not in rules.formats:
        data, real = await asyncio.to_thread(to_png, data), "png"
        if len(data) > rules.max_bytes:
            raise InvalidRequestError(field, name, limit, reason="converted to PNG it is too large")
    if real not in rules.formats:
        raise InvalidRequestError(field, name, allowed, reason=f"it is really {real}")
    uri = f"data:image/{real};base64,{base64.b64encode(data).decode('ascii')}"
    return Reference(uri=uri, width=width, height=height, name=name)


def check_pixels(width: int, height: int, *, rules: ReferenceRules, field: str, name: str) -> None:
    """Every rule the provider applies to a reference's pixels: the smallest side, the pixel count, the shape.

    Raises:
        InvalidRequestError: naming ``field`` and the file.
    """
    ratio = width / height if height else 0.0
    if (
        min(width, height) < rules.min_side
        or width * height > rules.max_pixels
        or not rules.min_aspect <= ratio <= rules.max_aspect
    ):
        raise InvalidRequestError(
            field,
            name,
            f"each side at least {rules.min_side} px, at most {rules.max_pixels:,} pixels, and a shape between "
            f"1:{1 / rules.min_aspect:g} and {rules.max_aspect:g}:1",
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
