"""New requests from old jobs: a reroll, an edit of one result (layer 1, pure: no discord.py).

Everything comes from the job record, so a button pressed long after (or after a restart) rebuilds the same
request. ``edit_request`` reads the image file: callers on the event loop run it in a thread.
"""

from __future__ import annotations

import base64

from bots.discord.imaging import fit_image
from core.catalog import find_model
from core.jobs import JobRecord
from core.requests import GenerateRequest
from core.results import GeneratedImage


def reroll_request(job: JobRecord) -> GenerateRequest:
    """The job's request again (same provider and model), with a fresh seed where the model takes one."""
    request = GenerateRequest.create(**job.request)
    update: dict[str, object] = {"provider": job.provider, "model": job.model}
    if find_model(job.provider, job.model).seed:
        update["seed"] = None
    return request.model_copy(update=update)


def edit_request(job: JobRecord, image: GeneratedImage, prompt: str) -> GenerateRequest:
    """A single-reference edit of one of the job's images (its model if it takes references, else the default
    editing model of the provider)."""
    spec = find_model(job.provider, job.model)
    model = spec.key if spec.max_references >= 1 else None
    rules = find_model(job.provider, model, editing=True).references
    data = image.path.read_bytes()
    fmt = image.format
    if len(data) > rules.max_bytes or fmt not in rules.formats:
        fitted = fit_image(data, limit=rules.max_bytes, width=image.width, height=image.height, fmt=fmt)
        data, fmt = fitted.data, fitted.format
    uri = f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"
    return GenerateRequest.create(
        prompt=prompt,
        provider=job.provider,
        model=model,
        images=(uri,),
        watermark=bool(job.request.get("watermark", False)),
    )
