"""Inline JPEG previews as large as a byte budget allows.

A preview starts at the largest size a client shows well (long edge ≤ ``max_side``, ≤ ``max_pixels``; Claude
downscales anything bigger) and is encoded at the best JPEG quality that fits its share of the budget
(binary search); when even the lowest quality does not fit, the preview shrinks and the search repeats.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

QUALITY_RANGE = (40, 88)
_MIN_SHARE = 16_000  # base64 characters below which a preview is not worth sending


@dataclass(frozen=True)
class PreviewLimits:
    budget: int  # base64 characters for all previews of one result
    max_side: int = 1568
    max_pixels: int = 1_150_000
    min_side: int = 384  # a preview whose long edge would be smaller is left out
    max_images: int = 8


@dataclass(frozen=True)
class Preview:
    data: str  # base64 JPEG
    width: int
    height: int
    quality: int


def b64_length(n_bytes: int) -> int:
    return 4 * math.ceil(n_bytes / 3)


def make_previews(paths: Sequence[Path], limits: PreviewLimits) -> list[Preview | None]:
    """One preview (or ``None``: left out) per path, all together within ``limits.budget``.

    Each image gets an equal share of what is left, so an image that needs less leaves more for the next.
    Runs Pillow: call it off the event loop.
    """
    count = min(len(paths), limits.max_images, limits.budget // _MIN_SHARE)
    previews: list[Preview | None] = [None] * len(paths)
    remaining = limits.budget
    for position in range(count):
        share = remaining // (count - position)
        preview = make_preview(paths[position], budget=share, limits=limits)
        if preview is not None:
            previews[position] = preview
            remaining -= len(preview.data)
    return previews


def make_preview(path: Path, *, budget: int, limits: PreviewLimits) -> Preview | None:
    """The largest good preview of ``path`` whose base64 fits ``budget``; None if none fits or unreadable."""
    try:
        with Image.open(path) as img:
            width, height = _fit(img.size, limits.max_side, limits.max_pixels)
            img.draft("RGB", (width, height))  # JPEG: decode at a reduced scale, much faster for 4K
            source = img.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return None
    while max(width, height) >= limits.min_side:
        resized = source.resize((width, height), Image.Resampling.LANCZOS)
        found = _best_quality(resized, budget)
        if found is not None:
            quality, data = found
            return Preview(base64.b64encode(data).decode("ascii"), width, height, quality)
        smallest = _encode(resized, QUALITY_RANGE[0])
        scale = max(0.5, min(0.9, math.sqrt(budget / b64_length(len(smallest))) * 0.95))
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
    return None


def _best_quality(img: Image.Image, budget: int) -> tuple[int, bytes] | None:
    """The highest quality in ``QUALITY_RANGE`` whose base64 fits ``budget`` (binary search)."""
    low, high = QUALITY_RANGE
    data = _encode(img, high)
    if b64_length(len(data)) <= budget:  # the common case: the best quality already fits
        return high, data
    high -= 1
    best: tuple[int, bytes] | None = None
    while low <= high:
        quality = (low + high) // 2
        data = _encode(img, quality)
        if b64_length(len(data)) <= budget:
            best, low = (quality, data), quality + 1
        else:
            high = quality - 1
    return best


def _encode(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _fit(size: tuple[int, int], max_side: int, max_pixels: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, max_side / max(width, height), math.sqrt(max_pixels / (width * height)))
    return max(1, round(width * scale)), max(1, round(height * scale))
