"""What a model is: its size rules, reference rules and capabilities (``ModelSpec``), and the size tables the
provider documents publish. Each provider declares its models with these types (``core.providers``);
``core.catalog`` looks them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Dims = tuple[int, int]
TierTable = Mapping[str, Mapping[str, Dims]]

RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9")


def tier_table(rows: dict[str, dict[str, str]]) -> TierTable:
    """Turn ``{"2K": {"1:1": "2048x2048"}}`` into an immutable ``{tier: {ratio: (w, h)}}``."""
    parsed = {
        tier: MappingProxyType({r: tuple(int(x) for x in wxh.split("x")) for r, wxh in ratios.items()})
        for tier, ratios in rows.items()
    }
    return MappingProxyType(parsed)  # type: ignore[arg-type]


def by_ratio(*sizes: str) -> dict[str, str]:
    """``WxH`` per aspect ratio, in ``RATIOS`` order."""
    return dict(zip(RATIOS, sizes, strict=True))


# The "common values" per tier that providers.md §1.2 and the gateway document's size table recommend (4.5, 5.0
# and every model through the gateway).
ARK_1K = by_ratio("1024x1024", "1152x864", "864x1152", "1280x720", "720x1280", "1248x832", "832x1248", "1512x648")
ARK_2K = by_ratio("2048x2048", "2304x1728", "1728x2304", "2848x1600", "1600x2848", "2496x1664", "1664x2496",
                  "3136x1344")
ARK_3K = by_ratio("3072x3072", "3456x2592", "2592x3456", "4096x2304", "2304x4096", "3744x2496", "2496x3744",
                  "4704x2016")
ARK_4K = by_ratio("4096x4096", "4704x3520", "3520x4704", "5504x3040", "3040x5504", "4992x3328", "3328x4992",
                  "6240x2656")
# Seedream 4.0 on Ark: the Ark images document's recommended WxH for its default (2K) tier.
ARK_40_2K = by_ratio("2048x2048", "2304x1728", "1728x2304", "2560x1440", "1440x2560", "2496x1664", "1664x2496",
                     "3024x1296")
# Seedream 3.0 text-to-image on Ark: the 3.0 document lists eleven sizes (1024x1024 the default); each aspect
# ratio maps to the largest of them with that ratio (768x768, 768x432, 432x768 and 512x512 are WxH values).
# 21:9 has none.
SEEDREAM_30 = {"1:1": "1024x1024", "4:3": "1024x768", "3:4": "768x1024", "16:9": "1024x576", "9:16": "576x1024",
               "3:2": "768x512", "2:3": "512x768"}
SEEDREAM_30_SIZES = ("1024x1024", "1024x768", "768x1024", "1024x576", "576x1024", "768x768", "768x512", "512x768",
                     "768x432", "432x768", "512x512")
PRO_1K = by_ratio("1024x1024", "1152x864", "864x1152", "1424x800", "800x1424", "1248x832", "832x1248", "1568x672")
PRO_15K = by_ratio("1536x1536", "1728x1296", "1296x1728", "2048x1152", "1152x2048", "1872x1248", "1248x1872",
                   "2352x1008")
PRO_2K = by_ratio("2048x2048", "2368x1776", "1776x2368", "2816x1584", "1584x2816", "2496x1664", "1664x2496",
                  "3136x1344")
VISUAL_13K = by_ratio("1328x1328", "1472x1104", "1104x1472", "1664x936", "936x1664", "1584x1056", "1056x1584",
                      "2016x864")


@dataclass(frozen=True)
class SizeRules:
    """What ``size`` may be for one model on one provider.

    ``tiers`` maps a tier name to its recommended ``WxH`` per aspect ratio. When ``send_tier`` is true the
    tier itself may go on the wire (the model then picks the aspect ratio); otherwise a tier is only a way
    to name a recommended ``WxH``. An empty ``default`` sends no size at all (the provider's own default).
    """

    tiers: TierTable
    default: str
    send_tier: bool = True
    custom: bool = True
    min_pixels: int = 1
    max_pixels: int = 2**62
    min_side: int = 1
    max_side: int = 2**31
    min_aspect: float = 1 / 16
    max_aspect: float = 16.0
    adaptive: bool = False

    @property
    def ratios(self) -> tuple[str, ...]:
        """Aspect ratios with a recommended size in every tier."""
        first = next(iter(self.tiers.values()), {})
        return tuple(first)

    def describe(self) -> str:
        """A one-line summary of the allowed values, for error messages and docs."""
        if self.adaptive:
            return "'adaptive' (the output follows the reference image)"
        parts = []
        if self.tiers and self.send_tier:
            parts.append("a tier " + "/".join(self.tiers))
        if self.tiers and self.ratios:
            parts.append("an aspect ratio " + "/".join(self.ratios))
        if self.custom:
            parts.append(
                f"WxH with {self.min_pixels:,}–{self.max_pixels:,} pixels"
                + (f", each side {self.min_side}–{self.max_side}" if self.max_side < 2**31 else "")
                + f", aspect ratio 1:{_fmt_ratio(1 / self.min_aspect)} to {_fmt_ratio(self.max_aspect)}:1"
            )
        return "; ".join(parts)


def _fmt_ratio(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class ReferenceRules:
    """What a reference (input) image must be."""

    formats: tuple[str, ...] = ("jpeg", "png")
    max_bytes: int = 10 * 1024 * 1024
    min_side: int = 15  # "each side > 14 px"
    max_pixels: int = 6000 * 6000
    min_aspect: float = 1 / 3
    max_aspect: float = 3.0
    urls_only: bool = False  # the provider takes only public http(s) URLs (Chanjing)


@dataclass(frozen=True)
class ModelSpec:
    """One model as one provider serves it."""

    key: str
    provider: str
    wire_name: str
    title: str
    sizes: SizeRules
    aliases: tuple[str, ...] = ()
    text_to_image: bool = True
    min_references: int = 0
    max_references: int = 0
    max_outputs: int = 1
    count_is_exact: bool = False  # True: one request makes exactly the images asked for (Chanjing)
    max_total_images: int = 15  # references + outputs
    stream: bool = False
    output_formats: tuple[str, ...] = ("jpeg",)
    seed: bool = False  # takes a seed (the service pins a random one when none is asked, unless pass_through)
    guidance: tuple[float, float, float] | None = None  # (min, max, default)
    web_search: bool = False
    prompt_modes: tuple[str, ...] = ()  # how the provider may rewrite the prompt (Ark standard/fast, Visual expand)
    logo: bool = False  # the visible watermark can be placed and worded (Visual's logo_info)
    references: ReferenceRules = field(default_factory=ReferenceRules)
    notes: str = ""
    #: False: the provider's own document does not list this model; sent only when the user opts in.
    documented: bool = True
    #: True: an endpoint whose model is unknown; parameters go as the caller gave them, nothing filled in.
    pass_through: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this model answers to on its provider."""
        return (self.key, self.wire_name, *self.aliases)

    @property
    def group(self) -> bool:
        """It can make more than one image in one request."""
        return self.max_outputs > 1

    @property
    def series(self) -> bool:
        """It makes series: up to ``max_outputs`` related images in one request, as many as it decides."""
        return self.group and not self.count_is_exact


#: Every name each Seedream model answers to, whichever provider serves it (ids, dated ids, BytePlus ids).
MODEL_ALIASES = {
    "seedream-5.0-pro": ("5.0-pro", "seedream-5-pro", "doubao-seedream-5-0-pro-260628", "seedream-5-0-pro-260628"),
    "seedream-5.0-lite": ("5.0-lite", "5.0", "seedream-5.0", "seedream-5", "doubao-seedream-5-0-260128",
                          "seedream-5-0-260128", "bytedance-seedream-5.0"),
    "seedream-4.5": ("4.5", "doubao-seedream-4.5", "doubao-seedream-4-5-251128", "seedream-4-5-251128"),
    "seedream-4.0": ("4.0", "seedream-4", "doubao-seedream-4.0", "doubao-seedream-4-0-250828", "seedream-4-0-250828"),
    "seedream-3.0": ("3.0", "seedream-3.0-t2i", "doubao-seedream-3.0-t2i", "doubao-seedream-3-0-t2i-250415",
                     "seedream-3-0-t2i-250415"),
    "seededit-3.0": ("seededit", "doubao-seededit-3.0-i2i", "doubao-seededit-3-0-i2i-250628",
                     "seededit-3-0-i2i-250628"),
}


def parse_endpoints(value: object, *, prefix: str, models: tuple[ModelSpec, ...]) -> dict[str, str]:
    """An endpoint map, ``"ep-…=seedream-4.0,ep-…=seedream-3.0"`` (or a mapping), as ``{endpoint id: model key}``.

    Raises:
        ValueError: an entry is not ``ID=MODEL``, an id lacks ``prefix``, or a model is not one of ``models``.
    """
    if isinstance(value, Mapping):
        entries = [f"{k}={v}" for k, v in value.items()]
    else:
        entries = [e.strip() for e in str(value or "").split(",") if e.strip()]
    names = {name.lower(): model.key for model in models for name in model.names}
    mapped: dict[str, str] = {}
    for entry in entries:
        endpoint, _, model = (part.strip() for part in entry.partition("="))
        if not endpoint.startswith(prefix) or not model:
            raise ValueError(f"{entry!r} is not {prefix}…=MODEL (e.g. {prefix}20250101000000-abcde=seedream-4.0)")
        if model.lower() not in names:
            raise ValueError(f"{endpoint} is mapped to {model!r}, which is none of "
                             f"{', '.join(dict.fromkeys(names.values()))}")
        mapped[endpoint] = names[model.lower()]
    return mapped
