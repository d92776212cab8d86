"""Deterministic, real images: the same prompt and seed always give the same picture of the asked size."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG"}


def render_image(prompt: str, seed: int | None, width: int, height: int, fmt: str = "jpeg",
                 *, index: int = 0) -> bytes:
    """A smooth colour field derived from (prompt, seed, index), upscaled to ``width``×``height``, encoded."""
    digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{index}".encode()).digest()
    small = Image.new("RGB", (4, 4))
    small.putdata([tuple(digest[(i * 3 + k) % 32] for k in range(3)) for i in range(16)])
    img = small.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    # A mark whose place depends on the digest, so images differ visibly.
    cx, cy = digest[0] * width // 256, digest[1] * height // 256
    r = max(4, min(width, height) // 10)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255 - digest[2], 255 - digest[3], 255 - digest[4]))
    out = io.BytesIO()
    img.save(out, _PIL_FORMAT[fmt], quality=85) if fmt == "jpeg" else img.save(out, "PNG", compress_level=1)
    return out.getvalue()
