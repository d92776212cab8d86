"""Keeping an image's shape through an edit: the documented aspect ratio and size tier closest to a source image
(layer 1, pure: no discord.py).

An edit, a variation or a re-render asks for its size explicitly (a tier and an aspect ratio from the model's own
size table), so the result keeps the source's shape instead of falling back to the model's square default.
"""

from __future__ import annotations

import math
import re

from core.catalog import SizeRules

_WXH = re.compile(r"^\s*\d+\s*[xX×*]\s*\d+\s*$")
_RATIO = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


def _ratio_value(ratio: str) -> float:
    width, height = ratio.split(":")
    return int(width) / int(height)


def closest_ratio(rules: SizeRules, width: int, height: int) -> str | None:
    """The model's documented aspect ratio nearest ``width``:``height`` (compared on a log scale, so 2:1 and
    1:2 are as far from 1:1), or ``None`` when the model documents none."""
    if not rules.ratios or width <= 0 or height <= 0:
        return None
    shape = math.log(width / height)
    return min(rules.ratios, key=lambda ratio: abs(math.log(_ratio_value(ratio)) - shape))


def closest_tier(rules: SizeRules, ratio: str, width: int, height: int) -> str | None:
    """The tier whose size at ``ratio`` has the pixel count nearest the source's."""
    tiers = [tier for tier, table in rules.tiers.items() if ratio in table]
    if not tiers:
        return None
    pixels = math.log(max(1, width * height))

    def distance(tier: str) -> float:
        tier_width, tier_height = rules.tiers[tier][ratio]
        return abs(math.log(tier_width * tier_height) - pixels)

    return min(tiers, key=distance)


def keep_shape(
    rules: SizeRules, width: int, height: int, *, size: str | None = None, aspect_ratio: str | None = None
) -> tuple[str | None, str | None]:
    """``(size, aspect_ratio)`` for a request made from a ``width``×``height`` source: what the caller asked
    for where it asked, the rest taken from the source (the closest documented ratio and tier).

    Exact dimensions, an aspect ratio given as ``size``, and models whose output follows the reference by
    themselves (``adaptive``) are passed through untouched.
    """
    if rules.adaptive or not rules.tiers or (size and (_WXH.match(size) or _RATIO.match(size))):
        return size, aspect_ratio
    ratio = aspect_ratio or closest_ratio(rules, width, height)
    if ratio is None or ratio not in rules.ratios:
        return size, aspect_ratio  # let the core name what is wrong with the caller's ratio
    tier = size or closest_tier(rules, ratio, width, height)
    return tier, ratio
