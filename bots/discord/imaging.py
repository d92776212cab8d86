"""Fitting an image under a byte limit, converting uploads to PNG, naming result files (layer 1, pure: Pillow, no
discord.py).

CPU work: callers on the event loop run it in a thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from core.results import GeneratedImage

_JPEG_QUALITIES = (90, 80, 70, 60, 50, 40)
_MIN_SIDE = 64


@dataclass(frozen=True)
class FittedImage:
    """Bytes ready to upload (re-encoded as JPEG, maybe downscaled, when the original was too large)."""

    data: bytes
    format: str
    width: int
    height: int
    reencoded: bool


def fit_image(data: bytes, *, limit: int, width: int, height: int, fmt: str) -> FittedImage:
    """``data`` if it fits ``limit`` bytes, else a JPEG re-encoding (lower quality, then smaller) that does.

    Raises:
        ValueError: the image cannot be made to fit (a limit of a few hundred bytes).
    """
    if len(data) <= limit:
        return FittedImage(data, fmt, width, height, reencoded=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
    while min(image.size) >= _MIN_SIDE:
        for quality in _JPEG_QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return FittedImage(out.getvalue(), "jpeg", image.width, image.height, reencoded=True)
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS
        )
    raise ValueError(f"cannot fit an image into {limit} bytes")


def to_png(data: bytes) -> bytes:
    """An image (a WebP, the first frame of a GIF…) re-encoded as PNG, transparency kept. The caller has
    checked its pixel count, so decoding it is safe."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as opened:
            opened.seek(0)
            image = opened.convert("RGBA" if "A" in opened.getbands() or "transparency" in opened.info else "RGB")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def fit_saved(image: GeneratedImage, *, limit: int) -> FittedImage:
    """A saved result read from disk and fitted under ``limit`` bytes."""
    return fit_image(
        image.path.read_bytes(), limit=limit, width=image.width, height=image.height, fmt=image.format
    )


def result_filename(job_id: str, index: int, fmt: str, *, spoiler: bool) -> str:
    name = f"seedream-{job_id}-{index + 1:02d}.{'jpg' if fmt == 'jpeg' else fmt}"
    return f"SPOILER_{name}" if spoiler else name
