"""Producing an Ark job's images and shaping them as Ark answers: the JSON body (§1.3) and the SSE events
(§1.4). Prompt markers script per-image outcomes: ``[refuse:N]`` makes image N fail moderation (the group
goes on; ``[refuse:N:CODE]`` with another of the documented output-moderation codes, e.g.
``OutputImageRiskDetection``), ``[fail:N]`` makes it an internal error (the rest of the group is not produced)."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from core.emulator.ark_errors import ArkError
from core.emulator.ark_validate import ArkJob
from core.emulator.images import render_image
from core.emulator.state import EmulatorState

_MARKER = re.compile(r"\[(refuse|fail):(\d+)(?::([A-Za-z.]+))?\]")
REFUSED_CODE = "OutputImageSensitiveContentDetected"
#: The per-image moderation codes the Ark images API documents for a generated image.
OUTPUT_REFUSAL_CODES = frozenset({REFUSED_CODE, "OutputImageRiskDetection", "ContentSecurityDetectionError",
                                  "SensitiveContentDetected", "SensitiveContentDetected.SevereViolation",
                                  "SensitiveContentDetected.Violence"})
INTERNAL_CODE = "InternalServiceError"
_REFUSED_MESSAGE = "The request failed because the output image may contain sensitive information."
_INTERNAL_MESSAGE = "The service encountered an unexpected internal error."


@dataclass(frozen=True)
class Produced:
    """One generated image, already encoded."""

    index: int
    width: int
    height: int
    data: bytes
    fmt: str  # "jpeg" | "png"

    @property
    def content_type(self) -> str:
        return f"image/{self.fmt}"


@dataclass(frozen=True)
class Failed:
    """One image that was not produced; ``internal`` failures stop the rest of the group."""

    index: int
    code: str
    message: str
    internal: bool = False


Outcome = Produced | Failed


def scripted_outcomes(prompt: str) -> tuple[dict[int, str], set[int]]:
    """The image indexes the prompt marks as refused (with their moderation code) and as failing internally."""
    refused: dict[int, str] = {}
    failing: set[int] = set()
    for kind, index, code in _MARKER.findall(prompt):
        if kind == "fail":
            failing.add(int(index))
        else:
            refused[int(index)] = code if code in OUTPUT_REFUSAL_CODES else REFUSED_CODE
    return refused, failing


async def produce(state: EmulatorState, job: ArkJob, *, provider: str) -> AsyncGenerator[Outcome, None]:
    """Each image's outcome in order, as the model would finish them; billed images count in
    ``state.generated[provider]``."""
    await state.wait_if_held()
    refused, failing = scripted_outcomes(job.prompt)
    # Like the real models, a request without a seed is a new draw: the same prompt gives another picture.
    draw = job.seed if job.seed is not None else state.config.fixed_draw
    draw = secrets.randbelow(2**31) if draw is None else draw
    for index in range(job.count):
        await state.image_latency()
        if index in failing:
            yield Failed(index, INTERNAL_CODE, _INTERNAL_MESSAGE, internal=True)
            return
        if index in refused:
            yield Failed(index, refused[index], _REFUSED_MESSAGE)
            continue
        # Rendering is CPU work: off the loop, so a held or slow request never stalls the others.
        data = await asyncio.to_thread(_render, job, draw, index)
        state.generated[provider] += 1
        yield Produced(index, job.width, job.height, data, job.output_format)


def _render(job: ArkJob, draw: int, index: int) -> bytes:
    key = job.prompt + "".join(ref.digest for ref in job.refs)
    data = render_image(key, draw, job.width, job.height, job.output_format, index=index)
    return add_watermark(data, job.output_format) if job.watermark else data


def add_watermark(data: bytes, fmt: str) -> bytes:
    """Ark's visible "AI生成" mark, bottom-right (drawn as "AI": the bundled font has no CJK glyphs)."""
    with Image.open(io.BytesIO(data)) as opened:
        img = opened.convert("RGB")
    draw = ImageDraw.Draw(img)
    height = max(12, min(img.width, img.height) // 16)
    font = ImageFont.load_default(size=height * 3 // 4)
    box = (img.width - height * 3 - height // 2, img.height - height - height // 2,
           img.width - height // 2, img.height - height // 2)
    draw.rectangle(box, fill=(32, 32, 32))
    draw.text((box[0] + height // 3, box[1] + height // 8), "AI", fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85) if fmt == "jpeg" else img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def whole_failure(outcomes: list[Outcome]) -> ArkError:
    """The top-level error when no image was produced: 500 if any internal failure, else moderation."""
    if any(isinstance(o, Failed) and o.internal for o in outcomes):
        return ArkError(500, INTERNAL_CODE, _INTERNAL_MESSAGE)
    return ArkError(400, REFUSED_CODE, _REFUSED_MESSAGE)


def image_item(state: EmulatorState, job: ArkJob, outcome: Outcome) -> dict[str, object]:
    """One ``data[]`` entry: the image (url or b64_json, size, 5.0 output_format) or its error."""
    if isinstance(outcome, Failed):
        return {"error": {"code": outcome.code, "message": outcome.message}}
    item: dict[str, object] = {}
    if job.response_format == "b64_json":
        item["b64_json"] = base64.b64encode(outcome.data).decode("ascii")
    else:
        item["url"] = state.publish(outcome.data, outcome.content_type)
    if job.model.reports_size:
        item["size"] = f"{outcome.width}x{outcome.height}"
    if job.model.v5:
        item["output_format"] = outcome.fmt
    return item


def usage(job: ArkJob, outcomes: list[Outcome]) -> dict[str, object]:
    """Billing: successful images only; tokens = Σ w·h / 256."""
    produced = [o for o in outcomes if isinstance(o, Produced)]
    tokens = sum(o.width * o.height for o in produced) // 256
    result: dict[str, object] = {"generated_images": len(produced), "output_tokens": tokens,
                                 "total_tokens": tokens}
    if job.model.v5:
        result["input_images"] = len(job.refs)
        if job.web_search:
            result["tool_usage"] = {"web_search": 1}
    return result


def response_body(state: EmulatorState, job: ArkJob, outcomes: list[Outcome]) -> dict[str, object]:
    """The non-streaming 200 body."""
    return {"model": job.model_name, "created": int(state.config.clock()),
            "data": [image_item(state, job, o) for o in outcomes], "usage": usage(job, outcomes)}


def image_event(state: EmulatorState, job: ArkJob, outcome: Outcome) -> tuple[str, dict[str, object]]:
    """The SSE event for one image: ``partial_succeeded`` or ``partial_failed``."""
    kind = "image_generation.partial_failed" if isinstance(outcome, Failed) else \
        "image_generation.partial_succeeded"
    event: dict[str, object] = {"type": kind, "model": job.model_name, "created": int(state.config.clock()),
                                "image_index": outcome.index}
    event.update(image_item(state, job, outcome))
    return kind, event


def completed_event(state: EmulatorState, job: ArkJob, outcomes: list[Outcome]) -> tuple[str, dict[str, object]]:
    kind = "image_generation.completed"
    return kind, {"type": kind, "model": job.model_name, "created": int(state.config.clock()),
                  "usage": usage(job, outcomes)}
