"""An OpenAI-compatible gateway serving Seedream: ``POST /v1/images/generations`` (the gateway document,
providers.md §4).

The gateway authenticates, normalises the model name, checks ``response_format``, fills its own defaults
(``stream`` false, ``watermark`` **false**, ``size`` 2K — 1024x1024 for 3.0-t2i), drops the fields it
ignores, rewrites ``n > 1`` into group mode when ``sequential_image_generation`` was not sent, and hands the
request to the same Ark implementation (``ark.serve_job``). Ark's own refusals come back in Ark's envelope
with ``"type": "upstream_error"``; the gateway's own errors carry OpenAI-style types.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from core.emulator.ark import check_bearer, read_json, serve_job, validation_context
from core.emulator.ark_errors import ArkError, new_request_id
from core.emulator.ark_validate import validate
from core.emulator.limits import AccountLimits
from core.emulator.state import EmulatorState

UPSTREAM_ERROR = "upstream_error"
_REQUEST_ERROR = "invalid_request_error"

# Public name -> the name the gateway reports (the gateway document's normalisation table).
NORMALISED = {
    "doubao-seedream-4.5": "seedream-4-5-251128", "doubao-seedream-4-5-251128": "seedream-4-5-251128",
    "seedream-4-5-251128": "seedream-4-5-251128",
    "doubao-seedream-4.0": "seedream-4-0-250828", "doubao-seedream-4-0-250828": "seedream-4-0-250828",
    "seedream-4-0-250828": "seedream-4-0-250828",
    "bytedance-seedream-5.0": "bytedance-seedream-5.0",
    "doubao-seedream-3-0-t2i-250415": "seedream-3-0-t2i-250415",
    "seedream-3-0-t2i-250415": "seedream-3-0-t2i-250415",
}
# Normalised name -> the Ark model the gateway calls upstream.
UPSTREAM_MODEL = {
    "seedream-4-5-251128": "doubao-seedream-4-5-251128",
    "seedream-4-0-250828": "doubao-seedream-4-0-250828",
    "bytedance-seedream-5.0": "doubao-seedream-5-0-260128",
    "seedream-3-0-t2i-250415": "doubao-seedream-3-0-t2i-250415",
}
IGNORED_FIELDS = ("quality", "style", "user", "output_format", "output_compression", "background", "moderation")
_DEFAULT_SIZE = {"seedream-3-0-t2i-250415": "1024x1024"}


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The gateway's image route, with its own account's concurrency cap."""
    limits = AccountLimits(state, "gateway", concurrency=lambda: state.config.gateway_concurrency,
                           concurrency_error=_busy)

    async def generations(request: Request) -> ASGIApp:
        return await handle(state, request, limits=limits)

    return [Route("/v1/images/generations", generations, methods=["POST"])]


async def handle(state: EmulatorState, request: Request, *, limits: AccountLimits) -> ASGIApp:
    """One gateway request: its own checks and rewrite, then Ark's validation and generation."""
    state.requests["gateway"] += 1
    request_id = new_request_id(state.config.clock())
    try:
        check_bearer(request, state.config.gateway_api_keys, error=_unauthorised)
        body, public_name = rewrite(await read_json(request))
    except ArkError as error:
        return error.response(request_id, type_override=_REQUEST_ERROR)
    try:
        job = validate(body, validation_context(state))
    except ArkError as error:
        return error.response(request_id, type_override=UPSTREAM_ERROR)
    job = replace(job, model_name=public_name)
    return await serve_job(state, job, provider="gateway", limits=limits, request_id=request_id,
                           error_type=UPSTREAM_ERROR)


def rewrite(raw: object) -> tuple[dict[str, object], str]:
    """The Ark body the gateway sends upstream, and the normalised model name it reports.

    Raises:
        ArkError: the gateway's own 400 / 404.
    """
    if not isinstance(raw, dict):
        raise _bad("", "the request body must be a JSON object")
    body = {k: v for k, v in raw.items() if v is not None and k not in IGNORED_FIELDS}
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise _bad("model", "you must provide a model parameter", code="missing_required_parameter")
    public_name = NORMALISED.get(name)
    if public_name is None:
        raise ArkError(404, "model_not_found", f"The model {name} does not exist or is not a Seedream model "
                       "served by this gateway.", param="model", type=_REQUEST_ERROR)
    if body.get("response_format", "url") not in ("url", "b64_json"):
        raise _bad("response_format", "response_format must be url or b64_json")
    n = body.pop("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _bad("n", "n must be an integer of at least 1")
    body["model"] = UPSTREAM_MODEL[public_name]
    body.setdefault("stream", False)
    body.setdefault("watermark", False)
    body.setdefault("size", _DEFAULT_SIZE.get(public_name, "2K"))
    if n > 1 and "sequential_image_generation" not in body:
        body["sequential_image_generation"] = "auto"
        body["sequential_image_generation_options"] = {"max_images": n}
    return body, public_name


def _bad(param: str, message: str, *, code: str = "invalid_parameter") -> ArkError:
    return ArkError(400, code, message, param=param, type=_REQUEST_ERROR)


def _unauthorised() -> ArkError:
    return ArkError(401, "invalid_api_key", "Invalid API key provided.", type="authentication_error")


def _busy() -> ArkError:
    return ArkError(429, "rate_limit_exceeded", "Too many concurrent requests for this API key; retry shortly.",
                    type="rate_limit_error", headers={"Retry-After": "1"})
