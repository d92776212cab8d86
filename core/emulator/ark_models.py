"""The emulator's own table of Ark image-model facts (providers.md §1.2), kept apart from ``core.catalog`` so
the emulator stays an independent ground truth for the client's validation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

Dims = tuple[int, int]
RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9")


def _tier(*sizes: str) -> Mapping[str, Dims]:
    pairs = (tuple(int(x) for x in s.split("x")) for s in sizes)
    return MappingProxyType(dict(zip(RATIOS, pairs, strict=True)))  # type: ignore[arg-type]


# Recommended WxH per tier and aspect ratio (providers.md §1.2 "common values").
_1K = _tier("1024x1024", "1152x864", "864x1152", "1280x720", "720x1280", "1248x832", "832x1248", "1512x648")
_2K = _tier("2048x2048", "2304x1728", "1728x2304", "2848x1600", "1600x2848", "2496x1664", "1664x2496",
            "3136x1344")
_3K = _tier("3072x3072", "3456x2592", "2592x3456", "4096x2304", "2304x4096", "3744x2496", "2496x3744",
            "4704x2016")
_4K = _tier("4096x4096", "4704x3520", "3520x4704", "5504x3040", "3040x5504", "4992x3328", "3328x4992",
            "6240x2656")
_PRO_1K = _tier("1024x1024", "1152x864", "864x1152", "1424x800", "800x1424", "1248x832", "832x1248", "1568x672")
_PRO_15K = _tier("1536x1536", "1728x1296", "1296x1728", "2048x1152", "1152x2048", "1872x1248", "1248x1872",
                 "2352x1008")
_PRO_2K = _tier("2048x2048", "2368x1776", "1776x2368", "2816x1584", "1584x2816", "2496x1664", "1664x2496",
                "3136x1344")

MAX_GROUP_TOTAL = 15  # reference images + generated images in one request
MAX_IMAGES_RANGE = (1, 15)
SEED_RANGE = (-1, 2_147_483_647)


@dataclass(frozen=True)
class RefRules:
    """What an input image must be (the Ark images document)."""

    formats: tuple[str, ...] = ("jpeg", "png")
    max_bytes: int = 10 * 1024 * 1024
    min_side_exclusive: int = 14
    max_pixels: int = 6000 * 6000
    min_aspect: float = 1 / 3
    max_aspect: float = 3.0


@dataclass(frozen=True)
class ArkModel:
    """One Ark image model as the real API treats it."""

    model_id: str  # the Volcengine id, e.g. doubao-seedream-4-0-250828
    tiers: Mapping[str, Mapping[str, Dims]]
    min_pixels: int = 1
    max_pixels: int = 2**62
    default_size: str = "2048x2048"
    adaptive_size: bool = False  # SeedEdit: the output follows the reference image
    min_refs: int = 0
    max_refs: int = 0
    group: bool = False
    stream: bool = False
    output_formats: tuple[str, ...] = ("jpeg",)
    guidance: tuple[float, float] | None = None  # seed + guidance_scale supported when set
    prompt_modes: tuple[str, ...] = ()
    web_search: bool = False
    plan: bool = False  # served on the subscription-plan base /api/plan/v3
    reports_size: bool = True  # data[].size is present (4.x / 5.x only)
    v5: bool = False  # 5.0 response extras: data[].output_format, usage.input_images, tool_usage

    @property
    def byteplus_id(self) -> str:
        """BytePlus drops the ``doubao-`` prefix."""
        return self.model_id.removeprefix("doubao-")


_BIG = {"min_pixels": 3_686_400, "max_pixels": 16_777_216}

MODELS: tuple[ArkModel, ...] = (
    ArkModel("doubao-seedream-5-0-pro-260628", MappingProxyType({"1K": _PRO_1K, "1.5K": _PRO_15K, "2K": _PRO_2K}),
             min_pixels=921_600, max_pixels=4_624_220, max_refs=10, output_formats=("jpeg", "png"),
             prompt_modes=("standard",), plan=True, v5=True),
    ArkModel("doubao-seedream-5-0-260128", MappingProxyType({"2K": _2K, "3K": _3K, "4K": _4K}), **_BIG,
             max_refs=14, group=True, stream=True, output_formats=("jpeg", "png"), prompt_modes=("standard",),
             web_search=True, plan=True, v5=True),
    ArkModel("doubao-seedream-4-5-251128", MappingProxyType({"2K": _2K, "4K": _4K}), **_BIG, max_refs=14,
             group=True, stream=True, prompt_modes=("standard",)),
    ArkModel("doubao-seedream-4-0-250828", MappingProxyType({"1K": _1K, "2K": _2K, "4K": _4K}),
             min_pixels=921_600, max_pixels=16_777_216, max_refs=14, group=True, stream=True,
             prompt_modes=("standard", "fast")),
    ArkModel("doubao-seedream-3-0-t2i-250415", MappingProxyType({}), min_pixels=512 * 512,
             max_pixels=2048 * 2048, default_size="1024x1024", guidance=(1.0, 10.0), reports_size=False),
    ArkModel("doubao-seededit-3-0-i2i-250628", MappingProxyType({}), default_size="adaptive", adaptive_size=True,
             min_refs=1, max_refs=1, guidance=(1.0, 10.0), reports_size=False),
)

_BY_NAME: Mapping[str, ArkModel] = MappingProxyType(
    {name: m for m in MODELS for name in (m.model_id, m.byteplus_id)})


def find_model(name: str, endpoints: Mapping[str, str] | None = None) -> tuple[ArkModel, str] | None:
    """The model ``name`` denotes and the name responses echo, or ``None`` when Ark would answer 404.

    Accepts the Volcengine id, the BytePlus id (no ``doubao-`` prefix) and ``ep-…`` endpoint ids mapped in
    ``endpoints``; an endpoint answers with its model's id, as the real service does.
    """
    if name in _BY_NAME:
        return _BY_NAME[name], name
    target = (endpoints or {}).get(name)
    if target is not None and target in _BY_NAME:
        return _BY_NAME[target], _BY_NAME[target].model_id
    return None


_RATIO_IN_PROMPT = re.compile(r"(\d{1,2})\s*[:：]\s*(\d{1,2})")


def ratio_from_prompt(prompt: str) -> str:
    """The first known aspect ratio the prompt mentions ("a 16:9 poster"), else ``1:1`` — how the emulator
    stands in for the model choosing the shape when ``size`` is a tier."""
    for match in _RATIO_IN_PROMPT.finditer(prompt):
        ratio = f"{int(match.group(1))}:{int(match.group(2))}"
        if ratio in RATIOS:
            return ratio
    return "1:1"


_COUNT_IN_PROMPT = re.compile(r"(\d{1,2})\s*(?:images?|pictures?|张|幅)|组图\s*(\d{1,2})", re.IGNORECASE)


def count_from_prompt(prompt: str) -> int | None:
    """How many images the prompt asks for ("4 images", "组图 4 张"), if it says."""
    match = _COUNT_IN_PROMPT.search(prompt)
    return int(match.group(1) or match.group(2)) if match else None
