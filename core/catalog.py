"""Every model every provider serves: names, capabilities, size rules, parameter support and defaults.

One source of truth: request validation, ``seedream models``, the MCP tool schemas and the Discord choices
all read this module. Facts come from ``shared/reference/providers.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from core.errors import InvalidRequestError

PROVIDERS: tuple[str, ...] = ("ark", "visual", "chanjing", "gateway")
SANDBOX_PREFIX = "sandbox"

Dims = tuple[int, int]
TierTable = Mapping[str, Mapping[str, Dims]]

RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9")


def _table(rows: dict[str, dict[str, str]]) -> TierTable:
    """Turn ``{"2K": {"1:1": "2048x2048"}}`` into an immutable ``{tier: {ratio: (w, h)}}``."""
    parsed = {
        tier: MappingProxyType({r: tuple(int(x) for x in wxh.split("x")) for r, wxh in ratios.items()})
        for tier, ratios in rows.items()
    }
    return MappingProxyType(parsed)  # type: ignore[arg-type]


def _ratios(*sizes: str) -> dict[str, str]:
    return dict(zip(RATIOS, sizes, strict=True))


# Documented "common values" per tier (providers.md §1.2).
_ARK_1K = _ratios("1024x1024", "1152x864", "864x1152", "1280x720", "720x1280", "1248x832", "832x1248", "1512x648")
_ARK_2K = _ratios("2048x2048", "2304x1728", "1728x2304", "2848x1600", "1600x2848", "2496x1664", "1664x2496",
                  "3136x1344")
_ARK_3K = _ratios("3072x3072", "3456x2592", "2592x3456", "4096x2304", "2304x4096", "3744x2496", "2496x3744",
                  "4704x2016")
_ARK_4K = _ratios("4096x4096", "4704x3520", "3520x4704", "5504x3040", "3040x5504", "4992x3328", "3328x4992",
                  "6240x2656")
_PRO_1K = _ratios("1024x1024", "1152x864", "864x1152", "1424x800", "800x1424", "1248x832", "832x1248", "1568x672")
_PRO_15K = _ratios("1536x1536", "1728x1296", "1296x1728", "2048x1152", "1152x2048", "1872x1248", "1248x1872",
                   "2352x1008")
_PRO_2K = _ratios("2048x2048", "2368x1776", "1776x2368", "2816x1584", "1584x2816", "2496x1664", "1664x2496",
                  "3136x1344")
_VISUAL_13K = _ratios("1328x1328", "1472x1104", "1104x1472", "1664x936", "936x1664", "1584x1056", "1056x1584",
                      "2016x864")


@dataclass(frozen=True)
class SizeRules:
    """What ``size`` may be for one model on one provider.

    ``tiers`` maps a tier name to its recommended ``WxH`` per aspect ratio. When ``send_tier`` is true the
    tier itself may go on the wire (the model then picks the aspect ratio); otherwise a tier is only a way
    to name a recommended ``WxH``.
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
    count_is_exact: bool = False  # False: count is a ceiling (Ark group mode: the model decides)
    max_total_images: int = 15  # references + outputs
    stream: bool = False
    output_formats: tuple[str, ...] = ("jpeg",)
    seed: bool = False
    guidance: tuple[float, float, float] | None = None  # (min, max, default)
    web_search: bool = False
    prompt_modes: tuple[str, ...] = ()
    references: ReferenceRules = field(default_factory=ReferenceRules)
    notes: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this model answers to on its provider."""
        return (self.key, self.wire_name, *self.aliases)

    @property
    def group(self) -> bool:
        return self.max_outputs > 1


_SEED_ALIASES = {
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


def _ark_models() -> tuple[ModelSpec, ...]:
    wide = dict(min_pixels=921_600, max_pixels=16_777_216)
    big = dict(min_pixels=3_686_400, max_pixels=16_777_216)
    group = dict(max_outputs=15, stream=True, text_to_image=True)
    specs = [
        ModelSpec("seedream-5.0-pro", "ark", "doubao-seedream-5-0-pro-260628", "Seedream 5.0 pro",
                  SizeRules(_table({"1K": _PRO_1K, "1.5K": _PRO_15K, "2K": _PRO_2K}), "2K",
                            min_pixels=921_600, max_pixels=4_624_220),
                  max_references=10, output_formats=("jpeg", "png"),
                  notes="highest quality single images; no group, no streaming"),
        ModelSpec("seedream-5.0-lite", "ark", "doubao-seedream-5-0-260128", "Seedream 5.0 lite",
                  SizeRules(_table({"2K": _ARK_2K, "3K": _ARK_3K, "4K": _ARK_4K}), "2K", **big),
                  max_references=14, output_formats=("jpeg", "png"), web_search=True, **group),
        ModelSpec("seedream-4.5", "ark", "doubao-seedream-4-5-251128", "Seedream 4.5",
                  SizeRules(_table({"2K": _ARK_2K, "4K": _ARK_4K}), "2K", **big),
                  max_references=14, **group),
        ModelSpec("seedream-4.0", "ark", "doubao-seedream-4-0-250828", "Seedream 4.0",
                  SizeRules(_table({"1K": _ARK_1K, "2K": _ARK_2K, "4K": _ARK_4K}), "2K", **wide),
                  max_references=14, prompt_modes=("standard", "fast"), **group),
        ModelSpec("seedream-3.0", "ark", "doubao-seedream-3-0-t2i-250415", "Seedream 3.0 text-to-image",
                  SizeRules(_table({"1K": _ARK_1K}), "1024x1024", send_tier=False,
                            min_pixels=512 * 512, max_pixels=2048 * 2048),
                  seed=True, guidance=(1.0, 10.0, 2.5), notes="text only; seed and guidance supported"),
        ModelSpec("seededit-3.0", "ark", "doubao-seededit-3-0-i2i-250628", "SeedEdit 3.0 image editing",
                  SizeRules(MappingProxyType({}), "adaptive", custom=False, adaptive=True),
                  text_to_image=False, min_references=1, max_references=1, seed=True,
                  guidance=(1.0, 10.0, 5.5), notes="edits exactly one reference image"),
    ]
    return tuple(replace(s, aliases=_SEED_ALIASES[s.key]) for s in specs)


def _visual_models() -> tuple[ModelSpec, ...]:
    sizes = SizeRules(_table({"1.3K": _VISUAL_13K}), "1328x1328", send_tier=False, min_side=512, max_side=2048,
                      min_pixels=512 * 512, max_pixels=2048 * 2048)
    return (ModelSpec("seedream-3.0", "visual", "high_aes_general_v30l_zt2i", "Seedream 3.0 (Visual CVProcess)",
                      sizes, aliases=_SEED_ALIASES["seedream-3.0"] + ("high_aes_general_v30l_zt2i",),
                      seed=True, guidance=(1.0, 10.0, 2.5), notes="one image per call"),)


def _chanjing_models() -> tuple[ModelSpec, ...]:
    ratios = ("1:1", "4:3", "3:4", "16:9", "9:16")
    tiers = {t: {r: v for r, v in col.items() if r in ratios}
             for t, col in {"1K": _ARK_1K, "2K": _ARK_2K, "4K": _ARK_4K}.items()}
    sizes = SizeRules(_table(tiers), "2K", custom=False)
    common = dict(sizes=sizes, max_outputs=4, count_is_exact=True, references=ReferenceRules(urls_only=True))
    return (
        ModelSpec("seedream-3.0", "chanjing", "doubao-seedream-3.0-t2i", "Seedream 3.0 (Chanjing)",
                  aliases=_SEED_ALIASES["seedream-3.0"], **common),
        ModelSpec("seedream-4.0", "chanjing", "doubao-seedream-4.0", "Seedream 4.0 (Chanjing)",
                  aliases=_SEED_ALIASES["seedream-4.0"], max_references=10, **common),
        ModelSpec("seedream-4.5", "chanjing", "doubao-seedream-4.5", "Seedream 4.5 (Chanjing)",
                  aliases=_SEED_ALIASES["seedream-4.5"], max_references=10, **common),
    )


def _gateway_models() -> tuple[ModelSpec, ...]:
    wire = {"seedream-4.0": "doubao-seedream-4.0", "seedream-4.5": "doubao-seedream-4.5",
            "seedream-5.0-lite": "bytedance-seedream-5.0", "seedream-3.0": "doubao-seedream-3-0-t2i-250415"}
    ark = {s.key: s for s in _ark_models()}
    # The gateway ignores output_format: offer only what its models produce by default.
    return tuple(
        replace(ark[key], provider="gateway", wire_name=name, output_formats=("jpeg",), web_search=False,
                prompt_modes=(), title=ark[key].title + " (gateway)")
        for key, name in wire.items()
    )


MODELS: tuple[ModelSpec, ...] = _ark_models() + _visual_models() + _chanjing_models() + _gateway_models()

DEFAULT_MODEL: Mapping[str, str] = MappingProxyType(
    {"ark": "seedream-4.0", "visual": "seedream-3.0", "chanjing": "seedream-4.0", "gateway": "seedream-4.0"}
)

EDIT_DEFAULT_MODEL: Mapping[str, str] = MappingProxyType(
    {"ark": "seedream-4.0", "visual": "seedream-3.0", "chanjing": "seedream-4.0", "gateway": "seedream-4.0"}
)


def models_for(provider: str) -> tuple[ModelSpec, ...]:
    """Every model ``provider`` serves (a sandbox name counts as its real provider)."""
    kind = provider_kind(provider)
    return tuple(m for m in MODELS if m.provider == kind)


def provider_kind(provider: str) -> str:
    """``sandbox`` → ``ark``, ``sandbox-visual`` → ``visual``; real names unchanged.

    Raises:
        InvalidRequestError: the name is not a known provider.
    """
    name = provider.strip().lower()
    if name == SANDBOX_PREFIX:
        return "ark"
    if name.startswith(SANDBOX_PREFIX + "-"):
        name = name[len(SANDBOX_PREFIX) + 1:]
    if name not in PROVIDERS:
        raise InvalidRequestError("provider", provider, provider_names_help())
    return name


def is_sandbox(provider: str) -> bool:
    """True for ``sandbox`` and ``sandbox-<provider>``."""
    return provider.strip().lower().split("-", 1)[0] == SANDBOX_PREFIX


def provider_names_help() -> str:
    real = ", ".join(PROVIDERS)
    boxes = ", ".join(f"{SANDBOX_PREFIX}-{p}" for p in PROVIDERS[1:])
    return f"{real}, {SANDBOX_PREFIX} (Ark on the built-in emulator), {boxes}"


def find_model(provider: str, name: str | None, *, editing: bool = False) -> ModelSpec:
    """The model ``name`` (any alias, case-insensitive) as ``provider`` serves it; ``None`` → the default.

    Raises:
        InvalidRequestError: unknown provider, or a model this provider does not serve.
    """
    kind = provider_kind(provider)
    if name is None or not name.strip():
        name = (EDIT_DEFAULT_MODEL if editing else DEFAULT_MODEL)[kind]
    wanted = name.strip().lower()
    for spec in models_for(kind):
        if wanted in (n.lower() for n in spec.names):
            return spec
    allowed = ", ".join(m.key for m in models_for(kind))
    elsewhere = sorted({m.provider for m in MODELS if wanted in (n.lower() for n in m.names)})
    hint = f"; it is served by {', '.join(elsewhere)}" if elsewhere else ""
    raise InvalidRequestError("model", name, f"{allowed} on provider {kind}{hint}")
