"""The one request model, and its validation against the catalog before any network call.

``GenerateRequest`` is what an adapter builds from its user's input. ``plan_request`` checks it against the
model as its provider serves it and returns a ``Plan``: everything resolved (provider, model, size, count,
references), or an ``InvalidRequestError`` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.catalog import CATALOG, Catalog, is_sandbox
from core.errors import InvalidRequestError
from core.modelspec import ModelSpec, SizeRules
from core.references import ReferenceImage, ReferencePolicy, load_references

MAX_PROMPT_CHARS = 4000
#: Independent images (takes) one job may ask for.
MAX_COUNT = 15
SEED_RANGE = (-1, 2_147_483_647)
_WXH = re.compile(r"^\s*(\d{1,6})\s*[xX×*]\s*(\d{1,6})\s*$")
_RATIO = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


class GenerateRequest(BaseModel):
    """What to generate. Every field but ``prompt`` is optional; ``None`` means the model's default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    provider: str | None = None
    model: str | None = None
    size: str | None = Field(None, description="a tier (2K), WxH (2048x2048) or an aspect ratio (16:9)")
    aspect_ratio: str | None = None
    count: int = Field(1, description="independent images: one provider request each (takes)")
    series: int | None = Field(None, description="up to this many related images in one group request")
    seed: int | None = None
    guidance: float | None = None
    watermark: bool = False
    images: tuple[str, ...] = ()
    output_format: Literal["jpeg", "png"] | None = None
    response_format: Literal["url", "b64_json"] = "url"
    stream: bool | None = None
    web_search: bool = False
    prompt_mode: Literal["standard", "fast"] | None = None

    @classmethod
    def create(cls, **fields: Any) -> GenerateRequest:
        """Build a request, turning type errors into ``InvalidRequestError``.

        Raises:
            InvalidRequestError: a field has the wrong type or an unknown name.
        """
        try:
            return cls(**fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "request"
            raise InvalidRequestError(field, first.get("input"), _pydantic_allowed(first)) from None


def _pydantic_allowed(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "the documented fields only: " + ", ".join(GenerateRequest.model_fields)
    return str(error["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")


@dataclass(frozen=True)
class ResolvedSize:
    """The size to ask for: a tier the model interprets, exact dimensions, or ``adaptive``."""

    tier: str | None = None
    aspect_ratio: str | None = None
    width: int | None = None
    height: int | None = None
    adaptive: bool = False

    @property
    def wxh(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None


@dataclass(frozen=True)
class Plan:
    """A validated request: what the provider adapter sends."""

    request: GenerateRequest
    provider: str  # as chosen, e.g. "sandbox" or "ark"
    kind: str  # the real provider kind: ark | visual | chanjing | gateway
    model: ModelSpec
    size: ResolvedSize
    count: int  # independent images (takes); in a request's own plan, the images that request asks for
    references: tuple[ReferenceImage, ...]
    seed: int | None
    guidance: float | None
    output_format: str
    stream: bool
    series: int = 0  # > 1: one group request for up to this many related images (the model decides how many)

    @property
    def sandbox(self) -> bool:
        return is_sandbox(self.provider)

    @property
    def images(self) -> int:
        """The most images the job can produce."""
        return self.series or self.count

    def requests(self) -> list[tuple[int, Plan]]:
        """The provider requests the job makes: the index of each one's first image, and its plan.

        A series is one request. Takes are one request each, or as few as the model allows where it makes
        an exact number of independent images per request (Chanjing). A pinned seed gives take *i* the seed
        ``seed + i`` (each take a different image, all reproducible); otherwise takes have no seed yet.
        """
        if self.series:
            return [(0, self)]
        per_request = self.model.max_outputs if self.model.count_is_exact else 1
        plans = []
        for first in range(0, self.count, per_request):
            seed = (self.seed + first) % (SEED_RANGE[1] + 1) if self.seed is not None and self.seed >= 0 else None
            plans.append((first, replace(self, count=min(per_request, self.count - first), seed=seed)))
        return plans

    def parameters(self) -> dict[str, Any]:
        """The resolved parameters, safe to store and show (references by source, not bytes)."""
        return {
            "provider": self.provider, "model": self.model.key, "model_id": self.model.wire_name,
            "size": self.size.wxh or self.size.tier or ("adaptive" if self.size.adaptive else None),
            "aspect_ratio": self.size.aspect_ratio, "count": self.count, "series": self.series or None,
            "seed": self.seed,
            "guidance": self.guidance, "watermark": self.request.watermark, "output_format": self.output_format,
            "stream": self.stream, "references": [r.source for r in self.references],
            "web_search": self.request.web_search, "prompt_mode": self.request.prompt_mode,
        }


async def plan_request(request: GenerateRequest, *, default_provider: str, policy: ReferencePolicy | None = None,
                       catalog: Catalog = CATALOG) -> Plan:
    """Validate ``request`` against the catalog; load and check its references (off the event loop).

    Raises:
        InvalidRequestError: the first rule broken, naming the field, the value and what is allowed.
    """
    provider = (request.provider or default_provider).strip().lower()
    kind = catalog.kind(provider)
    check_prompt(request.prompt)
    spec = catalog.find_model(kind, request.model, editing=bool(request.images))
    _check_references_count(spec, len(request.images))
    count, series = _check_count(spec, request.count, request.series, len(request.images), catalog)
    size = resolve_size(spec.sizes, request.size, request.aspect_ratio)
    seed, guidance = _check_seed_and_guidance(spec, request.seed, request.guidance, catalog)
    output_format = _check_options(spec, request, catalog)
    refs = await asyncio.to_thread(load_references, request.images, spec.references,
                                   policy or ReferencePolicy()) if request.images else []
    # Streaming only helps a request that hands over more than one image.
    stream = (spec.stream and series > 1) if request.stream is None else request.stream
    return Plan(request=request, provider=provider, kind=kind, model=spec, size=size, count=count,
                references=tuple(refs), seed=seed, guidance=guidance, output_format=output_format, stream=stream,
                series=series)


def check_prompt(prompt: str) -> None:
    """Refuse empty, oversized or control-character prompts. Anything a provider refuses beyond that is its
    own answer (the emulator reproduces it), not guessed here."""
    if not prompt or not prompt.strip():
        raise InvalidRequestError("prompt", prompt, "a non-empty description of the image")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError("prompt", prompt, f"at most {MAX_PROMPT_CHARS} characters",
                                  reason=f"it has {len(prompt)}")
    bad = next((c for c in prompt if unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t\r"), None)
    if bad is not None and 0xDC80 <= ord(bad) <= 0xDCFF:  # how Python carries a byte that was not UTF-8
        raise InvalidRequestError("prompt", prompt, "UTF-8 text",
                                  reason=f"contains the byte 0x{ord(bad) - 0xDC00:02X}, which is not UTF-8")
    if bad is not None:
        raise InvalidRequestError("prompt", prompt, "text without control characters",
                                  reason=f"contains U+{ord(bad):04X}")


def _check_references_count(spec: ModelSpec, n: int) -> None:
    if n < spec.min_references or n > spec.max_references:
        if spec.max_references == 0:
            allowed = f"no reference images ({spec.key} is text-to-image only on {spec.provider})"
        elif spec.min_references == spec.max_references:
            allowed = f"exactly {spec.max_references} reference image(s) for {spec.key}"
        else:
            allowed = f"{spec.min_references}–{spec.max_references} reference images for {spec.key}"
        raise InvalidRequestError("images", f"{n} image(s)", allowed)


def _check_count(spec: ModelSpec, count: int, series: int | None, n_refs: int,
                 catalog: Catalog) -> tuple[int, int]:
    """``(count, series)`` as the plan keeps them; a series of 1 is a single image."""
    if not 1 <= count <= MAX_COUNT:
        raise InvalidRequestError("count", count, f"1–{MAX_COUNT} independent images (one request each)")
    if series is None or series == 1:
        return count, 0
    if not spec.series:
        raise InvalidRequestError("series", series, f"none for {spec.key} on {spec.provider}; series (related "
                                  f"images in one request) are made by {catalog.models_with('series')}")
    if count > 1:
        raise InvalidRequestError("series", series, "a series, or several independent images (count), not both")
    ceiling = min(spec.max_outputs, spec.max_total_images - n_refs)
    if not 1 <= series <= ceiling:
        why = f"; references + outputs ≤ {spec.max_total_images}" if n_refs else ""
        raise InvalidRequestError("series", series, f"1–{ceiling} (the model decides how many, up to this{why})")
    return 1, series


def resolve_size(rules: SizeRules, size: str | None, aspect_ratio: str | None) -> ResolvedSize:
    """Resolve a tier, ``WxH`` or aspect ratio (plus an optional separate aspect ratio) against ``rules``.

    Raises:
        InvalidRequestError: naming ``size`` or ``aspect_ratio``.
    """
    text = (size or "").strip()
    if rules.adaptive:
        if text.lower() not in ("", "adaptive") or aspect_ratio:
            raise InvalidRequestError("size", size or aspect_ratio, rules.describe())
        return ResolvedSize(adaptive=True)
    if _RATIO.match(text):
        if aspect_ratio:
            raise InvalidRequestError("size", size, "a tier or WxH when aspect_ratio is also given")
        text, aspect_ratio = "", text
    ratio = _normalise_ratio(aspect_ratio, rules) if aspect_ratio else None
    if dims := _WXH.match(text):
        if ratio:
            raise InvalidRequestError("aspect_ratio", aspect_ratio, "no aspect ratio when size is WxH")
        return _custom_size(rules, int(dims.group(1)), int(dims.group(2)), text)
    tier = _tier(rules, text) if text else None
    if tier is None and ratio is None:
        return resolve_size(rules, rules.default, None)
    tier = tier or _default_tier(rules)
    if ratio:
        width, height = rules.tiers[tier][ratio]
        return ResolvedSize(tier=tier, aspect_ratio=ratio, width=width, height=height)
    if rules.send_tier:
        return ResolvedSize(tier=tier)
    width, height = rules.tiers[tier]["1:1"]
    return ResolvedSize(tier=tier, aspect_ratio="1:1", width=width, height=height)


def _tier(rules: SizeRules, text: str) -> str:
    for tier in rules.tiers:
        if tier.lower() == text.lower():
            return tier
    raise InvalidRequestError("size", text, rules.describe())


def _default_tier(rules: SizeRules) -> str:
    return rules.default if rules.default in rules.tiers else next(iter(rules.tiers))


def _normalise_ratio(value: str, rules: SizeRules) -> str:
    match = _RATIO.match(value)
    ratio = f"{match.group(1)}:{match.group(2)}" if match else value
    if ratio not in rules.ratios:
        raise InvalidRequestError("aspect_ratio", value, "/".join(rules.ratios) or "none for this model")
    return ratio


def _custom_size(rules: SizeRules, width: int, height: int, text: str) -> ResolvedSize:
    if not rules.custom:
        raise InvalidRequestError("size", text, rules.describe(), reason="exact dimensions are not supported")
    pixels = width * height
    problems = []
    if not rules.min_pixels <= pixels <= rules.max_pixels:
        problems.append(f"{pixels:,} pixels")
    if not rules.min_side <= min(width, height) or max(width, height) > rules.max_side:
        problems.append("a side out of range")
    if height == 0 or not rules.min_aspect <= width / height <= rules.max_aspect:
        problems.append("aspect ratio out of range")
    if problems:
        raise InvalidRequestError("size", text, rules.describe(), reason=", ".join(problems))
    return ResolvedSize(width=width, height=height)


def _check_seed_and_guidance(spec: ModelSpec, seed: int | None, guidance: float | None,
                             catalog: Catalog) -> tuple[int | None, float | None]:
    if seed is not None:
        if not spec.seed:
            raise InvalidRequestError("seed", seed, f"no seed for {spec.key} on {spec.provider} "
                                      f"(it would be ignored); seeds work on {catalog.models_with('seed')}")
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise InvalidRequestError("seed", seed, f"an integer from {SEED_RANGE[0]} to {SEED_RANGE[1]}")
    if guidance is not None:
        if spec.guidance is None:
            raise InvalidRequestError("guidance", guidance, f"no guidance for {spec.key} on {spec.provider} "
                                      f"(it would be ignored); guidance works on {catalog.models_with('guidance')}")
        low, high, _ = spec.guidance
        if not low <= guidance <= high:
            raise InvalidRequestError("guidance", guidance, f"a number from {low:g} to {high:g}")
    return seed, guidance


def _check_options(spec: ModelSpec, request: GenerateRequest, catalog: Catalog) -> str:
    output_format = request.output_format or spec.output_formats[0]
    if output_format not in spec.output_formats:
        raise InvalidRequestError("output_format", request.output_format,
                                  f"{'/'.join(spec.output_formats)} for {spec.key} on {spec.provider}")
    if request.stream and not spec.stream:
        raise InvalidRequestError("stream", True, f"false ({spec.key} on {spec.provider} does not stream)")
    if request.web_search and not spec.web_search:
        raise InvalidRequestError("web_search", True,
                                  f"false (web search is only on {catalog.models_with('web_search')})")
    if request.prompt_mode and request.prompt_mode not in spec.prompt_modes:
        raise InvalidRequestError("prompt_mode", request.prompt_mode,
                                  "/".join(spec.prompt_modes) or f"none for {spec.key} on {spec.provider}")
    if request.images and not spec.max_references:
        raise InvalidRequestError("images", len(request.images), f"none for {spec.key}")
    return output_format
