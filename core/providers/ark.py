"""Volcengine Ark images API (``POST {base}/images/generations``): Seedream 3.0 / 4.0 / 4.5 / 5.0, SeedEdit 3.0.

Also the base of the OpenAI-compatible gateway adapter, which speaks the same response shapes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import httpx2

from core.errors import (
    AuthenticationError,
    ContentRejectedError,
    FailureKind,
    PermissionDeniedError,
    ProviderError,
    ProviderQuotaError,
    ProviderResponseError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
)
from core.http import HttpClient, parse_retry_after, rate_limited, translate_transport_error
from core.modelspec import (
    ARK_1K,
    ARK_2K,
    ARK_3K,
    ARK_4K,
    MODEL_ALIASES,
    PRO_1K,
    PRO_2K,
    PRO_15K,
    ModelSpec,
    SizeRules,
    tier_table,
)
from core.providers.base import ImagePayload, ProviderItem
from core.providers.spec import ProviderConfig, ProviderSpec
from core.results import ImageFailure, Usage

if TYPE_CHECKING:
    from core.requests import Plan

log = logging.getLogger(__name__)

_CONTENT_CODES = re.compile(r"^(Input|Output)(Text|Image)(SensitiveContentDetected|RiskDetection)|"
                            r"^SensitiveContentDetected|^ContentSecurityDetectionError")
_NOT_TRANSIENT_429 = ("QuotaExceeded", "SetLimitExceeded")
_MAX_SSE_EVENT = 64 * 1024 * 1024  # a b64_json 4K PNG is tens of MB


class ArkProvider:
    """Ark images API. ``api_key`` is sent as a Bearer token and nowhere else."""

    name = "ark"
    label = "Volcengine Ark"
    key_variable = "ARK_API_KEY"
    path = "/images/generations"

    def __init__(self, *, http: HttpClient, base_url: str, api_key: str, byteplus: bool | None = None) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + self.path
        self._api_key = api_key
        # BytePlus (international) model ids drop the "doubao-" prefix.
        self._byteplus = "bytepluses.com" in base_url if byteplus is None else byteplus

    async def generate(self, plan: Plan) -> AsyncIterator[ProviderItem]:
        """Send the plan; yield images (streamed when the plan says so) and finally the usage."""
        body = self.build_body(plan)
        headers = {"Authorization": f"Bearer {self._api_key}"}
        async with self._http.stream("POST", self._url, provider=self.name, classify=self.classify, json=body,
                                     headers=headers) as response:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                async for item in self._parse_stream(response, plan):
                    yield item
                return
            try:
                await response.aread()
            except httpx2.HTTPError as exc:
                raise translate_transport_error(exc, self.name) from None
        for item in self._parse_json(response, plan):
            yield item

    # -- request mapping --------------------------------------------------------------------------------

    def model_id(self, plan: Plan) -> str:
        wire = plan.model.wire_name
        return wire.removeprefix("doubao-") if self._byteplus else wire

    def build_body(self, plan: Plan) -> dict[str, Any]:
        """The JSON body for ``plan``: only parameters the model accepts, ``watermark`` always explicit."""
        spec, request = plan.model, plan.request
        body: dict[str, Any] = {
            "model": self.model_id(plan),
            "prompt": request.prompt,
            "response_format": request.response_format,
            "size": wire_size(plan),
            "watermark": request.watermark,
        }
        if plan.references:
            wires = [r.wire for r in plan.references]
            body["image"] = wires[0] if len(wires) == 1 else wires
        if spec.seed and plan.seed is not None:
            body["seed"] = plan.seed
        if spec.guidance is not None and plan.guidance is not None:
            body["guidance_scale"] = plan.guidance
        body.update(self.group_fields(plan))
        if spec.stream:
            body["stream"] = plan.stream
        if len(spec.output_formats) > 1:
            body["output_format"] = plan.output_format
        if request.web_search:
            body["tools"] = [{"type": "web_search"}]
        if request.prompt_mode:
            body["optimize_prompt_options"] = {"mode": request.prompt_mode}
        return body

    def group_fields(self, plan: Plan) -> dict[str, Any]:
        """Group ("组图") mode for a series; explicitly off for a single image of a model that has it."""
        if not plan.model.group:
            return {}
        if plan.series <= 1:
            return {"sequential_image_generation": "disabled"}
        return {"sequential_image_generation": "auto",
                "sequential_image_generation_options": {"max_images": plan.series}}

    # -- response parsing -------------------------------------------------------------------------------

    def _parse_json(self, response: httpx2.Response, plan: Plan) -> list[ProviderItem]:
        payload = _json_or_error(response, self.label, self.name)
        items: list[ProviderItem] = []
        data = payload.get("data")
        if not isinstance(data, list):
            raise ProviderResponseError(f"{self.label} answered without a data list; try again",
                                        provider=self.name, status=response.status_code)
        for index, entry in enumerate(data):
            items.append(self._item(index, entry, plan))
        items.append(_usage(payload.get("usage")))
        return items

    async def _parse_stream(self, response: httpx2.Response, plan: Plan) -> AsyncIterator[ProviderItem]:
        completed = False
        try:
            async for event in httpx2.EventSource(response, max_event_size=_MAX_SSE_EVENT):
                if event.data.strip() == "[DONE]":
                    continue  # read on to the end of the body: the connection then goes back to the pool
                frame = _event_json(event.data, self.label, self.name)
                if "error" in frame and "type" not in frame:
                    raise self.error_from_body(frame, status=None, response=response)
                kind = frame.get("type") or event.event
                if kind == "image_generation.partial_succeeded" or kind == "image_generation.partial_failed":
                    yield self._item(int(frame.get("image_index", 0)), frame, plan)
                elif kind == "image_generation.completed":
                    completed = True
                    yield _usage(frame.get("usage"))
                else:
                    log.debug("%s: ignoring stream event %r", self.name, kind)
        except httpx2.HTTPError as exc:
            raise translate_transport_error(exc, self.name) from None
        if not completed:
            raise ProviderResponseError(f"{self.label}'s stream ended before it completed; the images received "
                                        "so far are saved — try again for the rest", provider=self.name)

    def _item(self, index: int, entry: Any, plan: Plan) -> ProviderItem:
        if not isinstance(entry, dict):
            raise ProviderResponseError(f"{self.label} sent an unreadable image entry", provider=self.name)
        if isinstance(entry.get("error"), dict):
            error = entry["error"]
            code = str(error.get("code") or "Unknown")
            detail = (_clean_message(error.get("message")) or "no reason given").rstrip(".")
            # Shown to the user as it is: who refused this image, why, and what to do.
            kind = image_failure_kind(code)
            if kind is FailureKind.CONTENT_REJECTED:
                message = f"{self.label} refused this image ({code}): {detail}. Rephrase the prompt to get it."
            else:
                message = f"{self.label} could not make this image ({code}): {detail}. Try again for it."
            return ImageFailure(index=index, code=code, message=message, kind=kind)
        url, b64 = entry.get("url"), entry.get("b64_json")
        if not (isinstance(url, str) and url) and not (isinstance(b64, str) and b64):
            raise ProviderResponseError(f"{self.label} sent an image entry with neither url nor b64_json",
                                        provider=self.name)
        return ImagePayload(index=index, url=url or None, b64=b64 or None, size=entry.get("size"), seed=plan.seed)

    # -- errors -----------------------------------------------------------------------------------------

    def classify(self, response: httpx2.Response) -> ProviderError | None:
        """Map an Ark answer to an error (or ``None`` for a success) per providers.md §1.5."""
        if response.status_code < 400:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        return self.error_from_body(body if isinstance(body, dict) else {}, status=response.status_code,
                                    response=response)

    def error_from_body(self, body: dict[str, Any], *, status: int | None,
                        response: httpx2.Response) -> ProviderError:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(error.get("code") or "")
        message = _clean_message(error.get("message"))
        request_id = response.headers.get("x-request-id") or _request_id(error.get("message"))
        where = f"{self.label} ({code or status})"
        common = dict(provider=self.name, status=status, code=code or None, request_id=request_id)
        if _CONTENT_CODES.match(code):
            return ContentRejectedError(f"{self.label} refused the content ({code}): {message}. Rephrase the "
                                        "prompt or use other reference images.", **common)
        if status == 401 or code == "AuthenticationError":
            return AuthenticationError(f"{where}: the API key was refused; check {self.key_variable}", **common)
        if status == 403:
            return PermissionDeniedError(f"{where}: the account may not do this ({message}); check the account "
                                         "status and that the service is enabled in the console", **common)
        if status == 404:
            return PermissionDeniedError(f"{where}: the model is not available to this account ({message}); "
                                         "enable it in the console or choose another model", **common)
        if status == 429 and code.startswith(_NOT_TRANSIENT_429):
            return ProviderQuotaError(f"{where}: the account's quota or spending limit is reached ({message}); "
                                      "raise it in the console", **common)
        if status == 429 and code == "InflightBatchsizeExceeded":
            return RateLimitedError(f"{where}: too many requests in flight for this account ({message}); lower "
                                    f"SEEDREAM_{self.name.upper()}_CONCURRENCY to the account's limit",
                                    retryable=False, **common)
        if status == 429:
            return rate_limited(self.name, response, f"{where}: rate limited ({message}); retrying later helps",
                                code=code or None, request_id=request_id)
        if status is None or status >= 500:
            return ProviderUnavailableError(f"{where}: the service failed ({message or 'no detail'}); try again "
                                            "in a moment", retry_after=parse_retry_after(
                                                response.headers.get("retry-after")), **common)
        if status is not None and 400 <= status < 500:
            return RequestRejectedError(f"{where}: the request was refused ({message}); check the parameters",
                                        **common)
        return ProviderError(f"{where}: the request was refused ({message}); check the parameters", **common)


def image_failure_kind(code: str) -> FailureKind:
    """The kind of one image's failure inside a group, from its Ark error code."""
    if _CONTENT_CODES.match(code):
        return FailureKind.CONTENT_REJECTED
    if code.startswith("InternalServiceError"):
        return FailureKind.UNAVAILABLE
    return FailureKind.PROVIDER_ERROR


def wire_size(plan: Plan) -> str:
    """``WxH`` when the dimensions are known, else the tier, else ``adaptive``."""
    return plan.size.wxh or plan.size.tier or "adaptive"


def _usage(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    return Usage(generated_images=int(raw.get("generated_images") or 0),
                 output_tokens=int(raw.get("output_tokens") or 0), total_tokens=int(raw.get("total_tokens") or 0))


def _json_or_error(response: httpx2.Response, label: str, name: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ProviderResponseError(f"{label} sent an answer that is not JSON; try again", provider=name,
                                    status=response.status_code)
    return payload


def _event_json(data: str, label: str, name: str) -> dict[str, Any]:
    try:
        frame = json.loads(data)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        raise ProviderResponseError(f"{label} sent an unreadable stream event", provider=name)
    return frame


def _request_id(message: Any) -> str | None:
    match = re.search(r"Request id:\s*([\w-]+)", message or "")
    return match.group(1) if match else None


def _clean_message(message: Any, limit: int = 300) -> str:
    text = re.sub(r"\s*Request id:\s*[\w-]+\s*$", "", str(message or "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- what Ark serves (providers.md §1.2) ------------------------------------------------------------------------

_WIDE = dict(min_pixels=921_600, max_pixels=16_777_216)
_BIG = dict(min_pixels=3_686_400, max_pixels=16_777_216)
_GROUP = dict(max_outputs=15, stream=True, text_to_image=True)

MODELS: tuple[ModelSpec, ...] = tuple(replace(spec, aliases=MODEL_ALIASES[spec.key]) for spec in (
    ModelSpec("seedream-5.0-pro", "ark", "doubao-seedream-5-0-pro-260628", "Seedream 5.0 pro",
              SizeRules(tier_table({"1K": PRO_1K, "1.5K": PRO_15K, "2K": PRO_2K}), "2K",
                        min_pixels=921_600, max_pixels=4_624_220),
              max_references=10, output_formats=("jpeg", "png"),
              notes="highest quality single images; no group, no streaming"),
    ModelSpec("seedream-5.0-lite", "ark", "doubao-seedream-5-0-260128", "Seedream 5.0 lite",
              SizeRules(tier_table({"2K": ARK_2K, "3K": ARK_3K, "4K": ARK_4K}), "2K", **_BIG),
              max_references=14, output_formats=("jpeg", "png"), web_search=True, **_GROUP),
    ModelSpec("seedream-4.5", "ark", "doubao-seedream-4-5-251128", "Seedream 4.5",
              SizeRules(tier_table({"2K": ARK_2K, "4K": ARK_4K}), "2K", **_BIG),
              max_references=14, **_GROUP),
    ModelSpec("seedream-4.0", "ark", "doubao-seedream-4-0-250828", "Seedream 4.0",
              SizeRules(tier_table({"1K": ARK_1K, "2K": ARK_2K, "4K": ARK_4K}), "2K", **_WIDE),
              max_references=14, prompt_modes=("standard", "fast"), **_GROUP),
    ModelSpec("seedream-3.0", "ark", "doubao-seedream-3-0-t2i-250415", "Seedream 3.0 text-to-image",
              SizeRules(tier_table({"1K": ARK_1K}), "1024x1024", send_tier=False,
                        min_pixels=512 * 512, max_pixels=2048 * 2048),
              seed=True, guidance=(1.0, 10.0, 2.5), notes="text only; seed and guidance supported"),
    ModelSpec("seededit-3.0", "ark", "doubao-seededit-3-0-i2i-250628", "SeedEdit 3.0 image editing",
              SizeRules(MappingProxyType({}), "adaptive", custom=False, adaptive=True),
              text_to_image=False, min_references=1, max_references=1, seed=True,
              guidance=(1.0, 10.0, 5.5), notes="edits exactly one reference image"),
))


def _build(config: ProviderConfig, http: HttpClient) -> ArkProvider:
    return ArkProvider(http=http, base_url=config.base_url, api_key=config.credentials[0])


SPEC = ProviderSpec(
    kind="ark", title="Volcengine Ark", credentials=("ARK_API_KEY",),
    base_url="https://ark.cn-beijing.volces.com/api/v3", models=MODELS, default_model="seedream-4.0",
    edit_model="seedream-4.0", build=_build, concurrency=4, images_per_minute=500, sandbox_path="/api/v3",
    emulator="core.emulator.ark:routes",
)
