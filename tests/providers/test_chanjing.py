"""ChanjingProvider against the emulator: submit, poll, outcomes, retries and error mapping."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from PIL import Image
from starlette.applications import Starlette

from core.catalog import find_model
from core.emulator import EmulatorConfig, EmulatorState, Fault, create_app
from core.emulator.chanjing import ChanjingBackend
from core.errors import (
    AuthenticationError,
    ContentRejectedError,
    ProviderError,
    ProviderQuotaError,
    ProviderResponseError,
    ProviderTimeoutError,
    RateLimitedError,
)
from core.http import HttpClient
from core.providers.base import ImagePayload, ProviderItem, StatusUpdate
from core.providers.chanjing import ChanjingProvider
from core.requests import GenerateRequest, Plan, plan_request
from core.results import ImageFailure, Usage

BASE = "http://chanjing.test"
APP_ID, SECRET = "app-1234", "secret-abcdef"


class FakeTime:
    """A clock that only moves when the code under test sleeps; records every sleep."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class NetworkTransport(httpx2.AsyncBaseTransport):
    """The emulator behind a network: each request takes a few event-loop turns, so concurrent callers
    really interleave (a bare ASGITransport may run a whole request without ever yielding)."""

    def __init__(self, app: Starlette, *, turns: tuple[int, ...] = (3,)) -> None:
        self._inner = httpx2.ASGITransport(app=app)
        self._turns = itertools.cycle(turns)  # uneven turns: some requests overtake others

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        for _ in range(next(self._turns)):
            await asyncio.sleep(0)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Harness:
    app: Starlette
    state: EmulatorState
    http: HttpClient
    time: FakeTime
    backend: ChanjingBackend

    def provider(self, **overrides: Any) -> ChanjingProvider:
        options: dict[str, Any] = dict(http=self.http, base_url=BASE, app_id=APP_ID, secret_key=SECRET,
                                       sleep=self.time.sleep, clock=self.time, wall_clock=self.time)
        return ChanjingProvider(**(options | overrides))


@asynccontextmanager
async def chanjing(*, turns: tuple[int, ...] = (3,), **config: Any) -> AsyncIterator[Harness]:
    time = FakeTime()
    config.setdefault("chanjing_app_id", APP_ID)
    config.setdefault("chanjing_secret_key", SECRET)
    app = create_app(EmulatorConfig(clock=time, **config))
    http = HttpClient.create(transport=NetworkTransport(app, turns=turns), sleep=time.sleep)
    backend = next(r.endpoint.__self__ for r in app.routes
                   if getattr(r, "path", "") == "/open/v1/access_token")
    try:
        yield Harness(app, app.state.emulator, http, time, backend)
    finally:
        await http.aclose()


async def make_plan(prompt: str = "a lighthouse at dusk", **fields: Any) -> Plan:
    request = dict(prompt=prompt, provider="chanjing", model="seedream-4.0", size="2K", aspect_ratio="16:9",
                   count=2) | fields
    return await plan_request(GenerateRequest.create(**request), default_provider="chanjing")


async def collect(provider: ChanjingProvider, plan: Plan) -> list[ProviderItem]:
    return [item async for item in provider.generate(plan)]


def secrets_absent(error: BaseException, harness: Harness) -> bool:
    text = str(error)
    return SECRET not in text and all(token not in text for token in harness.backend.tokens)


async def test_a_task_is_polled_through_queued_and_generating_to_success_with_every_image() -> None:
    async with chanjing() as h:
        items = await collect(h.provider(), await make_plan())

        statuses = [i.message for i in items if isinstance(i, StatusUpdate)]
        assert statuses == ["Queued", "Generating", "Success"]
        payloads = [i for i in items if isinstance(i, ImagePayload)]
        assert [p.index for p in payloads] == [0, 1]
        assert items[-1] == Usage(generated_images=2)
        served = [h.state.files[p.url.rsplit("/", 1)[1].split(".")[0]] for p in payloads if p.url]
        assert [Image.open(io.BytesIO(f.data)).size for f in served] == [(2848, 1600), (2848, 1600)]
        (task,) = h.backend.tasks.values()
        assert task.params | {"ref_prompt": "-"} == {
            "model_code": "doubao-seedream-4.0", "ref_prompt": "-", "aspect_ratio": "16:9", "clarity": 2048,
            "number_of_images": 2, "ref_img_url": []}
        assert h.state.requests["chanjing"] == 1


async def test_polls_start_at_the_poll_interval_and_back_off_gently_up_to_ten_seconds() -> None:
    async with chanjing(chanjing_queued_polls=3, chanjing_generating_polls=6) as h:
        await collect(h.provider(poll_interval=4.0), await make_plan(count=1))

        assert h.time.sleeps[:3] == [4.0, 5.0, 6.25]
        assert max(h.time.sleeps) == 10.0
        assert h.state.requests["chanjing.query"] == 10


async def test_the_tier_and_ratio_become_clarity_and_aspect_ratio_and_urls_become_ref_img_url() -> None:
    async with chanjing() as h:
        plan = await make_plan(size="1K", aspect_ratio="3:4", count=1,
                               images=("https://example.com/a.png", "https://example.com/b.jpg"))
        await collect(h.provider(), plan)

        (task,) = h.backend.tasks.values()
        assert (task.params["clarity"], task.params["aspect_ratio"]) == (1024, "3:4")
        assert task.params["ref_img_url"] == ["https://example.com/a.png", "https://example.com/b.jpg"]


async def test_a_task_refused_by_moderation_raises_content_rejected_naming_the_task() -> None:
    async with chanjing() as h:
        with pytest.raises(ContentRejectedError) as caught:
            await collect(h.provider(), await make_plan("a forbidden scene"))

        (task_id,) = h.backend.tasks
        assert task_id in caught.value.message and "审核" in caught.value.message
        assert h.state.requests["chanjing"] == 1


async def test_a_failed_task_without_images_raises_a_provider_error_that_is_not_retryable() -> None:
    async with chanjing() as h:
        with pytest.raises(ProviderError) as caught:
            await collect(h.provider(), await make_plan("a castle [fail:0]"))

        assert caught.value.code == "Fail" and caught.value.retryable is False
        assert not isinstance(caught.value, ContentRejectedError)
        assert h.state.requests["chanjing"] == 1


async def test_a_failed_task_with_some_images_yields_them_and_reports_the_missing_ones() -> None:
    async with chanjing() as h:
        items = await collect(h.provider(), await make_plan("a castle [fail:1]"))

        assert [type(i) for i in items[-3:]] == [ImagePayload, ImageFailure, Usage]
        failure = items[-2]
        assert isinstance(failure, ImageFailure) and failure.index == 1 and failure.kind == "provider_error"
        assert items[-1] == Usage(generated_images=1)


async def test_a_partly_moderated_group_reports_the_missing_image_as_content_rejected() -> None:
    async with chanjing() as h:
        items = await collect(h.provider(), await make_plan("a harbour [refuse:0]", count=3))

        assert [i.index for i in items if isinstance(i, ImagePayload)] == [0, 1]
        (failure,) = [i for i in items if isinstance(i, ImageFailure)]
        assert (failure.index, failure.kind) == (2, "content_rejected")


async def test_a_stuck_task_times_out_at_the_deadline_without_being_submitted_again() -> None:
    async with chanjing() as h:
        h.state.hold = asyncio.Event()
        start = h.time.now
        with pytest.raises(ProviderTimeoutError) as caught:
            await collect(h.provider(deadline=60.0), await make_plan())

        (task_id,) = h.backend.tasks
        assert task_id in caught.value.message and "may still finish" in caught.value.message
        assert caught.value.request_id == task_id
        assert "Generating" in caught.value.message
        assert h.state.requests["chanjing"] == 1
        assert h.time.now - start == pytest.approx(60.0, abs=0.01)
        assert max(h.time.sleeps) <= 10.0


async def test_a_poll_hit_by_an_internal_error_is_retried_because_polling_is_idempotent() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="query", code=50000))
        items = await collect(h.provider(), await make_plan())

        assert items[-1] == Usage(generated_images=2)
        assert h.state.requests["chanjing.query"] == 4


async def test_a_malformed_or_cut_poll_answer_is_survived_and_polling_goes_on() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="query", kind="malformed"))
        h.state.add_fault(Fault("chanjing", route="query", kind="reset"))
        items = await collect(h.provider(), await make_plan())

        assert items[-1] == Usage(generated_images=2)


async def test_a_qps_refusal_of_the_submit_is_retried_and_the_task_is_created_once() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="submit", code=40001))
        items = await collect(h.provider(), await make_plan())

        assert items[-1] == Usage(generated_images=2)
        assert h.state.requests["chanjing"] == 2 and len(h.backend.tasks) == 1


async def test_the_real_qps_window_is_waited_out_by_retrying() -> None:
    async with chanjing(chanjing_qps=1) as h:
        provider = h.provider()
        plan = await make_plan(count=1)
        results = await asyncio.gather(collect(provider, plan), collect(provider, plan))

        assert all(r[-1] == Usage(generated_images=1) for r in results)
        assert len(h.backend.tasks) == 2


async def test_a_qps_refusal_that_never_ends_raises_rate_limited() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="submit", code=40001, times=10))
        with pytest.raises(RateLimitedError):
            await collect(h.provider(), await make_plan())

        assert h.state.requests["chanjing"] == 1 + h.http.retry.max_retries
        assert not h.backend.tasks


async def test_a_billing_refusal_raises_quota_exceeded_telling_the_user_to_top_up() -> None:
    async with chanjing(chanjing_credits=1) as h:
        with pytest.raises(ProviderQuotaError) as caught:
            await collect(h.provider(), await make_plan(count=2))

        assert caught.value.provider == "chanjing" and "top up" in caught.value.message
        assert "蝉豆不足" in caught.value.message
        assert h.state.requests["chanjing"] == 1


async def test_a_billing_message_under_any_code_is_a_quota_error() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="submit", code=50000, message="扣费失败"))
        with pytest.raises(ProviderQuotaError):
            await collect(h.provider(), await make_plan())


@pytest.mark.parametrize("code", [400, 40000])
async def test_a_parameter_error_is_not_retried_and_names_the_providers_message(code: int) -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="submit", code=code, message="参数错误: clarity 不合法"))
        with pytest.raises(ProviderError) as caught:
            await collect(h.provider(), await make_plan())

        error = caught.value
        assert (error.status, error.code, error.retryable) == (400, str(code), False)
        assert "clarity 不合法" in error.message and "Chanjing" in error.message
        assert h.state.requests["chanjing"] == 1


async def test_an_emoji_prompt_gets_50000_from_the_service_and_the_submit_is_not_retried() -> None:
    async with chanjing() as h:
        plan = await make_plan()
        emoji_plan = dataclasses.replace(plan, request=plan.request.model_copy(update={"prompt": "a cat 🐱"}))
        with pytest.raises(ProviderError) as caught:
            await collect(h.provider(), emoji_plan)

        assert (caught.value.code, caught.value.retryable) == ("50000", False)
        assert "emoji" in caught.value.message
        assert h.state.requests["chanjing"] == 1 and not h.backend.tasks


async def test_reference_urls_on_seedream_3_are_refused_by_the_service() -> None:
    async with chanjing() as h:
        plan = await make_plan(images=("https://example.com/a.png",))
        t2i_plan = dataclasses.replace(plan, model=find_model("chanjing", "seedream-3.0"))
        with pytest.raises(ProviderError) as caught:
            await collect(h.provider(), t2i_plan)

        assert caught.value.code == "40000" and "ref_img_url" in caught.value.message
        assert not h.backend.tasks


async def test_an_http_503_on_submit_is_retried_but_a_502_is_not_as_it_may_have_reached_chanjing() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="submit", status=503))
        await collect(h.provider(), await make_plan())
        assert h.state.requests["chanjing"] == 2

        h.state.add_fault(Fault("chanjing", route="submit", status=502))
        with pytest.raises(ProviderError) as caught:
            await collect(h.provider(), await make_plan())
        assert caught.value.status == 502 and h.state.requests["chanjing"] == 3


async def test_a_connection_reset_during_submit_is_not_resent() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="submit", kind="reset"))
        with pytest.raises(ProviderResponseError):
            await collect(h.provider(), await make_plan())

        assert h.state.requests["chanjing"] == 1


async def test_wrong_credentials_raise_an_authentication_error_naming_the_variables_not_the_secret() -> None:
    async with chanjing() as h:
        with pytest.raises(AuthenticationError) as caught:
            await collect(h.provider(secret_key="wrong-secret-value"), await make_plan())

        assert "CHANJING_SECRET_KEY" in caught.value.message
        assert "wrong-secret-value" not in str(caught.value)
        assert h.state.requests["chanjing"] == 0


async def test_errors_never_show_the_token_or_the_secret() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="query", code=10400, times=2))
        with pytest.raises(AuthenticationError) as caught:
            await collect(h.provider(), await make_plan())

        assert secrets_absent(caught.value, h)
