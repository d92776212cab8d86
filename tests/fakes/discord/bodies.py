"""Reading request bodies (JSON or multipart) and writing JSON replies exactly as Discord does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .models import guess_content_type
from .rules import ApiError, invalid_form, too_large

Payload = dict[str, Any]


@dataclass(frozen=True)
class IncomingFile:
    """One ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str


@dataclass
class RequestBody:
    """The JSON payload and the uploaded files of a request."""

    payload: Payload = field(default_factory=dict)
    files: list[IncomingFile] = field(default_factory=list)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON reply whose ``Content-Type`` is exactly ``application/json``.

    discord.py compares the header verbatim: ``; charset=utf-8`` would make it treat the body as text.
    """
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def error_response(error: ApiError) -> web.Response:
    """The JSON error reply for ``error``."""
    return json_response(error.body(), status=error.status)


async def read_body(request: web.Request) -> RequestBody:
    """Parse a JSON or ``multipart/form-data`` (``payload_json`` + ``files[n]``) body.

    Raises:
        ApiError: 50035 if the JSON is malformed.
    """
    if request.content_type == "multipart/form-data":
        body = await _read_multipart(request)
    elif request.can_read_body:
        body = RequestBody(payload=_as_object(parse_json(await request.read())))
    else:
        body = RequestBody()
    return body


def check_file_sizes(body: RequestBody, limit: int) -> None:
    """The per-file upload limit.

    Raises:
        ApiError: ``413 40005`` for the first file over ``limit`` bytes.
    """
    for upload in body.files:
        if len(upload.data) > limit:
            raise too_large(f"{upload.filename}: {len(upload.data)} bytes > limit {limit}")


async def _read_multipart(request: web.Request) -> RequestBody:
    body = RequestBody()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read()
        name = part.name or ""
        if name == "payload_json":
            body.payload = _as_object(parse_json(data))
        elif name.startswith("files[") and name.endswith("]"):
            filename = part.filename or name
            # discord.py labels every file application/octet-stream; Discord sniffs the real type.
            declared = part.headers.get("Content-Type", "application/octet-stream")
            content_type = guess_content_type(filename) if declared == "application/octet-stream" else declared
            body.files.append(IncomingFile(int(name[6:-1]), filename, bytes(data), content_type))
    return body


def parse_json(raw: bytes) -> Any:
    """Decode a JSON body (empty means ``{}``).

    Raises:
        ApiError: 50035 if it is not valid JSON.
    """
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise invalid_form({"_errors": [{"code": "INVALID_JSON", "message": str(exc)}]}) from exc


def _as_object(value: Any) -> Payload:
    if not isinstance(value, dict):
        raise invalid_form({"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used"}]})
    return value


def to_int(text: str) -> int:
    """A path parameter as an id (``-1`` if it is not a number, which matches nothing)."""
    try:
        return int(text)
    except ValueError:
        return -1
