"""Ark's error envelope: ``{"error":{"code","message":"… Request id: <id>","param","type"}}`` plus the
``X-Request-Id`` header, and the request ids themselves."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from starlette.responses import Response

# The ``type`` Ark puts in the envelope for each status (its public error-code table).
_STATUS_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                 429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


def new_request_id(now: float) -> str:
    """An id shaped like Ark's: ``02`` + milliseconds + random hex."""
    return f"02{int(now * 1000)}{secrets.token_hex(12)}"


@dataclass
class ArkError(Exception):
    """A whole-request failure, rendered as Ark's envelope. ``type`` overrides the status's usual type."""

    status: int
    code: str
    message: str
    param: str = ""
    type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self, request_id: str, *, type_override: str | None = None) -> dict[str, object]:
        kind = self.type or type_override or _STATUS_TYPES.get(self.status, "Error")
        sentence = self.message if self.message.endswith((".", "。")) else f"{self.message}."
        return {"error": {"code": self.code, "message": f"{sentence} Request id: {request_id}",
                          "param": self.param, "type": kind}}

    def response(self, request_id: str, *, type_override: str | None = None) -> Response:
        payload = json.dumps(self.body(request_id, type_override=type_override), ensure_ascii=False)
        return Response(payload, status_code=self.status, media_type="application/json",
                        headers={"X-Request-Id": request_id, **self.headers})


def invalid(param: str, message: str, *, code: str = "InvalidParameter") -> ArkError:
    """A 400 about one parameter."""
    return ArkError(400, code, message, param=param)


def missing(param: str) -> ArkError:
    return ArkError(400, "MissingParameter",
                    f"The request failed because it is missing one or multiple required parameters: {param}.",
                    param=param)


def authentication_error() -> ArkError:
    return ArkError(401, "AuthenticationError",
                    "The API key or AK/SK in the request is missing or invalid.")


def model_not_found(name: str) -> ArkError:
    return ArkError(404, "InvalidEndpointOrModel.NotFound",
                    f"The model or endpoint {name} does not exist or you do not have access to it.",
                    param="model")
