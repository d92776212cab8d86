"""Chanjing (蝉镜) async AI-creation tasks: submit an image task, poll it, hand back the result URLs.

Flow: ``POST /open/v1/ai_creation/task/submit`` (``creation_type`` 3) returns a task id; ``GET
/open/v1/ai_creation/task?unique_id=…`` is polled until ``progress_desc`` is ``Success``, ``Error`` or
``Fail``. Every call carries the shared ``access_token`` (see ``chanjing_token``). Errors come back as HTTP
200 with ``code != 0`` in the ``{"trace_id","code","msg","data"}`` envelope.

A submitted task is billed whether or not we wait for it, so a submit is never repeated once it may have
created a task. The task id is handed over as soon as it exists (``TaskStarted``, recorded with the job); a
task that outlives the poll deadline ends the wait with ``TaskPending`` and ``resume`` picks it up later.

The Chanjing document fixes ``model_code`` to ``doubao-seedream-3.0-t2i``; the 4.0 / 4.5 codes seen in the
wild (providers.md) are kept as undocumented models, sent only with ``SEEDREAM_CHANJING_UNDOCUMENTED_MODELS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx2
from pydantic import Field, SecretStr

from core.clocks import SecondsClock, Sleep
from core.errors import (
    AuthenticationError,
    InvalidRequestError,
    ProviderError,
    ProviderQuotaError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RequestRejectedError,
)
from core.http import HttpClient
from core.modelspec import ARK_1K, ARK_2K, ARK_4K, MODEL_ALIASES, ModelSpec, ReferenceRules, SizeRules, tier_table
from core.providers.base import ProviderItem, StatusUpdate, TaskPending, TaskStarted
from core.providers.chanjing_task import (
    BILLING_WORDS,
    FAILED,
    SUCCESS,
    ChanjingTask,
    mentions,
    parse_task,
    task_outcome,
)
from core.providers.chanjing_token import (
    PROVIDER,
    QPS_LIMIT_CODE,
    TOKEN_INVALID_CODES,
    ChanjingTokenManager,
    http_status_error,
    parse_envelope,
    provider_message,
    qps_limited,
    shared_token_manager,
)
from core.providers.spec import ProviderConfig, ProviderSpec

if TYPE_CHECKING:
    from core.requests import Plan

log = logging.getLogger(__name__)

SUBMIT_PATH = "/open/v1/ai_creation/task/submit"
QUERY_PATH = "/open/v1/ai_creation/task"
CREATION_TYPE_IMAGE = 3
CLARITY_BY_TIER = {"1K": 1024, "2K": 2048, "4K": 4096}
DEFAULT_CLARITY = 2048
MAX_POLL_INTERVAL = 10.0
POLL_BACKOFF = 1.25


class _TokenRejected(AuthenticationError):
    """Code 10400/10401: the token was revoked or expired. Handled here: refresh once and resend."""


class _BillingRefused(ProviderError):
    """A billing refusal; turned into a ``ProviderQuotaError`` with the console advice by the caller."""


class ChanjingProvider:
    """Generates images through Chanjing's async task API (see module docstring)."""

    name = "chanjing"

    def __init__(self, *, http: HttpClient, base_url: str, app_id: str, secret_key: str | SecretStr,
                 poll_interval: float = 4.0, deadline: float = 300.0, sleep: Sleep = asyncio.sleep,
                 clock: SecondsClock = time.monotonic, wall_clock: SecondsClock = time.time,
                 tokens: ChanjingTokenManager | None = None) -> None:
        """``clock`` (monotonic) times the poll deadline; ``wall_clock`` (Unix time) is compared with the
        token's absolute expiry. ``tokens`` defaults to the one shared for this credential pair on
        ``http``."""
        self._http = http
        self._base = base_url.rstrip("/")
        self._poll_interval = poll_interval
        self._deadline = deadline
        self._sleep = sleep
        self._clock = clock
        self.tokens = tokens or shared_token_manager(http, base_url=base_url, app_id=app_id,
                                                     secret_key=secret_key, clock=wall_clock)

    async def generate(self, plan: Plan) -> AsyncIterator[ProviderItem]:
        """Submit one task for the plan, hand over its id, report its progress, then yield its images and usage
        (or ``TaskPending`` when it outlives the deadline).

        Raises:
            ContentRejectedError: the task failed moderation and produced nothing.
            ProviderQuotaError: the Chanjing account cannot pay for the task.
            ProviderError: any other failure.
        """
        task_id = await self._submit(submit_body(plan))
        yield TaskStarted(task_id, index=0, images=plan.count)
        async for item in self._follow(task_id, expected=plan.count, wait_first=True):
            yield item

    async def resume(self, task_id: str, *, images: int) -> AsyncIterator[ProviderItem]:
        """Pick up a task that outlived an earlier wait: poll it (at once, then as ``generate`` does) and yield
        its images, or ``TaskPending`` again at the deadline.

        Raises:
            ContentRejectedError, ProviderQuotaError, ProviderError: as ``generate``.
        """
        async for item in self._follow(task_id, expected=images, wait_first=False):
            yield item

    async def _follow(self, task_id: str, *, expected: int, wait_first: bool) -> AsyncIterator[ProviderItem]:
        final: ChanjingTask | None = None
        pending = False
        async for update in self._poll_until_done(task_id, wait_first=wait_first):
            if isinstance(update, ChanjingTask):
                final = update
            else:
                pending = pending or isinstance(update, TaskPending)
                yield update
        if pending:
            return
        if final is None:  # _poll_until_done ends with the task, TaskPending or an error; never silently
            raise ProviderResponseError(f"Chanjing task {task_id} ended without a result", provider=PROVIDER,
                                        request_id=task_id)
        for item in task_outcome(final, expected=expected):
            yield item

    async def fetch_task(self, task_id: str) -> ChanjingTask:
        """The current state of one task (also the way to look at a task after a deadline).

        Raises:
            ProviderError: the query failed.
        """
        data = await self._call("GET", QUERY_PATH, action="query", params={"unique_id": task_id},
                                idempotent=True)
        return parse_task(data, task_id)

    async def _submit(self, body: dict[str, Any]) -> str:
        try:
            data = await self._call("POST", SUBMIT_PATH, action="submit", json=body)
        except (ProviderTimeoutError, ProviderResponseError) as exc:
            if exc.status is not None:  # an answer was read: its message already says what to do
                raise
            # No answer, or half of one: the task may exist and be billed, so "try again" is bad advice.
            what = "did not answer the submit in time" if isinstance(exc, ProviderTimeoutError) else \
                "broke the connection during the submit"
            raise type(exc)(f"Chanjing {what}; a task may have been created (and billed): check the Chanjing "
                            "console before submitting again", provider=PROVIDER, retryable=False) from None
        if not isinstance(data, str) or not data:
            raise ProviderResponseError("Chanjing accepted the task but returned no task id; check the "
                                        "Chanjing console before retrying (a task may have been created and "
                                        "billed)",
                                        provider=PROVIDER)
        log.info("chanjing: submitted task %s (%s × %s)", data, body["number_of_images"], body["model_code"])
        return data

    async def _poll_until_done(self, task_id: str, *,
                               wait_first: bool) -> AsyncIterator[StatusUpdate | ChanjingTask | TaskPending]:
        started = self._clock()
        delay = min(self._poll_interval, self._deadline)
        last_status: str | None = None
        last_error: ProviderError | None = None
        while True:
            if wait_first:
                await self._sleep(delay)
            wait_first = True
            try:
                task = await self.fetch_task(task_id)
            except ProviderError as exc:
                if not exc.retryable:
                    log.warning("chanjing: polling task %s failed (%s); it may still finish", task_id,
                                exc.kind)
                    raise
                last_error = exc  # the task runs on regardless; keep polling until the deadline
            else:
                last_error = None
                if task.progress_desc != last_status:
                    last_status = task.progress_desc
                    yield StatusUpdate(task.progress_desc)
                if task.progress_desc == SUCCESS or task.progress_desc in FAILED:
                    yield task
                    return
            elapsed = self._clock() - started
            if elapsed >= self._deadline:
                yield TaskPending(task_id, _deadline_message(task_id, self._deadline, last_status, last_error))
                return
            cap = max(MAX_POLL_INTERVAL, self._poll_interval)
            delay = min(delay * POLL_BACKOFF, cap, self._deadline - elapsed)

    async def _call(self, method: str, path: str, *, action: str, json: Any = None,
                    params: dict[str, str] | None = None, idempotent: bool = False) -> Any:
        """One authenticated call; returns the envelope's ``data``. A rejected token is refreshed once."""
        classify = _classifier(action=action, idempotent=idempotent)
        for attempt in (1, 2):
            token = await self.tokens.token()
            try:
                response = await self._http.send(method, self._base + path, provider=PROVIDER,
                                                 classify=classify, json=json, params=params,
                                                 headers={"access_token": token}, idempotent=idempotent)
            except _TokenRejected as exc:
                self.tokens.invalidate(token)
                if attempt == 2:
                    raise AuthenticationError(
                        "Chanjing rejected a freshly issued access token; another program may be using the "
                        "same CHANJING_APP_ID (each new token revokes the previous one) — use one process "
                        "per app id",
                        provider=PROVIDER, status=401, code=exc.code) from None
                continue
            except _BillingRefused as exc:
                raise ProviderQuotaError(f"Chanjing refused to bill the task ({exc.message}); top up the "
                                         "account's balance (蝉豆) in the Chanjing console",
                                         provider=PROVIDER, code=exc.code, request_id=exc.request_id) from None
            return (parse_envelope(response) or {}).get("data")
        raise AssertionError("unreachable")


def submit_body(plan: Plan) -> dict[str, Any]:
    """The submit request for ``plan`` (creation_type 3; URLs only for references).

    Raises:
        InvalidRequestError: a reference is not an http(s) URL.
    """
    for i, ref in enumerate(plan.references):
        if not ref.is_url:
            raise InvalidRequestError(f"images[{i}]", ref.source, "public http(s) image URLs on chanjing")
    body: dict[str, Any] = {
        "creation_type": CREATION_TYPE_IMAGE,
        "model_code": plan.model.wire_name,
        "ref_prompt": plan.request.prompt,
        "aspect_ratio": plan.size.aspect_ratio or "1:1",
        "clarity": CLARITY_BY_TIER.get(plan.size.tier or "", DEFAULT_CLARITY),
        "number_of_images": plan.count,
    }
    if plan.references:
        body["ref_img_url"] = [r.wire for r in plan.references]
    return body


def _deadline_message(task_id: str, deadline: float, status: str | None, error: ProviderError | None) -> str:
    last = f"last status {status}" if status else "no status yet"
    if error is not None:
        last += f"; the last poll failed: {error.message}"
    return (f"Chanjing task {task_id} did not finish within {deadline:g} s ({last}). It still runs at Chanjing "
            "and may still produce (and bill) its images, so it is not submitted again: the job stays running "
            "until it is picked up again (SEEDREAM_CHANJING_DEADLINE sets the wait)")


def _classifier(*, action: str, idempotent: bool) -> Callable[[httpx2.Response], ProviderError | None]:
    """Classify one Chanjing answer. ``idempotent`` calls (polls) may be resent after any transient error."""

    def classify(response: httpx2.Response) -> ProviderError | None:
        if error := http_status_error(response, resendable=idempotent):
            return error
        body = parse_envelope(response)
        if body is None:
            hint = "" if idempotent else "; a task may have been created — check the Chanjing console"
            return ProviderResponseError(f"Chanjing's answer to the {action} could not be read{hint}",
                                         provider=PROVIDER, status=response.status_code, retryable=idempotent)
        if body["code"] == 0:
            return None
        return envelope_error(response, body, action=action, idempotent=idempotent)

    return classify


def envelope_error(response: httpx2.Response, body: dict[str, Any], *, action: str,
                   idempotent: bool) -> ProviderError:
    """The error a business code (HTTP 200, ``code != 0``) means."""
    code, msg = body["code"], provider_message(body)
    trace = body.get("trace_id") if isinstance(body.get("trace_id"), str) else None
    common: dict[str, Any] = {"provider": PROVIDER, "code": str(code), "request_id": trace}
    if mentions(msg, BILLING_WORDS):
        return _BillingRefused(msg, status=402, retryable=False, **common)
    if code in TOKEN_INVALID_CODES:
        return _TokenRejected("Chanjing rejected the access token", status=401, retryable=False, **common)
    if code == QPS_LIMIT_CODE:
        # A QPS refusal means nothing was created: resending even a submit is safe.
        return qps_limited(response, code=code, request_id=trace)
    if code in (400, 40000):
        return RequestRejectedError(f"Chanjing refused the {action} as invalid (code {code}: {msg}); check the "
                                    "model, size, count and reference image URLs", status=400, retryable=False,
                                    **common)
    if code == 50000:
        if idempotent:
            return ProviderUnavailableError(f"Chanjing had an internal error (code 50000: {msg}); retrying",
                                            status=500, **common)
        # Also Chanjing's answer to some invalid input (emoji in the prompt), so a resend would not help.
        return ProviderError(f"Chanjing reported an internal error (code 50000: {msg}). It answers this "
                             "way to prompts it cannot process too (emoji, for one): rephrase the prompt, or "
                             "try again later", status=500, retryable=False, **common)
    return ProviderError(f"Chanjing refused the {action} (code {code}: {msg})", status=response.status_code,
                         retryable=False, **common)


_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")  # the aspect ratios Chanjing accepts
_SIZES = SizeRules(tier_table({tier: {r: wxh for r, wxh in column.items() if r in _RATIOS}
                               for tier, column in {"1K": ARK_1K, "2K": ARK_2K, "4K": ARK_4K}.items()}),
                   "2K", custom=False)
_COMMON: dict[str, Any] = dict(sizes=_SIZES, max_outputs=4, count_is_exact=True,
                               references=ReferenceRules(urls_only=True))

_UNDOCUMENTED = ("undocumented: not in the Chanjing document (model_code is fixed to doubao-seedream-3.0-t2i "
                 "there); sent only with SEEDREAM_CHANJING_UNDOCUMENTED_MODELS=true")
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("seedream-3.0", "chanjing", "doubao-seedream-3.0-t2i", "Seedream 3.0 (Chanjing)",
              aliases=MODEL_ALIASES["seedream-3.0"], notes="the model the Chanjing document names", **_COMMON),
    ModelSpec("seedream-4.0", "chanjing", "doubao-seedream-4.0", "Seedream 4.0 (Chanjing)",
              aliases=MODEL_ALIASES["seedream-4.0"], max_references=10, documented=False, notes=_UNDOCUMENTED,
              **_COMMON),
    ModelSpec("seedream-4.5", "chanjing", "doubao-seedream-4.5", "Seedream 4.5 (Chanjing)",
              aliases=MODEL_ALIASES["seedream-4.5"], max_references=10, documented=False, notes=_UNDOCUMENTED,
              **_COMMON),
)

#: Sandbox tasks advance once per poll, so there is no point waiting seconds between polls.
SANDBOX_POLL_INTERVAL = 0.05


def _build(config: ProviderConfig, http: HttpClient) -> ChanjingProvider:
    app_id, secret_key = config.credentials
    poll = config.options["poll_interval"]
    return ChanjingProvider(http=http, base_url=config.base_url, app_id=app_id, secret_key=secret_key,
                            poll_interval=min(poll, SANDBOX_POLL_INTERVAL) if config.sandbox else poll,
                            deadline=config.options["deadline"])


SPEC = ProviderSpec(
    kind="chanjing", title="Chanjing", credentials=("CHANJING_APP_ID", "CHANJING_SECRET_KEY"),
    base_url="https://open-api.chanjing.cc", models=MODELS, default_model="seedream-3.0", edit_model="seedream-3.0",
    build=_build, concurrency=4,
    options={"poll_interval": (float, Field(4.0, gt=0)), "deadline": (float, Field(300.0, gt=0)),
             "undocumented_models": (bool, Field(False, description="allow the 4.0 / 4.5 model codes"))},
    emulator="core.emulator.chanjing:routes",
)
