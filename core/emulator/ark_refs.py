"""Ark's checks on input (reference) images: data URIs with a lowercase format, decodable JPEG/PNG, size,
sides, pixel count and aspect ratio (the Ark images document)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from core.emulator.ark_errors import invalid
from core.emulator.ark_models import RefRules

_DATA_URI = re.compile(r"^data:image/([^;,]+);base64,(.*)$", re.DOTALL)
_PIL_TO_FORMAT = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}
_DECLARED = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png"}

#: Looks up a URL the emulator itself served: its bytes, ``None`` when the URL is not one of ours; raises
#: ``ArkError`` when it is ours but can no longer be downloaded (expired).
ServedLookup = Callable[[str], bytes | None]


@dataclass(frozen=True)
class RefImage:
    """A checked reference. ``width``/``height`` are ``None`` for an outside URL the emulator cannot fetch."""

    digest: str
    width: int | None = None
    height: int | None = None


def parse_refs(value: object, *, rules: RefRules, served: ServedLookup) -> tuple[RefImage, ...]:
    """``image`` (a string or a list of strings) as checked references.

    Raises:
        ArkError: 400 ``InvalidParameter`` (or ``.OversizedImage`` / ``.UnsupportedImageFormat``).
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise invalid("image", "image must be a string or an array of strings")
    return tuple(_one_ref(item, rules=rules, served=served) for item in items)


def _one_ref(item: str, *, rules: RefRules, served: ServedLookup) -> RefImage:
    if item.startswith(("http://", "https://")):
        data = served(item)
        if data is None:
            # The sandbox has no internet: an outside URL is accepted unseen, like a reachable one.
            return RefImage(hashlib.sha256(item.encode()).hexdigest())
        return _check_bytes(data, rules=rules)
    match = _DATA_URI.match(item)
    if match is None:
        raise invalid("image", "image must be a URL or a data URI of the form data:image/<format>;base64,<data>")
    declared, payload = match.groups()
    if declared != declared.lower():
        raise invalid("image", f"the image format in a data URI must be lowercase, got {declared!r}")
    if declared not in _DECLARED or _DECLARED[declared] not in rules.formats:
        raise invalid("image", f"image format {declared} is not supported; use jpeg or png",
                      code="InvalidParameter.UnsupportedImageFormat")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("image", "the image data URI is not valid base64") from None
    return _check_bytes(data, rules=rules)


def _check_bytes(data: bytes, *, rules: RefRules) -> RefImage:
    if len(data) > rules.max_bytes:
        raise invalid("image", f"image file size must be at most {rules.max_bytes} bytes",
                      code="InvalidParameter.OversizedImage")
    width, height, fmt = _measure(data, rules=rules)
    if fmt not in rules.formats:
        raise invalid("image", f"image format {fmt} is not supported; use jpeg or png",
                      code="InvalidParameter.UnsupportedImageFormat")
    if min(width, height) <= rules.min_side_exclusive:
        raise invalid("image", f"image width and height must be greater than {rules.min_side_exclusive} pixels")
    if width * height > rules.max_pixels:
        raise invalid("image", f"image must have at most {rules.max_pixels} pixels",
                      code="InvalidParameter.OversizedImage")
    if not rules.min_aspect <= width / height <= rules.max_aspect:
        raise invalid("image", "image aspect ratio (width/height) must be between 1/3 and 3")
    return RefImage(hashlib.sha256(data).hexdigest(), width, height)


def _measure(data: bytes, *, rules: RefRules) -> tuple[int, int, str]:
    """Width, height and format from the header only; a decompression bomb is an oversized image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.width, img.height, _PIL_TO_FORMAT.get(img.format or "", (img.format or "?").lower())
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise invalid("image", f"image must have at most {rules.max_pixels} pixels",
                      code="InvalidParameter.OversizedImage") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise invalid("image", "image data is not a decodable image",
                      code="InvalidParameter.UnsupportedImageFormat") from None

