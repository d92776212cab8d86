"""New requests from old jobs: reroll, remix, edit (use as reference), vary, re-render at 4K (layer 1, pure: no
discord.py).

Everything comes from the job record, so a button pressed long after (or after a restart) rebuilds the same
request. Requests made from one of a job's images keep that image's shape: the closest documented aspect ratio
and size tier of the model that will make them are asked for explicitly (``bots.discord.shape``). The functions
that read an image file are CPU/disk work: callers on the event loop run them in a thread.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from bots.discord.imaging import fit_image
from bots.discord.shape import keep_shape
from core.catalog import ModelSpec, find_model
from core.errors import InvalidRequestError
from core.jobs import JobRecord
from core.requests import MAX_PROMPT_CHARS, GenerateRequest
from core.results import GeneratedImage

RERENDER_TIER = "4K"
SUBTLE_MODEL = "seededit-3.0"  # the provider's dedicated editing model, when it serves it
_SERIES = re.compile(r"^\s*series\s*(?:of\s*)?(\d{1,2})\s*$", re.IGNORECASE)


def shown_prompt(job: JobRecord) -> str:
    """The prompt people saw for a job: what they typed, not the instruction a variation sent the model."""
    return str(job.extra.get("discord_shown_prompt") or job.prompt)


def reroll_request(job: JobRecord) -> GenerateRequest:
    """The job's request again (same provider and model), with a fresh seed where the model takes one."""
    request = GenerateRequest.create(**job.request)
    update: dict[str, object] = {"provider": job.provider, "model": job.model}
    if find_model(job.provider, job.model).seed:
        update["seed"] = None
    return request.model_copy(update=update)


def editing_model(job: JobRecord) -> ModelSpec:
    """The job's model if it takes a reference image, else the provider's default editing model."""
    return _editing_model(job.provider, job.model)


def _editing_model(provider: str, model: str) -> ModelSpec:
    spec = find_model(provider, model)
    return spec if spec.max_references >= 1 else find_model(provider, None, editing=True)


def edit_request(
    job: JobRecord,
    image: GeneratedImage,
    prompt: str,
    *,
    size: str | None = None,
    aspect_ratio: str | None = None,
) -> GenerateRequest:
    """An edit with one of the job's images as the reference, in that image's shape unless asked otherwise."""
    return _from_image(job, image, prompt, editing_model(job), size=size, aspect_ratio=aspect_ratio)


def vary_request(job: JobRecord, image: GeneratedImage, *, strong: bool) -> GenerateRequest:
    """A variation of one image: subtle (the provider's SeedEdit where it serves it: same composition, small
    changes) or strong (the job's model with the image as reference and the prompt again: a new take)."""
    if strong:
        prompt = _instructed("A new variation of this image, same subject and style, freely recomposed: ", job)
        spec = editing_model(job)
        if not spec.text_to_image:  # a pure editor (SeedEdit) changes little: a new take needs a Seedream model
            spec = find_model(job.provider, None, editing=True)
        return _from_image(job, image, prompt, spec)
    try:
        model = find_model(job.provider, SUBTLE_MODEL, editing=True)
    except InvalidRequestError:
        model = editing_model(job)
    prompt = _instructed("A subtle variation of this image: keep the composition, change small details. ", job)
    return _from_image(job, image, prompt, model)


def rerender_model(provider: str, model: str) -> ModelSpec | None:
    """The model that can re-render an image made by ``model`` at 4K (taking it as reference), if any."""
    for spec in (_editing_model(provider, model), find_model(provider, None, editing=True)):
        if RERENDER_TIER in spec.sizes.tiers and spec.max_references >= 1:
            return spec
    return None


def rerender_request(job: JobRecord, image: GeneratedImage) -> GenerateRequest:
    """The image again at the 4K tier, in its shape (image-to-image: a new rendering, not an upscaler).

    Raises:
        InvalidRequestError: no model of the job's provider makes 4K images from a reference.
    """
    spec = rerender_model(job.provider, job.model)
    if spec is None:
        raise InvalidRequestError("size", RERENDER_TIER, f"no model of {job.provider} re-renders at 4K")
    prompt = _instructed("Re-render this image in full detail at high resolution, same content and composition: ", job)
    return _from_image(job, image, prompt, spec, size=RERENDER_TIER)


@dataclass(frozen=True)
class RemixValues:
    """What the remix form holds (text, as typed)."""

    prompt: str
    model: str = ""
    size: str = ""
    aspect_ratio: str = ""
    images: str = ""  # "4" (independent images) or "series 4"


def remix_values(job: JobRecord) -> RemixValues:
    """The form prefilled from the job: its prompt and the options it was asked with."""
    asked = job.request
    series = asked.get("series")
    images = f"series {series}" if series else str(asked.get("count") or 1)
    return RemixValues(
        prompt=shown_prompt(job),
        model=job.model,
        size=str(asked.get("size") or ""),
        aspect_ratio=str(asked.get("aspect_ratio") or ""),
        images=images,
    )


def remix_request(job: JobRecord, values: RemixValues) -> GenerateRequest:
    """The job's request with what the form changed (references and other options kept).

    Raises:
        InvalidRequestError: the images field is neither a number nor "series N".
    """
    count, series = _images(values.images)
    request = GenerateRequest.create(**job.request)
    return request.model_copy(
        update={
            "prompt": values.prompt.strip(),
            "provider": job.provider,
            "model": values.model.strip() or job.model,
            "size": values.size.strip() or None,
            "aspect_ratio": values.aspect_ratio.strip() or None,
            "count": count,
            "series": series,
            "seed": None if find_model(job.provider, job.model).seed else request.seed,
        }
    )


def _images(text: str) -> tuple[int, int | None]:
    text = text.strip()
    if not text:
        return 1, None
    if text.isdigit():
        return int(text), None
    if match := _SERIES.match(text):
        return 1, int(match.group(1))
    raise InvalidRequestError("images", text, 'a number of independent images (e.g. 4), or "series 4"')


def _instructed(instruction: str, job: JobRecord) -> str:
    return instruction + shown_prompt(job)[: MAX_PROMPT_CHARS - len(instruction)]


def _from_image(
    job: JobRecord,
    image: GeneratedImage,
    prompt: str,
    spec: ModelSpec,
    *,
    size: str | None = None,
    aspect_ratio: str | None = None,
) -> GenerateRequest:
    size, aspect_ratio = keep_shape(spec.sizes, image.width, image.height, size=size, aspect_ratio=aspect_ratio)
    return GenerateRequest.create(
        prompt=prompt,
        provider=job.provider,
        model=spec.key,
        size=size,
        aspect_ratio=aspect_ratio,
        images=(reference_uri(image, spec),),
        watermark=bool(job.request.get("watermark", False)),
    )


def reference_uri(image: GeneratedImage, spec: ModelSpec) -> str:
    """A saved image as a data URI the model accepts (re-encoded when too large or of another format)."""
    rules = spec.references
    data, fmt = image.path.read_bytes(), image.format
    if len(data) > rules.max_bytes or fmt not in rules.formats:
        fitted = fit_image(data, limit=rules.max_bytes, width=image.width, height=image.height, fmt=fmt)
        data, fmt = fitted.data, fitted.format
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"
