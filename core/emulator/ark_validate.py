"""Validation of an Ark ``images/generations`` body, per model, the way the real API answers: every rule is a
400 envelope naming the parameter; nothing is generated for an invalid request.

Deliberate choices where the documents leave room: ``null`` means "not sent" (the official SDK sends nulls);
unknown fields — ``n`` above all — are rejected, so our client is proven never to send them; ``seed`` and
``guidance_scale`` are rejected on 4.x / 5.x ("ignore or reject" upstream).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.emulator.ark_errors import ArkError, invalid, missing, model_not_found
from core.emulator.ark_models import (
    MAX_GROUP_TOTAL,
    MAX_IMAGES_RANGE,
    SEED_RANGE,
    ArkModel,
    Dims,
    RefRules,
    count_from_prompt,
    find_model,
    ratio_from_prompt,
)
from core.emulator.ark_refs import RefImage, ServedLookup, parse_refs

KNOWN_FIELDS = frozenset({
    "model", "prompt", "image", "response_format", "size", "seed", "guidance_scale", "watermark",
    "sequential_image_generation", "sequential_image_generation_options", "stream", "optimize_prompt",
    "optimize_prompt_options", "output_format", "tools", "layer_decomposition",
})
_WXH = re.compile(r"^(\d{1,6})x(\d{1,6})$")
_TIER_LIKE = re.compile(r"^\d+(\.\d+)?[kK]$")
_ADAPTIVE_FALLBACK = (1024, 1024)  # SeedEdit with an outside URL the sandbox cannot measure


@dataclass(frozen=True)
class ArkJob:
    """A valid request: what to generate and how to answer."""

    model: ArkModel
    model_name: str  # echoed in responses
    prompt: str
    refs: tuple[RefImage, ...]
    width: int
    height: int
    count: int  # images the "model decides" to make (deterministic here)
    response_format: str = "url"
    output_format: str = "jpeg"
    watermark: bool = True
    seed: int | None = None
    stream: bool = False
    web_search: bool = False


@dataclass(frozen=True)
class ValidationContext:
    """What validation needs from the emulator's configuration."""

    served: ServedLookup
    endpoints: Mapping[str, str]
    blocked_words: tuple[str, ...] = ()
    plan_route: bool = False


def validate(raw: object, ctx: ValidationContext) -> ArkJob:
    """The ``ArkJob`` for a decoded JSON body.

    Raises:
        ArkError: 400 for parameters, 404 for an unknown model (or a non-plan model on the plan base).
    """
    if not isinstance(raw, dict):
        raise invalid("", "the request body must be a JSON object")
    body = {k: v for k, v in raw.items() if v is not None}
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(name, f"the parameter {name} is not supported by the images API")
    model, model_name = _model(body, ctx)
    prompt = _prompt(body)
    _check_flags(body, model)
    refs = _refs(body, model, ctx)
    width, height = _size(body, model, prompt, refs)
    count = _count(body, model, prompt, len(refs))
    _check_moderation(prompt, ctx.blocked_words)
    return ArkJob(model=model, model_name=model_name, prompt=prompt, refs=refs, width=width, height=height,
                  count=count, response_format=body.get("response_format", "url"),
                  output_format=body.get("output_format", "jpeg"), watermark=body.get("watermark", True),
                  seed=_seed(body), stream=body.get("stream", False), web_search=bool(body.get("tools")))


def _model(body: dict[str, object], ctx: ValidationContext) -> tuple[ArkModel, str]:
    name = body.get("model")
    if name is None or name == "":
        raise missing("model")
    if not isinstance(name, str):
        raise invalid("model", "model must be a string")
    found = find_model(name, ctx.endpoints)
    if found is None:
        raise model_not_found(name)
    if ctx.plan_route and not found[0].plan:
        raise ArkError(404, "UnsupportedModel", f"The {name} model does not support the coding plan feature.",
                       param="model")
    return found


def _prompt(body: dict[str, object]) -> str:
    prompt = body.get("prompt")
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        raise missing("prompt")
    if not isinstance(prompt, str):
        raise invalid("prompt", "prompt must be a string")
    return prompt


def _require(body: dict[str, object], name: str, kind: type | tuple[type, ...], what: str) -> object:
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise invalid(name, f"{name} must be {what}")
    return value


def _check_flags(body: dict[str, object], model: ArkModel) -> None:
    """Every per-model parameter rule except images, size and count."""
    mid = model.model_id
    if _require(body, "response_format", str, "url or b64_json") not in (None, "url", "b64_json"):
        raise invalid("response_format", "response_format must be url or b64_json")
    _require(body, "watermark", bool, "a boolean")
    _require(body, "optimize_prompt", bool, "a boolean")
    if _require(body, "stream", bool, "a boolean") and not model.stream:
        raise invalid("stream", f"the model {mid} does not support streaming output")
    output_format = _require(body, "output_format", str, "png or jpeg")
    if output_format is not None and output_format not in model.output_formats:
        raise invalid("output_format", f"output_format must be one of {', '.join(model.output_formats)} "
                                       f"for the model {mid}")
    for name in ("seed", "guidance_scale"):
        if name in body and model.guidance is None:
            raise invalid(name, f"{name} is not supported by the model {mid}")
    guidance = _require(body, "guidance_scale", (int, float), "a number")
    if guidance is not None and model.guidance and not model.guidance[0] <= guidance <= model.guidance[1]:
        raise invalid("guidance_scale", "guidance_scale must be between 1 and 10")
    seed = _require(body, "seed", int, "an integer")
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise invalid("seed", f"seed must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}")
    _check_tools(body, model)
    _check_prompt_options(body, model)
    if body.get("layer_decomposition") is True:
        raise invalid("layer_decomposition", f"layer_decomposition is not supported for the model {mid} "
                                             "by this emulator")
    _require(body, "layer_decomposition", bool, "a boolean")


def _check_tools(body: dict[str, object], model: ArkModel) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not model.web_search:
        raise invalid("tools", f"tools are not supported by the model {model.model_id}")
    if not isinstance(tools, list) or any(not isinstance(t, dict) or t.get("type") != "web_search" for t in tools):
        raise invalid("tools", 'tools must be a list of {"type": "web_search"}')


def _check_prompt_options(body: dict[str, object], model: ArkModel) -> None:
    options = body.get("optimize_prompt_options")
    if options is None:
        return
    if not model.prompt_modes:
        raise invalid("optimize_prompt_options", f"optimize_prompt_options is not supported by {model.model_id}")
    if not isinstance(options, dict) or any(k not in ("mode", "thinking") for k in options):
        raise invalid("optimize_prompt_options", "optimize_prompt_options must be an object with mode")
    mode = options.get("mode")
    if mode is not None and mode not in model.prompt_modes:
        raise invalid("optimize_prompt_options.mode",
                      f"optimize_prompt_options.mode must be one of {', '.join(model.prompt_modes)}")


def _refs(body: dict[str, object], model: ArkModel, ctx: ValidationContext) -> tuple[RefImage, ...]:
    if "image" not in body:
        if model.min_refs:
            raise missing("image")
        return ()
    if model.max_refs == 0:
        raise invalid("image", f"the model {model.model_id} does not accept input images")
    refs = parse_refs(body["image"], rules=RefRules(), served=ctx.served)
    if not model.min_refs <= len(refs) <= model.max_refs:
        allowed = (f"exactly {model.max_refs}" if model.min_refs == model.max_refs
                   else f"{model.min_refs or 1} to {model.max_refs}")
        raise invalid("image", f"the model {model.model_id} accepts {allowed} input images, got {len(refs)}",
                      code="InvalidParameter.UnsupportedImageCount")
    return refs


def _size(body: dict[str, object], model: ArkModel, prompt: str, refs: tuple[RefImage, ...]) -> Dims:
    size = _require(body, "size", str, "a string")
    if model.adaptive_size:
        if size not in (None, "adaptive"):
            raise invalid("size", f"size must be adaptive for the model {model.model_id}")
        ref = refs[0]
        return (ref.width, ref.height) if ref.width and ref.height else _ADAPTIVE_FALLBACK
    text = str(size or model.default_size)
    if text in model.tiers:
        return model.tiers[text][ratio_from_prompt(prompt)]
    match = _WXH.match(text)
    if match is None:
        tiers = ", ".join(model.tiers)
        allowed = f"one of {tiers} or WxH" if tiers else "WxH"
        kind = "is not supported by" if _TIER_LIKE.match(text) else "is not valid for"
        raise invalid("size", f"size {text} {kind} the model {model.model_id}; use {allowed}")
    width, height = int(match.group(1)), int(match.group(2))
    _check_pixels(width, height, model)
    return width, height


def _check_pixels(width: int, height: int, model: ArkModel) -> None:
    pixels = width * height
    if pixels < model.min_pixels:
        raise invalid("size", f"image size must be at least {model.min_pixels} pixels")
    if pixels > model.max_pixels:
        raise invalid("size", f"image size must be at most {model.max_pixels} pixels")
    if not 1 / 16 <= width / height <= 16:
        raise invalid("size", "image aspect ratio must be between 1/16 and 16")


def _count(body: dict[str, object], model: ArkModel, prompt: str, n_refs: int) -> int:
    """How many images the request makes. In group mode the real model decides; here, deterministically, the
    number the prompt names ("4 images", "组图 4") capped by ``max_images``, else ``max_images`` itself
    (default: 15). Either way at most 15 minus the references: the document says references + generated
    images ≤ 15, as a limit on what is made, not as a reason to refuse."""
    mode = _require(body, "sequential_image_generation", str, "auto or disabled")
    if mode not in (None, "auto", "disabled"):
        raise invalid("sequential_image_generation", "sequential_image_generation must be auto or disabled")
    options = body.get("sequential_image_generation_options")
    if not model.group and (mode == "auto" or options is not None):
        raise invalid("sequential_image_generation",
                      f"sequential image generation is not supported by the model {model.model_id}")
    max_images = _max_images(options)
    if mode != "auto":
        return 1
    ceiling = min(max_images if max_images is not None else MAX_IMAGES_RANGE[1], MAX_GROUP_TOTAL - n_refs)
    asked = count_from_prompt(prompt)
    return max(1, min(ceiling, asked) if asked else ceiling)


def _max_images(options: object) -> int | None:
    if options is None:
        return None
    if not isinstance(options, dict) or any(k != "max_images" for k in options):
        raise invalid("sequential_image_generation_options",
                      "sequential_image_generation_options must be an object with max_images")
    value = options.get("max_images")
    if value is None:
        return None
    low, high = MAX_IMAGES_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid("sequential_image_generation_options.max_images",
                      f"max_images must be an integer between {low} and {high}")
    return value


def _seed(body: dict[str, object]) -> int | None:
    seed = body.get("seed")
    return seed if isinstance(seed, int) and seed != -1 else None


def _check_moderation(prompt: str, blocked_words: tuple[str, ...]) -> None:
    lowered = prompt.lower()
    if any(word.lower() in lowered for word in blocked_words):
        raise ArkError(400, "InputTextSensitiveContentDetected",
                       "The request failed because the input text may contain sensitive information.",
                       param="prompt")
