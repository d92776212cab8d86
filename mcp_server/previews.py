"""Inline JPEG previews as large as a byte budget allows, made cheaply.

A preview starts at the largest size a client shows well (long edge ≤ ``max_side``, ≤ ``max_pixels``; Claude
downscales anything bigger). A JPEG is decoded straight at a reduced DCT scale (Pillow's ``draft``) and, when
that scale lands within ``DRAFT_SLACK`` of the wanted size, used as it is with no resampling — a 2K or 4K
image becomes a 1024-pixel preview in a few milliseconds. It is then encoded at most twice: once at
``QUALITY``, and, when that is over its share of the budget, once more at the quality (and, when even the
lowest quality would not fit, the size) estimated from the first encode's size.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

QUALITY = 88
#: The size of an optimized JPEG at each quality relative to the first (plain) encode at ``QUALITY``: the largest
#: ratio measured over smooth renders, detailed photos and noise, so an estimate errs on the small side.
SIZE_AT_QUALITY = ((85, 0.92), (80, 0.82), (75, 0.74), (70, 0.68), (60, 0.58), (50, 0.52), (40, 0.47))
#: How the size falls when the pixels do (size ∝ pixels ** this), the slowest fall measured (smooth images).
SIZE_PER_PIXELS = 0.55
MARGIN = 0.9  # aim this far under the share, for what the estimate cannot know
DRAFT_SLACK = 0.85  # a DCT-scaled decode at least this fraction of the wanted size is used without resampling
_MIN_SHARE = 16_000  # base64 characters below which a preview is not worth sending


@dataclass(frozen=True)
class PreviewLimits:
    budget: int  # base64 characters for all previews of one result
    max_side: int = 1568
    max_pixels: int = 1_150_000
    min_side: int = 384  # a preview whose long edge would be smaller is left out
    max_images: int = 8

    def slots(self, images: int) -> int:
        """How many of ``images`` get a preview (each at least a useful share of the budget)."""
        return max(0, min(images, self.max_images, self.budget // _MIN_SHARE))


@dataclass(frozen=True)
class Preview:
    data: str  # base64 JPEG
    width: int
    height: int
    quality: int
    encodes: int = 1  # JPEG encodes it took (never more than two)


def b64_length(n_bytes: int) -> int:
    return 4 * math.ceil(n_bytes / 3)


def make_previews(paths: Sequence[Path], limits: PreviewLimits) -> list[Preview | None]:
    """One preview (or ``None``: left out) per path, all together within ``limits.budget``.

    Each image gets an equal share of what is left, so an image that needs less leaves more for the next.
    Runs Pillow: call it off the event loop.
    """
    count = limits.slots(len(paths))
    previews: list[Preview | None] = [None] * len(paths)
    remaining = limits.budget
    for position in range(count):
        preview = make_preview(paths[position], budget=remaining // (count - position), limits=limits)
        if preview is not None:
            previews[position] = preview
            remaining -= len(preview.data)
    return previews


def make_preview(path: Path, *, budget: int, limits: PreviewLimits) -> Preview | None:
    """The largest good preview of ``path`` whose base64 fits ``budget``; None if none fits or unreadable.

    Runs Pillow: call it off the event loop.
    """
    try:
        source = _decoded(path, limits)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return None
    data = _encode(source, QUALITY)
    if b64_length(len(data)) <= budget:
        return _preview(data, source, QUALITY)
    quality, pixels = _estimate(wanted=budget * 3 / 4 * MARGIN / len(data))
    image = source
    if pixels < 1:
        scale = math.sqrt(pixels)
        size = (max(1, int(source.width * scale)), max(1, int(source.height * scale)))
        if max(size) < limits.min_side:
            return None
        image = source.resize(size, Image.Resampling.LANCZOS)
    data = _encode(image, quality, optimize=True)
    return _preview(data, image, quality, encodes=2) if b64_length(len(data)) <= budget else None


def _estimate(*, wanted: float) -> tuple[int, float]:
    """(quality, fraction of the pixels to keep) for a JPEG ``wanted`` times the size of the first encode."""
    for quality, ratio in SIZE_AT_QUALITY:
        if ratio <= wanted:
            return quality, 1.0
    quality, ratio = SIZE_AT_QUALITY[-1]
    return quality, (wanted / ratio) ** (1 / SIZE_PER_PIXELS)


def _decoded(path: Path, limits: PreviewLimits) -> Image.Image:
    """The image at the preview's size (or a DCT-scaled size just under it), in RGB."""
    with Image.open(path) as img:
        width, height = _fit(img.size, limits.max_side, limits.max_pixels)
        # JPEG: decode at 1/2, 1/4 or 1/8 scale, the smallest no less than DRAFT_SLACK of the wanted size.
        img.draft("RGB", (math.ceil(width * DRAFT_SLACK), math.ceil(height * DRAFT_SLACK)))
        source = img.convert("RGB")
    if source.width <= width and source.height <= height:
        return source
    return source.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)


def _preview(data: bytes, image: Image.Image, quality: int, *, encodes: int = 1) -> Preview:
    return Preview(base64.b64encode(data).decode("ascii"), image.width, image.height, quality, encodes)


def _encode(img: Image.Image, quality: int, *, optimize: bool = False) -> bytes:
    # The first encode is plain (it usually fits, and optimizing takes ~70 % longer on the result's critical
    # path); the second, made because size matters, is optimized (~10 % smaller).
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=optimize)
    return out.getvalue()


def _fit(size: tuple[int, int], max_side: int, max_pixels: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, max_side / max(width, height), math.sqrt(max_pixels / (width * height)))
    return max(1, round(width * scale)), max(1, round(height * scale))
