"""Result files: ``GET /emulator/files/{token}.{ext}`` serves what ``EmulatorState.publish`` stored, and
refuses it after expiry like a TOS/S3 signed URL (403 ``AccessDenied`` "Request has expired", XML body).

Faults: ``Fault(provider="files")`` (``route`` ``None`` or ``"files"``) — ``error`` (status + XML error body),
``truncate`` (``Content-Length`` promises the whole file, half is sent, the connection drops), ``reset``
(headers, then the connection drops), ``malformed`` (200 with bytes that are not an image).
``config.max_result_bytes`` pads the body with zero bytes after the image's end marker up to that size:
decoders ignore trailing bytes, so the file stays a valid image while its download is as big as asked.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from core.emulator.ark_errors import invalid
from core.emulator.sse import CutBody
from core.emulator.state import EmulatorState, Fault, ServedFile

FILES_PATH = "/emulator/files/"
_PAD_CHUNK = 1024 * 1024
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpeg"}


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The result-file route."""

    async def serve(request: Request) -> ASGIApp:
        return serve_file(state, request.path_params["name"])

    return [Route(FILES_PATH + "{name}", serve, methods=["GET", "HEAD"])]


def serve_file(state: EmulatorState, name: str) -> ASGIApp:
    """The response for ``/emulator/files/<name>``."""
    state.requests["files"] += 1
    request_id = secrets.token_hex(12).upper()
    token, _, ext = name.partition(".")
    served = state.files.get(token)
    fault = state.take_fault("files", "files") or state.take_fault("files")
    if fault is not None and fault.kind == "error":
        return _xml_error(fault.status, str(fault.code or "InternalError"),
                          fault.message or "We encountered an internal error. Please try again.",
                          request_id, retry_after=fault.retry_after)
    if served is None or _EXTENSIONS.get(served.content_type) != ext:
        return _xml_error(404, "NoSuchKey", "The specified key does not exist.", request_id)
    now = state.config.clock()
    if now >= served.expires_at:
        return _xml_error(403, "AccessDenied", "Request has expired", request_id,
                          extra={"Expires": _iso(served.expires_at), "ServerTime": _iso(now)})
    return _file_response(state, served, fault, request_id)


def _file_response(state: EmulatorState, served: ServedFile, fault: Fault | None, request_id: str) -> ASGIApp:
    headers = {"Content-Type": served.content_type, "x-tos-request-id": request_id}
    if fault is not None and fault.kind == "malformed":
        return Response(b"\x00not an image\x00" * 8, media_type=served.content_type, headers=headers)
    if fault is not None and fault.kind in ("truncate", "reset"):
        keep = len(served.data) // 2 if fault.kind == "truncate" else 0
        return CutBody(served.data, keep=keep, headers=headers)
    target = state.config.max_result_bytes
    if target is None or target <= len(served.data):
        return Response(served.data, media_type=served.content_type, headers=headers)
    headers["Content-Length"] = str(target)
    return StreamingResponse(_padded(served.data, target), media_type=served.content_type, headers=headers)


async def _padded(data: bytes, total: int) -> AsyncIterator[bytes]:
    yield data
    remaining = total - len(data)
    while remaining > 0:
        chunk = min(remaining, _PAD_CHUNK)
        yield bytes(chunk)
        remaining -= chunk


def _xml_error(status: int, code: str, message: str, request_id: str, *, retry_after: float | None = None,
               extra: dict[str, str] | None = None) -> Response:
    fields = {"Code": code, "Message": message, "RequestId": request_id, "HostId": "emulator", **(extra or {})}
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'
    headers = {"x-tos-request-id": request_id}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def served_bytes(state: EmulatorState, url: str) -> bytes | None:
    """The bytes behind one of the emulator's own result URLs (used as a reference image), ``None`` for any
    other URL.

    Raises:
        ArkError: 400 when the URL is ours but expired or unknown (the download would fail upstream).
    """
    prefix = state.config.public_base_url.rstrip("/") + FILES_PATH
    if not url.startswith(prefix):
        return None
    token = url[len(prefix):].partition(".")[0]
    served = state.files.get(token)
    if served is None or state.config.clock() >= served.expires_at:
        raise invalid("image", f"failed to download the image from {url}")
    return served.data

