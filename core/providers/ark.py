"""Volcengine Ark images API (``POST {base}/images/generations``): Seedream 3.0 / 4.0 / 4.5 / 5.0, SeedEdit 3.0.

Also the base of the OpenAI-compatible gateway adapter, which speaks the same response shapes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from core.errors import (
    AuthenticationError,
    ContentRejectedError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
    QuotaExceededError,
    SeedreamError,
)
from core.http import HttpClient, parse_retry_after, rate_limited, translate_transport_error
from core.providers.base import ImagePayload, ProviderItem
from core.requests import Plan
from core.results import ImageFailure, Usage

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
        if not plan.model.group:
            return {}
        if plan.count == 1:
            return {"sequential_image_generation": "disabled"}
        return {"sequential_image_generation": "auto",
                "sequential_image_generation_options": {"max_images": plan.count}}

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
            if _CONTENT_CODES.match(code):
                message = f"{self.label} refused this image ({code}): {detail}. Rephrase the prompt to get it."
            else:
                message = f"{self.label} could not make this image ({code}): {detail}. Try again for it."
            return ImageFailure(index=index, code=code, message=message)
        url, b64 = entry.get("url"), entry.get("b64_json")
        if not (isinstance(url, str) and url) and not (isinstance(b64, str) and b64):
            raise ProviderResponseError(f"{self.label} sent an image entry with neither url nor b64_json",
                                        provider=self.name)
        return ImagePayload(index=index, url=url or None, b64=b64 or None, size=entry.get("size"), seed=plan.seed)

    # -- errors -----------------------------------------------------------------------------------------

    def classify(self, response: httpx2.Response) -> SeedreamError | None:
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
                        response: httpx2.Response) -> SeedreamError:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(error.get("code") or "")
        message = _clean_message(error.get("message"))
        request_id = response.headers.get("x-request-id") or _request_id(error.get("message"))
        where = f"{self.label} ({code or status})"
        common = dict(provider=self.name, status=status, code=code or None, request_id=request_id)
        if _CONTENT_CODES.match(code):
            return ContentRejectedError(f"{self.label} refused the content ({code}): {message}. Rephrase the "
                                        "prompt or use other reference images.", provider=self.name, code=code,
                                        request_id=request_id)
        if status == 401 or code == "AuthenticationError":
            return AuthenticationError(f"{where}: the API key was refused; check {self.key_variable}", **common)
        if status == 403:
            return AuthenticationError(f"{where}: the account may not do this ({message}); check the account "
                                       "status and that the service is enabled in the console", **common)
        if status == 404:
            return ProviderError(f"{where}: the model is not available to this account ({message}); enable it "
                                 "in the console or choose another model", **common)
        if status == 429 and code.startswith(_NOT_TRANSIENT_429):
            return QuotaExceededError(f"{where}: the account's quota or spending limit is reached ({message}); "
                                      "raise it in the console", provider=self.name)
        if status == 429 and code == "InflightBatchsizeExceeded":
            return ProviderError(f"{where}: too many requests in flight for this account ({message}); lower "
                                 f"SEEDREAM_{self.name.upper()}_CONCURRENCY to the account's limit", **common)
        if status == 429:
            return rate_limited(self.name, response, f"{where}: rate limited ({message}); retrying later helps",
                                code=code or None, request_id=request_id)
        if status is None or status >= 500:
            return ProviderUnavailableError(f"{where}: the service failed ({message or 'no detail'}); try again "
                                            "in a moment", retry_after=parse_retry_after(
                                                response.headers.get("retry-after")), **common)
        return ProviderError(f"{where}: the request was refused ({message}); check the parameters", **common)


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
