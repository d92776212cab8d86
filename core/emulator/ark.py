"""Volcengine Ark's images API: ``POST /api/v3/images/generations`` and the subscription-plan base
``POST /api/plan/v3/images/generations`` (5.0 models only), per providers.md §1.

Order of checks: count the request → Bearer key (401) → JSON body → per-model validation (400 / 404) →
scripted fault → account caps (429) → generation. ``serve_job`` (fault, caps, generation, JSON or SSE) is
shared with the OpenAI-compatible gateway, which only rewrites the request first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from core.emulator.ark_errors import ArkError, authentication_error, invalid, new_request_id
from core.emulator.ark_generate import (
    Failed,
    Outcome,
    Produced,
    completed_event,
    image_event,
    produce,
    response_body,
    whole_failure,
)
from core.emulator.ark_validate import ArkJob, ValidationContext, validate
from core.emulator.files import served_bytes
from core.emulator.limits import AccountLimits, InFlightSlot
from core.emulator.sse import CutBody, EventStream, sse_frame
from core.emulator.state import EmulatorState, Fault

_FAULT_CODES = {400: "InvalidParameter", 401: "AuthenticationError", 403: "AccessDenied",
                404: "InvalidEndpointOrModel.NotFound", 429: "ServerOverloaded", 500: "InternalServiceError",
                503: "ServiceUnavailable"}
_MALFORMED = b'{"model":"doubao-seedream","created":17573,"data":[{"url":"https://ark-'


def routes(state: EmulatorState) -> list[BaseRoute]:
    """Ark's two image-generation routes, sharing one account's caps."""
    limits = AccountLimits(state, "ark", concurrency=lambda: state.config.ark_concurrency,
                           images_per_minute=lambda: state.config.ark_images_per_minute)

    async def generations(request: Request) -> ASGIApp:
        return await handle(state, request, limits=limits, plan_route=False)

    async def plan_generations(request: Request) -> ASGIApp:
        return await handle(state, request, limits=limits, plan_route=True)

    return [Route("/api/v3/images/generations", generations, methods=["POST"]),
            Route("/api/plan/v3/images/generations", plan_generations, methods=["POST"])]


async def handle(state: EmulatorState, request: Request, *, limits: AccountLimits, plan_route: bool) -> ASGIApp:
    """One Ark request, from authentication to the answer."""
    state.requests["ark"] += 1
    request_id = new_request_id(state.config.clock())
    try:
        check_bearer(request, state.config.ark_api_keys, error=authentication_error)
        job = validate(await read_json(request), validation_context(state, plan_route=plan_route))
    except ArkError as error:
        return error.response(request_id)
    return await serve_job(state, job, provider="ark", limits=limits, request_id=request_id)


def check_bearer(request: Request, keys: frozenset[str] | None, *, error: Callable[[], ArkError]) -> None:
    """Accept ``Authorization: Bearer <key>`` with a key in ``keys`` (any non-empty key when ``None``).

    Raises:
        ArkError: 401, built by ``error()``.
    """
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or (keys is not None and key not in keys):
        raise error()


async def read_json(request: Request) -> object:
    """The decoded body. Raises: ArkError 400 when it is not JSON."""
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("", "the request body is not valid JSON") from None


def validation_context(state: EmulatorState, *, plan_route: bool = False) -> ValidationContext:
    config = state.config
    return ValidationContext(served=lambda url: served_bytes(state, url), endpoints=config.ark_endpoints,
                             blocked_words=config.blocked_words, plan_route=plan_route)


def fault_error(fault: Fault) -> ArkError:
    """The envelope a scripted ``error`` fault answers with (``Retry-After`` when it has one)."""
    code = str(fault.code or _FAULT_CODES.get(fault.status, "InternalServiceError"))
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    return ArkError(fault.status, code, fault.message or f"The request failed with {code}.", headers=headers)


async def serve_job(state: EmulatorState, job: ArkJob, *, provider: str, limits: AccountLimits,
                    request_id: str, error_type: str | None = None) -> ASGIApp:
    """Answer a valid job: scripted fault, account caps, then the images as JSON or SSE.

    ``error_type`` replaces the envelope's ``type`` for errors that are not the caller's own (the gateway
    reports Ark's errors as ``upstream_error``).
    """
    fault = state.take_fault(provider)
    if fault is not None and fault.kind == "error":
        return fault_error(fault).response(request_id, type_override=error_type)
    if fault is not None and fault.kind == "malformed":
        return Response(_MALFORMED, media_type="application/json", headers={"X-Request-Id": request_id})
    try:
        ticket = limits.admit(job.count)
    except ArkError as error:
        return error.response(request_id, type_override=error_type)
    try:
        if job.stream:
            return await _stream(state, job, provider=provider, ticket=ticket, fault=fault,
                                 request_id=request_id, error_type=error_type)
        return await _whole(state, job, provider=provider, ticket=ticket, fault=fault, request_id=request_id,
                            error_type=error_type)
    except BaseException:
        ticket.release()
        raise


async def _whole(state: EmulatorState, job: ArkJob, *, provider: str, ticket: InFlightSlot, fault: Fault | None,
                 request_id: str, error_type: str | None) -> ASGIApp:
    try:
        outcomes = [outcome async for outcome in produce(state, job, provider=provider)]
    finally:
        ticket.release()
    if not any(isinstance(o, Produced) for o in outcomes):
        return whole_failure(outcomes).response(request_id, type_override=error_type)
    body = json.dumps(response_body(state, job, outcomes), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    if fault is not None and fault.kind in ("truncate", "reset"):
        return CutBody(body, keep=len(body) // 2 if fault.kind == "truncate" else 0, headers=headers)
    return Response(body, headers=headers)


async def _stream(state: EmulatorState, job: ArkJob, *, provider: str, ticket: InFlightSlot, fault: Fault | None,
                  request_id: str, error_type: str | None) -> ASGIApp:
    outcomes = produce(state, job, provider=provider)
    first = await anext(outcomes)  # Ark sends its headers only when the first image is done
    if isinstance(first, Failed) and first.internal:
        # Nothing was sent yet, so the whole-request failure can still be a plain JSON error.
        await outcomes.aclose()
        ticket.release()
        return whole_failure([first]).response(request_id, type_override=error_type)
    stop_after = fault.after_images if fault is not None and fault.kind == "truncate" else None
    drop_after = fault.after_images if fault is not None and fault.kind == "reset" else None
    frames = _frames(state, job, first, outcomes, request_id=request_id, error_type=error_type,
                     stop_after=stop_after)
    return EventStream(frames, headers={"X-Request-Id": request_id}, on_close=ticket.release,
                       drop_after=drop_after)


async def _frames(state: EmulatorState, job: ArkJob, first: Outcome, rest: AsyncGenerator[Outcome, None], *,
                  request_id: str, error_type: str | None, stop_after: int | None) -> AsyncIterator[bytes]:
    """§1.4: one event per image, then ``completed`` + ``[DONE]``, or an error frame when nothing was made.
    ``stop_after`` image events, the stream just ends (a truncated stream: no ``completed``, no ``[DONE]``)."""
    seen: list[Outcome] = []
    try:
        outcome: Outcome | None = first
        while outcome is not None:
            if stop_after is not None and len(seen) >= stop_after:
                return
            seen.append(outcome)
            kind, event = image_event(state, job, outcome)
            yield sse_frame(event, event=kind)
            outcome = await anext(rest, None)
        if any(isinstance(o, Produced) for o in seen):
            kind, event = completed_event(state, job, seen)
            yield sse_frame(event, event=kind)
            yield sse_frame("[DONE]")
        else:
            yield sse_frame(whole_failure(seen).body(request_id, type_override=error_type), event="error")
    finally:
        await rest.aclose()
