"""The fault matrix: every provider × every fault, end to end through ``ImageService`` against the emulator on
a real loopback socket. One table; each row says what the user must get.

For every row: no exception escapes (the outcome is a ``Generation``); the provider was asked exactly as
often as is safe (once wherever a resend could bill twice); every image produced before the fault is on
disk, decodable, and reported in the result and the job store; no temporary file is left; and the error the
user sees names the provider, the cause and what to do. Faults that do not exist for a provider are listed
in SECURITY.md with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.emulator import Fault
from core.jobs import Requester
from core.requests import GenerateRequest
from core.results import JobStatus
from tests.reliability.harness import (
    KEYS,
    ROUTE_PATHS,
    Emulator,
    Stall,
    closed_port_url,
    decodable,
    emulator_accounts,
    emulator_server,
    leftovers,
    rig,
)

# One emulator server for the module (each test resets it): starting and stopping uvicorn per row would
# double the module's run time.
pytestmark = pytest.mark.asyncio(loop_scope="module")

ME = Requester(adapter="test", user_id="fault-matrix")
OK, PARTIAL, FAILED = JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED
SIZE = {"ark": "1K", "gateway": "1K", "visual": "512x512", "chanjing": "1K"}


@dataclass(frozen=True)
class Row:
    """One cell of the matrix: a fault on a provider and what must follow."""

    fault: str  # the fault's name in SECURITY.md
    provider: str
    faults: tuple[Fault, ...] = ()
    status: JobStatus = FAILED
    kind: str | None = None  # Generation.error_kind
    attempts: int = 1  # requests at ``route``
    route: str | None = None  # ROUTE_PATHS key; the provider's generation route by default
    saved: int = 0
    failed: tuple[int, ...] = ()  # indexes reported as failed images
    says: tuple[str, ...] = ()  # what the user-facing message must contain (the cause, what to do)
    count: int = 1  # images in the one request (see ``request_for``)
    stream: bool | None = None
    prompt: str = "a lighthouse at dusk"
    config: dict[str, Any] = field(default_factory=dict)  # EmulatorConfig fields
    settings: dict[str, Any] = field(default_factory=dict)  # Settings fields
    stalls: tuple[Stall, ...] = ()
    offline: bool = False  # point the provider at a closed port
    hold: bool = False  # the emulator never finishes (a stuck task)
    waited: float | None = None  # a back-off the service must have waited (Retry-After)

    @property
    def id(self) -> str:
        return f"{self.provider}: {self.fault}"


def f(provider: str, **fields: Any) -> Fault:
    return Fault(provider=provider, **fields)


def stall(provider: str, after_frames: int = 0, route: str | None = None) -> Stall:
    return Stall(ROUTE_PATHS[route or provider], after_frames=after_frames)


RETRY_BUDGET = 4  # the first attempt and three retries
EXPIRED = dict(config={"url_ttl": -1}, says=("expired", "generate again"))
HUGE = dict(config={"max_result_bytes": 300_000}, settings={"max_download_bytes": 200_000},
            says=("200,000-byte limit", "SEEDREAM_MAX_DOWNLOAD_BYTES"))
GONE = dict(faults=(f("files", status=404, code="NoSuchKey"),), says=("gone", "generate again"))
TIMEOUT = dict(kind="timeout", says=("did not answer in time", "SEEDREAM_IMAGE_TIMEOUT"))
BROKEN = dict(kind="bad_response", says=("broke mid-answer",))

ROWS: list[Row] = [
    # -- 429 with Retry-After: waited out exactly as asked, then the image --
    *[Row("429 with Retry-After", p, (fault,), OK, attempts=2, saved=1, waited=7.0) for p, fault in [
        ("ark", f("ark", status=429, code="ModelAccountRpmRateLimitExceeded", retry_after=7)),
        ("gateway", f("gateway", status=429, code="rate_limit_exceeded", retry_after=7)),
        ("visual", f("visual", code=50429, retry_after=7)),
        ("chanjing", f("chanjing", route="submit", status=429, retry_after=7)),
    ]],
    # -- 429 without Retry-After, for good: backed off, then a clear rate-limit error --
    *[Row("429 without Retry-After", p, (fault,), FAILED, "rate_limited", attempts=RETRY_BUDGET, says=says)
      for p, fault, says in [
          ("ark", f("ark", status=429, code="ServerOverloaded", times=9), ("rate limited", "later")),
          ("gateway", f("gateway", status=429, code="rate_limit_exceeded", times=9),
           ("rate limited", "later")),
          ("visual", f("visual", code=50429, times=9), ("QPS", "try again")),
          ("chanjing", f("chanjing", route="submit", code=40001, times=9), ("QPS", "try again")),
      ]],
    # -- the account's quota or balance: never retried --
    Row("quota 429 / billing", "ark", (f("ark", status=429, code="QuotaExceeded", times=9),),
        kind="quota_exceeded", says=("quota", "console")),
    Row("quota 429 / billing", "gateway", (f("gateway", status=429, code="SetLimitExceeded", times=9),),
        kind="quota_exceeded", says=("quota", "console")),
    Row("quota 429 / billing", "visual", (f("visual", code="AccessDenied", times=9),),
        kind="permission_denied", says=("may not call", "console")),
    Row("quota 429 / billing", "chanjing", config={"chanjing_credits": 0},
        kind="quota_exceeded", says=("蝉豆", "top up")),
    # -- 500: retried where nothing was produced, not where a task may exist --
    Row("500", "ark", (f("ark", status=500, code="InternalServiceError", times=9),), kind="unavailable",
        attempts=RETRY_BUDGET, says=("failed", "try again")),
    Row("500", "gateway", (f("gateway", status=500, times=9),), kind="unavailable", attempts=RETRY_BUDGET,
        says=("failed", "try again")),
    Row("500", "visual", (f("visual", code=50500, times=9),), kind="unavailable", attempts=RETRY_BUDGET,
        says=("internal error", "try again")),
    Row("500", "chanjing", (f("chanjing", route="submit", status=500, times=9),), kind="unavailable",
        says=("HTTP 500", "console")),
    Row("500 while polling", "chanjing", (f("chanjing", route="query", code=50000, times=2),), OK, saved=1),
    # -- 503 --
    Row("503", "ark", (f("ark", status=503, times=9),), kind="unavailable", attempts=RETRY_BUDGET,
        says=("failed", "try again")),
    Row("503", "gateway", (f("gateway", status=503, times=9),), kind="unavailable", attempts=RETRY_BUDGET,
        says=("failed", "try again")),
    Row("503", "visual", (f("visual", status=503, code="ServiceUnavailable", times=9),), kind="unavailable",
        attempts=RETRY_BUDGET, says=("gateway error", "try again")),
    Row("503", "chanjing", (f("chanjing", route="submit", status=503, times=9),), kind="unavailable",
        attempts=RETRY_BUDGET, says=("503", "try again")),
    # -- the account's concurrency cap --
    Row("concurrency cap", "ark", (f("ark", status=429, code="InflightBatchsizeExceeded", times=9),),
        kind="rate_limited", says=("in flight", "SEEDREAM_ARK_CONCURRENCY")),
    Row("concurrency cap", "gateway", (f("gateway", status=429, code="rate_limit_exceeded", retry_after=1),),
        OK, attempts=2, saved=1, waited=1.0),
    Row("concurrency cap", "visual", (f("visual", code=50430),), OK, attempts=2, saved=1),
    # -- connection refused: resent (it never left), then a clear error --
    *[Row("connection refused", p, offline=True, kind="unavailable", attempts=RETRY_BUDGET,
          route="chanjing.token" if p == "chanjing" else None, says=("could not connect", "base URL"))
      for p in ("ark", "gateway", "visual", "chanjing")],
    # -- reset mid-body: never resent; the images before the reset are kept --
    Row("reset mid-stream", "ark", (f("ark", kind="reset", after_images=2),), PARTIAL, count=4, saved=2, **BROKEN),
    # The gateway's groups arrive whole (its document gives no stream format): a reset loses the answer.
    Row("reset mid-body", "gateway", (f("gateway", kind="reset"),), count=4, **BROKEN),
    Row("reset mid-body", "ark", (f("ark", kind="reset"),), count=2, stream=False, **BROKEN),
    Row("reset mid-body", "visual", (f("visual", kind="truncate"),), **BROKEN),
    Row("reset mid-body", "chanjing", (f("chanjing", route="submit", kind="reset"),), kind="bad_response",
        says=("could not be read", "console")),
    Row("reset while polling", "chanjing", (f("chanjing", route="query", kind="reset"),), OK, saved=1),
    # -- read timeout: never resent (the provider may have made and billed the images) --
    Row("read timeout", "ark", stalls=(stall("ark"),), stream=False, **TIMEOUT),
    Row("read timeout mid-stream", "ark", stalls=(stall("ark", 1),), status=PARTIAL, count=3, saved=1, **TIMEOUT),
    Row("read timeout", "gateway", stalls=(stall("gateway"),), count=3, **TIMEOUT),
    Row("read timeout", "visual", stalls=(stall("visual"),), **TIMEOUT),
    Row("read timeout", "chanjing", stalls=(stall("chanjing"),), kind="timeout",
        says=("did not answer the submit in time", "console")),
    Row("read timeout while polling", "chanjing", stalls=(stall("chanjing", route="chanjing.query"),),
        status=OK, saved=1),
    Row("read timeout mid-answer while polling", "chanjing",
        stalls=(Stall(ROUTE_PATHS["chanjing.query"], mid_body=True),), status=OK, saved=1),
    # -- malformed JSON --
    Row("malformed JSON", "ark", (f("ark", kind="malformed"),), stream=False, kind="bad_response",
        says=("not JSON", "try again")),
    Row("malformed JSON", "gateway", (f("gateway", kind="malformed"),), stream=False, kind="bad_response",
        says=("not JSON", "try again")),
    Row("malformed JSON", "visual", (f("visual", kind="malformed"),), kind="bad_response",
        says=("not a CVProcess answer", "try again")),
    Row("malformed JSON", "chanjing", (f("chanjing", route="submit", kind="malformed"),), kind="bad_response",
        says=("could not be read", "console")),
    Row("malformed JSON while polling", "chanjing", (f("chanjing", route="query", kind="malformed"),), OK,
        saved=1),
    # -- a stream that ends before "completed" --
    Row("truncated SSE stream", "ark", (f("ark", kind="truncate", after_images=2),), PARTIAL, "bad_response",
        count=4, saved=2, says=("ended before it completed", "try again")),
    Row("truncated body", "gateway", (f("gateway", kind="truncate"),), count=4, **BROKEN),
    # -- one image of a group refused or failed: the rest kept --
    Row("partial_failed in a group", "ark", prompt="four foxes [refuse:1]", status=PARTIAL, count=4, saved=3,
        failed=(1,), says=("refused", "rephrase")),
    Row("internal failure in a group", "ark", prompt="four foxes [fail:2]", status=PARTIAL, count=4, saved=2,
        failed=(2,), stream=False, says=("could not make", "try again")),
    Row("partial_failed in a group", "gateway", prompt="four foxes [refuse:1]", status=PARTIAL, count=4,
        saved=3, failed=(1,), says=("refused", "rephrase")),
    Row("partial_failed in a group", "chanjing", prompt="four foxes [refuse:1]", status=PARTIAL, count=4,
        saved=3, failed=(3,), says=("did not produce", "审核")),
    # 50511 is retryable per the Visual document, as a new draw: the seed the service chose is replaced.
    Row("output image refused once", "visual", (f("visual", code=50511),), OK, attempts=2, saved=1),
    Row("output image refused every time", "visual", prompt="a fox [refuse:0]", kind="content_rejected",
        attempts=RETRY_BUDGET, says=("moderation", "rephrase")),
    # -- result links: expired, gone, too big --
    *[Row("result URL expired", p, count=1 if p == "visual" else 2, failed=(0,) if p == "visual" else (0, 1),
          kind="provider_error", **EXPIRED) for p in ("ark", "gateway", "visual", "chanjing")],
    *[Row("result URL 404s", p, status=FAILED if p == "visual" else PARTIAL, count=1 if p == "visual" else 3,
          saved=0 if p == "visual" else 2, failed=(0,), kind="provider_error" if p == "visual" else None,
          **GONE)
      for p in ("ark", "gateway", "visual", "chanjing")],
    *[Row("result download cut short", p, (f("files", kind="truncate"),), OK, route="files", attempts=2,
          saved=1)
      for p in ("ark", "gateway", "visual", "chanjing")],
    Row("result download cut short every time", "ark", (f("files", kind="truncate", times=9),), count=2,
        stream=False, route="files", attempts=2 * RETRY_BUDGET, failed=(0, 1), kind="bad_response",
        says=("broke mid-answer", "try again")),
    *[Row("result too big", p, count=1 if p == "visual" else 2, failed=(0,) if p == "visual" else (0, 1),
          kind="bad_response", **HUGE) for p in ("ark", "gateway", "visual", "chanjing")],
    # -- Chanjing's access token and task lifecycle --
    Row("token revoked mid-poll", "chanjing", (f("chanjing", route="query", code=10400),), OK, saved=1),
    Row("token revoked for good", "chanjing", (f("chanjing", route="query", code=10400, times=9),),
        kind="authentication", says=("access token", "one process per app id")),
    # Never submitted again: the job stays running with its task recorded, to be resumed
    # (tests/core/test_resume.py), and the result says how.
    Row("stuck in Generating past the deadline", "chanjing", hold=True, status=JobStatus.RUNNING,
        settings={"chanjing_deadline": 120}, says=("did not finish within 120 s", "seedream jobs")),
    # -- credentials refused --
    Row("key refused", "ark", (f("ark", status=401, code="AuthenticationError"),), kind="authentication",
        says=("refused", "ARK_API_KEY")),
    Row("key refused", "gateway", (f("gateway", status=401, code="invalid_api_key"),), kind="authentication",
        says=("refused", "SEEDREAM_GATEWAY_API_KEY")),
    Row("key refused", "visual", settings={"volc_secretkey": "not-the-secret"}, kind="authentication",
        says=("rejected the credentials", "VOLC_SECRETKEY")),
    Row("key refused", "chanjing", settings={"chanjing_secret_key": "not-the-secret"}, kind="authentication",
        route="chanjing.token", says=("refused", "CHANJING_SECRET_KEY")),
]


def request_for(row: Row) -> GenerateRequest:
    """Several images are one request in every row: a series on Ark and the gateway, one exact task on
    Chanjing (so a fault scripted for "the request" hits the whole group)."""
    series = row.count > 1 and row.provider in ("ark", "gateway")
    return GenerateRequest.create(prompt=row.prompt, provider=row.provider, size=SIZE[row.provider],
                                  count=1 if series else row.count, series=row.count if series else None,
                                  stream=row.stream)


def settings_for(row: Row):  # type: ignore[no-untyped-def]
    def overrides(base: str) -> dict[str, Any]:
        if not row.offline:
            return dict(row.settings)
        dead = closed_port_url()
        return {"ark_base_url": dead + "/api/v3", "gateway_base_url": dead, "visual_base_url": dead,
                "chanjing_base_url": dead} | row.settings

    return overrides


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Emulator]:
    async with emulator_server(**emulator_accounts(KEYS)) as emulator:
        yield emulator


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_every_fault_ends_in_a_clear_result_that_keeps_every_image_produced(row: Row, tmp_path: Path,
                                                                                  server: Emulator):
    async with rig(tmp_path, server, config=row.config, settings=settings_for(row),
                   stalls=[replace(s) for s in row.stalls]) as r:
        if row.hold:
            r.state.hold = asyncio.Event()
        for fault in row.faults:
            r.state.add_fault(replace(fault))
        generation = await r.service.generate(request_for(row), requester=ME)
        record = await r.service.get_job(generation.job_id)
        attempts = r.network.count(ROUTE_PATHS[row.route or row.provider])
        sleeps = list(r.time.sleeps)
        images_dir = r.settings.images_dir

    assert (generation.status, generation.error_kind) == (row.status, row.kind), generation.error
    assert attempts == row.attempts
    assert len(generation.images) == row.saved and all(decodable(i) for i in generation.images)
    assert [i.path for i in record.images] == [i.path for i in generation.images]
    assert all(i.sidecar_path is not None and i.sidecar_path.exists() for i in generation.images)
    assert [x.index for x in generation.failures] == list(row.failed) == [x.index for x in record.failures]
    assert record.status is row.status and record.error == generation.error
    assert leftovers(images_dir) == []
    if row.waited is not None:
        assert row.waited in sleeps
    messages = [m for m in [generation.error, *(x.message for x in generation.failures), *generation.notes] if m]
    if row.status is not OK:
        assert messages, "a fault must be explained"
    for message in messages:
        assert row.provider in message.lower(), message
    for words in row.says:
        assert any(words.lower() in m.lower() for m in messages), (words, messages)
