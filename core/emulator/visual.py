"""Volcengine Visual ``CVProcess`` (Seedream 3.0 general, ``high_aes_general_v30l_zt2i``) at
``POST /?Action=CVProcess&Version=2022-08-31``, as in ``shared/reference/providers.md`` §2.

Every request's V4 signature is verified with this module's own canonicalisation, written apart from
``core/providers/signing.py`` on purpose: a shared canonicaliser would make a signing bug invisible to tests.
Gateway errors use the ``ResponseMetadata.Error`` envelope with the documented common codes; business errors
use ``{"code","message","request_id","status","time_elapsed","data":null}`` with the seed's codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import secrets
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx2
from PIL import Image, ImageDraw, ImageStat
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from core.emulator.images import render_image
from core.emulator.state import EmulatorState, Fault

ACTION, VERSION, REQ_KEY = "CVProcess", "2022-08-31", "high_aes_general_v30l_zt2i"
REGION, SERVICE = "cn-north-1", "cv"
MAX_CLOCK_SKEW = 15 * 60.0  # seconds between X-Date and the server clock before InvalidTimestamp
_AUTH = re.compile(r"^HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/request,\s*"
                   r"SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$")

# The documented common gateway codes: name → (HTTP status, CodeN, message).
GATEWAY_ERRORS: dict[str, tuple[int, int, str]] = {
    "MissingParameter": (400, 100002, "The request is missing Action or Version parameter."),
    "MissingAuthenticationToken": (401, 100003, "Request is missing Authentication Token."),
    "MissingRequestInfo": (400, 100004, "The request is missing AccessKey, Service or Region information."),
    "MissingSignature": (401, 100005, "The request is missing signature."),
    "InvalidTimestamp": (400, 100006, "The signature of the request is expired."),
    "InvalidActionOrVersion": (404, 100008, "Could not find operation {action} for version {version}."),
    "InvalidAccessKey": (401, 100009, "The accesskey included in the request is invalid."),
    "SignatureDoesNotMatch": (401, 100010, "The request signature we calculated does not match the signature "
                              "you provided. Check your Secret Access Key and signing method. Consult the "
                              "service documentation for details."),
    "AccessDenied": (403, 100013, "User is not authorized to perform: cv:CVProcess."),
}
# The seed's business codes (plus the two seen in real answers for bad input / an unopened req_key).
BUSINESS_ERRORS: dict[int, tuple[int, str]] = {
    50411: (400, "Pre Img Risk Not Pass"), 50511: (400, "Post Img Risk Not Pass"),
    50412: (400, "Text Risk Not Pass"), 50512: (400, "Post Text Risk Not Pass"),
    50413: (400, "Post Text Risk Not Pass"),
    50429: (429, "Request Has Reached API Limit, Please Try Later"),
    50430: (429, "Request Has Reached API Concurrent Limit, Please Try Later"),
    50500: (500, "Internal Error"), 50501: (500, "Internal RPC Error"),
    # Neither code is in the seed. Real CVProcess answers 400/50215 "Input invalid for this service." to
    # inputs it cannot use, and 400/50400 "Access Denied: …" to a req_key the account may not call.
    50215: (400, "Input invalid for this service."), 50400: (400, "Access Denied: Internal Error"),
}


def routes(state: EmulatorState) -> list[BaseRoute]:
    """``POST /`` (the Visual OpenAPI gateway) serving ``CVProcess``."""
    inflight = 0
    admitted: deque[float] = deque()  # arrival times, for the QPS cap

    async def cv_process(request: Request) -> Response:
        nonlocal inflight
        state.requests["visual"] += 1
        started = time.perf_counter()
        body = await request.body()
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        action, version = query.get("Action"), query.get("Version")
        if not action or not version:
            return gateway_error("MissingParameter", action, version)
        if (action, version) != (ACTION, VERSION):
            return gateway_error("InvalidActionOrVersion", action, version)
        if refused := verify_signature(request, body, state):
            return refused
        if (fault := state.take_fault("visual")) is not None:
            return fault_response(fault, started)
        now = state.config.clock()
        while admitted and now - admitted[0] >= 1.0:
            admitted.popleft()
        if state.config.visual_qps > 0 and len(admitted) >= state.config.visual_qps:
            return business_error(50429, started)
        if state.config.visual_concurrency > 0 and inflight >= state.config.visual_concurrency:
            return business_error(50430, started)
        admitted.append(now)
        inflight += 1
        try:
            return await _generate(state, body, started)
        finally:
            inflight -= 1

    return [Route("/", cv_process, methods=["POST"])]


async def _generate(state: EmulatorState, raw: bytes, started: float) -> Response:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        payload = None
    problem = validate(payload) if isinstance(payload, dict) else "the body is not a JSON object"
    if problem is not None:
        code = 50400 if problem == "req_key" else 50215
        return business_error(code, started, detail=None if code == 50400 else problem)
    prompt: str = payload["prompt"]
    if any(word.lower() in prompt.lower() for word in state.config.blocked_words):
        return business_error(50412, started)
    await state.wait_if_held()
    await state.image_latency()
    if "[refuse:0]" in prompt:  # the output image fails the post-audit (retryable: the next draw may pass)
        return business_error(50511, started)
    seed = payload.get("seed", -1)
    seed = secrets.randbelow(2**31) if seed == -1 else seed
    image = render_image(prompt, seed, payload.get("width", 1328), payload.get("height", 1328), "jpeg")
    logo = payload.get("logo_info") or {}
    if logo.get("add_logo"):
        image = add_visible_mark(image, position=logo.get("position", 0), opacity=logo.get("opacity", 0.3))
    state.generated["visual"] += 1
    as_url = bool(payload.get("return_url"))
    data = {
        "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
        "binary_data_base64": [] if as_url else [base64.b64encode(image).decode()],
        "image_urls": [state.publish(image, "image/jpeg")] if as_url else None,
        "infer_ctx": {}, "llm_result": "", "pe_result": "", "predict_tags_result": "", "rephraser_result": "",
        "request_id": secrets.token_hex(32), "vlm_result": "",
    }
    return JSONResponse({"code": 10000, "data": data, "message": "Success", "request_id": _request_id(),
                         "status": 10000, "time_elapsed": _elapsed(started)})


def validate(body: dict[str, Any]) -> str | None:
    """The first parameter the real service would refuse, or ``None``."""
    if body.get("req_key") != REQ_KEY:
        return "req_key"
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return "prompt is required"
    width, height = body.get("width", 1328), body.get("height", 1328)
    if not all(_is_int(v) and 512 <= v <= 2048 for v in (width, height)):
        return "width and height must be integers in [512, 2048]"
    if width * height > 2048 * 2048:
        return "width*height must not exceed 2048*2048"
    scale = body.get("scale", 2.5)
    if not _is_number(scale) or not 1 <= scale <= 10:
        return "scale must be in [1, 10]"
    if not _is_int(body.get("seed", -1)) or body.get("seed", -1) < -1:
        return "seed must be an integer, -1 for random"
    for flag in ("use_pre_llm", "return_url"):
        if not isinstance(body.get(flag, False), bool):
            return f"{flag} must be a boolean"
    return _validate_logo(body.get("logo_info"))


def _validate_logo(logo: Any) -> str | None:
    if logo is None:
        return None
    if not isinstance(logo, dict) or not isinstance(logo.get("add_logo", False), bool):
        return "logo_info must be an object with a boolean add_logo"
    position, language, opacity = logo.get("position", 0), logo.get("language", 0), logo.get("opacity", 0.3)
    if not (_is_int(position) and 0 <= position <= 3 and _is_int(language) and language in (0, 1)):
        return "logo_info.position must be 0-3 and logo_info.language 0-1"
    if not _is_number(opacity) or not 0 <= opacity <= 1:
        return "logo_info.opacity must be in [0, 1]"
    # The document gives no length limit for the custom text (nor for the prompt): any string is taken.
    if not isinstance(logo.get("logo_text_content", ""), str):
        return "logo_info.logo_text_content must be a string"
    return None


def verify_signature(request: Request, body: bytes, state: EmulatorState) -> Response | None:
    """Re-derive the V4 signature from what arrived; an error response when it does not hold."""
    action, version = ACTION, VERSION
    authorization = request.headers.get("authorization")
    if not authorization:
        return gateway_error("MissingAuthenticationToken", action, version)
    match = _AUTH.match(authorization.strip())
    if match is None:
        code = "MissingSignature" if "Signature=" not in authorization else "MissingRequestInfo"
        return gateway_error(code, action, version)
    access_key, date, region, service, signed_names, signature = match.groups()
    expected_ak = state.config.visual_access_key
    if expected_ak is not None and not hmac.compare_digest(access_key, expected_ak):
        return gateway_error("InvalidAccessKey", action, version)
    x_date = request.headers.get("x-date", "")
    try:
        sent_at = datetime.strptime(x_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return gateway_error("InvalidTimestamp", action, version)
    if abs(state.config.clock() - sent_at) > MAX_CLOCK_SKEW:
        return gateway_error("InvalidTimestamp", action, version)
    names = signed_names.split(";")
    # Our region/service and the date of X-Date, whatever the credential claims: a mismatch fails below.
    usable = date == x_date[:8] and (region, service) == (REGION, SERVICE) and {"host", "x-date"} <= set(names)
    expected = _signature(request, body, names, x_date, state.config.visual_secret_key)
    if not usable or not hmac.compare_digest(expected, signature):
        return gateway_error("SignatureDoesNotMatch", action, version)
    return None


def _signature(request: Request, body: bytes, names: list[str], x_date: str, secret: str) -> str:
    """HMAC-SHA256 over the canonical request rebuilt from the wire; the body hash is of the bytes received."""
    header_lines = []
    for name in names:
        value = request.headers.get(name, "").strip()
        if name == "host" and re.search(r":(80|443)$", value):
            value = value.rsplit(":", 1)[0]
        header_lines.append(f"{name}:{value}\n")
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    pairs.sort(key=lambda kv: kv[0])
    query = "&".join(quote(k, safe="~-._") + "=" + quote(v, safe="~-._") for k, v in pairs)
    canonical = (f"{request.method}\n{quote(request.url.path or '/', safe='/~-._')}\n{query}\n"
                 f"{''.join(header_lines)}\n{';'.join(names)}\n{hashlib.sha256(body).hexdigest()}")
    scope = f"{x_date[:8]}/{REGION}/{SERVICE}/request"
    to_sign = f"HMAC-SHA256\n{x_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = hmac.new(secret.encode(), x_date[:8].encode(), hashlib.sha256).digest()
    for step in (REGION, SERVICE, "request"):
        key = hmac.new(key, step.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def gateway_error(code: str, action: str | None, version: str | None, *, status: int | None = None,
                  message: str | None = None) -> JSONResponse:
    """The OpenAPI gateway's ``ResponseMetadata.Error`` envelope for a documented common code."""
    default_status, code_n, template = GATEWAY_ERRORS.get(code, (status or 400, 100000, code))
    error = {"CodeN": code_n, "Code": code,
             "Message": message or template.format(action=action, version=version)}
    meta = {"RequestId": _request_id(), "Action": action or "", "Version": version or "", "Service": SERVICE,
            "Region": REGION, "Error": error}
    return JSONResponse({"ResponseMetadata": meta}, status_code=status or default_status)


def business_error(code: int, started: float, *, status: int | None = None, message: str | None = None,
                   detail: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The service's own error body (``data`` is null), with the seed's HTTP status for ``code``."""
    default_status, default_message = BUSINESS_ERRORS.get(code, (status or 500, "Internal Error"))
    text = message or (f"{default_message} {detail}" if detail else default_message)
    content = {"code": code, "data": None, "message": text, "request_id": _request_id(), "status": code,
               "time_elapsed": _elapsed(started)}
    return JSONResponse(content, status_code=status or default_status, headers=headers)


def fault_response(fault: Fault, started: float) -> Response:
    """A scripted failure: an error (business code, or a gateway code when ``code`` is a name), a body cut
    short, broken JSON, or a dropped connection. A documented code keeps its documented HTTP status (the
    service always pairs them); ``fault.status`` applies to other codes."""
    if fault.kind == "malformed":
        return Response(b'{"code":10000,"data":{"binary_data_base64":["', media_type="application/json")
    if fault.kind in ("truncate", "reset"):
        return _BrokenResponse(cut_after_start=fault.kind == "reset")
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    if isinstance(fault.code, str) and not fault.code.isdigit():
        status = None if fault.code in GATEWAY_ERRORS else fault.status
        response = gateway_error(fault.code, ACTION, VERSION, status=status, message=fault.message)
        response.headers.update(headers or {})
        return response
    code = int(fault.code) if fault.code is not None else 50500
    status = None if code in BUSINESS_ERRORS else fault.status
    return business_error(code, started, status=status, message=fault.message, headers=headers)


class _BrokenResponse(Response):
    """A connection that breaks: after the headers (``reset``) or mid-body (``truncate``).

    Over a real socket (uvicorn) the raised error closes the connection, so the client sees an incomplete
    answer; in-process (``ASGITransport``) the same exception reaches the client as the transport error a
    broken connection produces.
    """

    def __init__(self, *, cut_after_start: bool) -> None:
        super().__init__(status_code=200, media_type="application/json")
        self.cut_after_start = cut_after_start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        full = b'{"code":10000,"data":{"binary_data_base64":["' + b"A" * 4096 + b'"]}}'
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(full)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.cut_after_start:
            raise httpx2.ReadError("emulated connection reset by peer")
        await send({"type": "http.response.body", "body": full[: len(full) // 3], "more_body": True})
        raise httpx2.RemoteProtocolError("emulated: peer closed connection without sending complete body")


def add_visible_mark(image: bytes, *, position: int, opacity: float) -> bytes:
    """Stamp a visible "AI" label in the corner ``position`` names (0 bottom-right, 1 bottom-left,
    2 top-left, 3 top-right), blended at ``opacity``, like the service's logo."""
    picture = Image.open(io.BytesIO(image)).convert("RGB")
    width, height = picture.size
    box_w, box_h = max(48, width // 6), max(24, height // 16)
    margin = max(8, min(width, height) // 50)
    left = width - box_w - margin if position in (0, 3) else margin
    top = height - box_h - margin if position in (0, 1) else margin
    box = (left, top, left + box_w, top + box_h)
    # Ink that contrasts with what lies beneath, so the mark shows on any picture at any opacity > 0.
    light = sum(ImageStat.Stat(picture.crop(box).convert("L")).mean) > 127
    ink, paper = ((255, 255, 255), (0, 0, 0)) if light else ((0, 0, 0), (255, 255, 255))
    alpha = round(255 * opacity)
    overlay = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle(box, fill=(*paper, alpha))
    draw.text((left + box_h // 3, top + box_h // 4), "AI", fill=(*ink, alpha))
    picture = Image.alpha_composite(picture.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _request_id() -> str:
    """Like the service's: a UTC timestamp and 20 upper-case hex digits."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def _elapsed(started: float) -> str:
    return f"{time.perf_counter() - started:.7f}s"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
