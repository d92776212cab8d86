"""Volcengine Visual ``CVProcess`` — Seedream 3.0 general (``high_aes_general_v30l_zt2i``), one image per call.

``POST {base}/?Action=CVProcess&Version=2022-08-31`` with a JSON body signed with Volcengine V4 (fresh
``X-Date`` on every attempt). Facts: ``shared/reference/providers.md`` §2.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import httpx2

from core.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentRejectedError,
    FailureKind,
    PermissionDeniedError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
    RequestRejectedError,
    SeedreamError,
)
from core.http import HttpClient, rate_limited
from core.modelspec import MODEL_ALIASES, VISUAL_13K, ModelSpec, SizeRules, tier_table
from core.providers.base import ImagePayload, ProviderItem
from core.providers.signing import sign_request
from core.providers.spec import ProviderConfig, ProviderSpec
from core.results import Usage

if TYPE_CHECKING:
    from core.requests import Plan

TITLE = "Volcengine Visual"
DEFAULT_BASE_URL = "https://visual.volcengineapi.com"
ACTION_QUERY = "?Action=CVProcess&Version=2022-08-31"
REQ_KEY = "high_aes_general_v30l_zt2i"
DEFAULT_SIDE = 1328  # the service's default width/height
DEFAULT_SCALE = 2.5
_KEY_VARS = ("VOLC_ACCESSKEY", "VOLC_SECRETKEY")

# Moderation codes: retrying the same input will not help (the Visual document's table says "no retry").
_CONTENT_CODES = {
    50411: "refused an input image (image moderation); use another image",
    50412: "refused the prompt (text moderation); rephrase it",
    50413: "found sensitive or copyrighted words in the prompt; rephrase it",
    50512: "refused the text generated from the prompt (moderation); rephrase the prompt",
}
_RATE_CODES = {
    50429: "hit the account's request-rate (QPS) limit",
    50430: "hit the account's concurrency limit (free tier 1, paid tier 2; more can be bought)",
}
_AUTH_CODES = {"SignatureDoesNotMatch", "InvalidAccessKey", "InvalidAccessKeyId", "MissingAuthenticationToken",
               "MissingSignature", "InvalidAuthorization", "InvalidCredential", "MissingRequestInfo"}
_DENIED_CODES = {"AccessDenied", "LackPolicy", "ServiceNotOpen", "InvalidAccountStatus"}


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class OutputRefusedError(ProviderError):
    """50511: the *generated* image failed the post-audit. Retryable per the doc: a new draw (random seed)
    may pass, and since only successful calls are billed a retry cannot charge twice. Turned into a
    ``ContentRejectedError`` when the retries run out, so it never leaves this module."""

    kind = FailureKind.CONTENT_REJECTED


class VisualProvider:
    """The Volcengine Visual (CVProcess) adapter. Build one per process and share it."""

    name = "visual"

    def __init__(self, *, http: HttpClient, access_key: str | _Secret, secret_key: str | _Secret,
                 base_url: str = DEFAULT_BASE_URL, region: str = "cn-north-1", service: str = "cv",
                 clock: Callable[[], datetime] | None = None) -> None:
        """``clock`` gives the signing time (UTC now by default).

        Raises:
            ConfigurationError: a key is missing (names ``VOLC_ACCESSKEY`` / ``VOLC_SECRETKEY``).
        """
        self._http = http
        self._access_key = _reveal(access_key)
        self._secret_key = _reveal(secret_key)
        if not self._access_key or not self._secret_key:
            raise ConfigurationError(f"{TITLE} needs an access key pair: set VOLC_ACCESSKEY and VOLC_SECRETKEY "
                                     "(or try --provider sandbox)", variables=_KEY_VARS)
        self._url = base_url.rstrip("/") + "/" + ACTION_QUERY
        self._region = region
        self._service = service
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:  # never show the keys
        return f"VisualProvider(url={self._url!r}, region={self._region!r})"

    async def generate(self, plan: Plan) -> AsyncIterator[ProviderItem]:
        """Yield the one image, then its usage.

        Raises:
            ContentRejectedError: moderation refused the prompt or the output.
            ProviderError: authentication, rate limits after retries, outages, unreadable answers.
        """
        body = build_body(plan)
        random_seed = body["seed"] == -1
        classify = partial(classify_response, retry_output_refusal=random_seed)
        try:
            response = await self._http.send("POST", self._url, provider=self.name, classify=classify,
                                             json=body, headers=self._sign)
        except OutputRefusedError as exc:
            hint = "rephrase the prompt" + ("" if random_seed else " or try another seed")
            raise ContentRejectedError(f"{TITLE}: the generated image failed moderation (code 50511); {hint}",
                                       provider=self.name, code="50511", request_id=exc.request_id) from None
        url, b64 = parse_image(response, want_url=body["return_url"])
        yield ImagePayload(index=0, url=url, b64=b64, size=f"{body['width']}x{body['height']}",
                           seed=None if random_seed else body["seed"])
        yield Usage(generated_images=1)

    def _sign(self, body: bytes) -> dict[str, str]:
        """Headers for one attempt: signed now, so a retry after a long back-off is not a stale X-Date."""
        headers = {"Content-Type": "application/json"}
        signed = sign_request(method="POST", url=self._url, headers=headers, body=body,
                              access_key=self._access_key, secret_key=self._secret_key, region=self._region,
                              service=self._service, now=self._clock())
        return {**headers, **signed}


def build_body(plan: Plan) -> dict[str, Any]:
    """The CVProcess JSON body for ``plan``; every default the service has is sent explicitly."""
    scale_default = plan.model.guidance[2] if plan.model.guidance else DEFAULT_SCALE
    return {
        "req_key": plan.model.wire_name or REQ_KEY,
        "prompt": plan.request.prompt,
        "use_pre_llm": False,
        "seed": -1 if plan.seed is None else plan.seed,
        "scale": plan.guidance if plan.guidance is not None else scale_default,
        "width": plan.size.width or DEFAULT_SIDE,
        "height": plan.size.height or DEFAULT_SIDE,
        "return_url": plan.request.response_format == "url",
        "logo_info": {"add_logo": plan.request.watermark, "position": 0, "language": 0, "opacity": 0.3},
    }


def classify_response(response: httpx2.Response, *, retry_output_refusal: bool = True) -> SeedreamError | None:
    """The error a CVProcess answer means, or ``None`` for a success (``code`` 10000)."""
    body = _json_object(response)
    if body is None:
        return _unreadable(response)
    meta = body.get("ResponseMetadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("Error"), Mapping):
        return _gateway_error(response, meta)
    code = _int_or_none(body.get("code"))
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    if code == 10000 and response.status_code < 400:
        return None
    if code is None:
        return _unreadable(response)
    return _business_error(response, code, request_id, str(body.get("message") or ""), retry_output_refusal)


def _business_error(response: httpx2.Response, code: int, request_id: str | None, message: str,
                    retry_output_refusal: bool) -> SeedreamError:
    status = response.status_code
    common: dict[str, Any] = {"provider": "visual", "status": status, "code": str(code), "request_id": request_id}
    if code in _CONTENT_CODES:
        return ContentRejectedError(f"{TITLE} {_CONTENT_CODES[code]} (code {code})", **common)
    if code == 50511:
        return OutputRefusedError(f"{TITLE}: the generated image failed moderation (code 50511)",
                                  retryable=retry_output_refusal, **common)
    if code in _RATE_CODES:
        return rate_limited("visual", response, f"{TITLE} {_RATE_CODES[code]} (code {code}); try again shortly",
                            code=str(code), request_id=request_id)
    if code in (50400, 50204):  # seen live as "Access Denied": the account may not call this req_key
        return PermissionDeniedError(f"{TITLE} denied access to Seedream 3.0 (code {code}); enable the "
                                     "text-to-image service for this account in the Volcengine Visual console",
                                     **common)
    if status >= 500 or code in (50500, 50501):
        return ProviderUnavailableError(f"{TITLE} had an internal error (code {code}); try again later",
                                        **common)
    detail = message[:120].strip() or "no reason given"
    return RequestRejectedError(f"{TITLE} refused the request (code {code}: {detail}); check the size, seed "
                                "and guidance", retryable=False, **common)


def _gateway_error(response: httpx2.Response, meta: Mapping[str, Any]) -> ProviderError:
    """The OpenAPI gateway's envelope. Its message is not repeated: it may quote the access key."""
    error = meta["Error"]
    name = str(error.get("Code") or "unknown")
    status = response.status_code
    request_id = meta.get("RequestId") if isinstance(meta.get("RequestId"), str) else None
    common: dict[str, Any] = {"provider": "visual", "status": status, "code": name, "request_id": request_id}
    if name in _AUTH_CODES:
        return AuthenticationError(f"{TITLE} rejected the credentials ({name}); check VOLC_ACCESSKEY and "
                                   "VOLC_SECRETKEY (an access key pair of the same account, no spaces)", **common)
    if name == "InvalidTimestamp":
        return AuthenticationError(f"{TITLE} refused the request's signing time ({name}); check this "
                                   "machine's clock (it must be within 15 minutes of real time)", **common)
    if name in _DENIED_CODES or status == 403:
        return PermissionDeniedError(f"{TITLE} says this account may not call CVProcess ({name}); grant the "
                                     "access key's user the Visual (cv) permission in the Volcengine console",
                                     **common)
    if status == 429 or name.startswith("FlowLimitExceeded"):
        return rate_limited("visual", response, f"{TITLE} gateway rate limit ({name}); try again shortly",
                            code=name, request_id=request_id)
    if status >= 500:
        return ProviderUnavailableError(f"{TITLE} gateway error ({name}); try again later", **common)
    return ProviderError(f"{TITLE} gateway refused the request ({name}); check SEEDREAM_VISUAL_BASE_URL points "
                         "at https://visual.volcengineapi.com", retryable=False, **common)


def _unreadable(response: httpx2.Response) -> ProviderError:
    status = response.status_code
    if status == 429:
        return rate_limited("visual", response, f"{TITLE} is rate limiting (HTTP 429); try again shortly")
    if status >= 500:
        return ProviderUnavailableError(f"{TITLE} is unavailable (HTTP {status}); try again later",
                                        provider="visual", status=status)
    return ProviderResponseError(f"{TITLE} answered HTTP {status} with a body that is not a CVProcess answer; "
                                 "check SEEDREAM_VISUAL_BASE_URL, or try again", provider="visual", status=status)


def parse_image(response: httpx2.Response, *, want_url: bool) -> tuple[str | None, str | None]:
    """``(url, None)`` or ``(None, base64)`` from a successful answer.

    Raises:
        ProviderResponseError: a success without a usable image.
    """
    body = _json_object(response) or {}
    data = body.get("data") if isinstance(body.get("data"), Mapping) else {}
    urls = [u for u in data.get("image_urls") or [] if isinstance(u, str) and u.startswith(("http://", "https"))]
    images = [b for b in data.get("binary_data_base64") or [] if isinstance(b, str) and b]
    if urls and (want_url or not images):
        return urls[0], None
    if images and _is_base64(images[0]):
        return None, images[0]
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    raise ProviderResponseError(f"{TITLE} reported success but sent no usable image; try again",
                                provider="visual", status=response.status_code, code="10000",
                                request_id=request_id)


def _json_object(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return None
    return body if isinstance(body, dict) else None


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _reveal(secret: str | _Secret | None) -> str:
    if secret is None:
        return ""
    value = secret if isinstance(secret, str) else secret.get_secret_value()
    return value.strip()


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("seedream-3.0", "visual", REQ_KEY, "Seedream 3.0 (Visual CVProcess)",
              SizeRules(tier_table({"1.3K": VISUAL_13K}), "1328x1328", send_tier=False, min_side=512, max_side=2048,
                        min_pixels=512 * 512, max_pixels=2048 * 2048),
              aliases=MODEL_ALIASES["seedream-3.0"] + (REQ_KEY,), seed=True, guidance=(1.0, 10.0, 2.5),
              notes="one image per call"),
)

#: The secret the sandbox's Visual route verifies signatures with.
SANDBOX_SECRET = "sandbox-secret"


def _build(config: ProviderConfig, http: HttpClient) -> VisualProvider:
    access_key, secret_key = config.credentials
    return VisualProvider(http=http, base_url=config.base_url, access_key=access_key, secret_key=secret_key,
                          region=config.options["region"], service=config.options["service"])


SPEC = ProviderSpec(
    kind="visual", title=TITLE, credentials=_KEY_VARS, base_url=DEFAULT_BASE_URL, models=MODELS,
    default_model="seedream-3.0", edit_model="seedream-3.0", build=_build, concurrency=2,
    options={"region": (str, "cn-north-1"), "service": (str, "cv")},
    sandbox_credentials=("sandbox", SANDBOX_SECRET), emulator="core.emulator.visual:routes",
)
