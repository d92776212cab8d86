"""The Volcengine Visual provider against the emulator (real HTTP in-process), and against odd answers."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from PIL import Image, ImageChops, ImageStat

from core.emulator import EmulatorConfig, EmulatorState, Fault, create_app
from core.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentRejectedError,
    PermissionDeniedError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
)
from core.http import HttpClient, RetryPolicy
from core.providers.base import ImagePayload
from core.providers.visual import VisualProvider
from core.requests import GenerateRequest, Plan, plan_request
from core.results import Usage

BASE = "http://visual.test"
NOW = 1_760_000_000.0  # the emulator's (frozen) clock
AK, SK = "AKLTtestaccesskey", "test-secret-key-value"


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes requests to the emulator and keeps them, so tests can see what went on the wire."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@dataclass
class Rig:
    state: EmulatorState
    provider: VisualProvider
    transport: RecordingTransport
    delays: list[float] = field(default_factory=list)


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def config(clock: list[float]) -> EmulatorConfig:
    return EmulatorConfig(clock=lambda: clock[0], visual_secret_key=SK, public_base_url=BASE)


@pytest.fixture
async def rig(config: EmulatorConfig, clock: list[float]) -> AsyncIterator[Rig]:
    async with _rig(config, clock) as built:
        yield built


class _rig:  # noqa: N801 - used like a function
    def __init__(self, config: EmulatorConfig, clock: list[float], *, secret: str = SK, access: str = AK,
                 sleep: Callable[[Rig, float], Any] | None = None,
                 signing_clock: Callable[[], datetime] | None = None) -> None:
        self.config, self.clock, self.secret, self.access = config, clock, secret, access
        self.sleep, self.signing_clock = sleep, signing_clock

    async def __aenter__(self) -> Rig:
        state = EmulatorState(self.config)
        transport = RecordingTransport(httpx2.ASGITransport(app=create_app(state=state)))

        async def sleep(delay: float) -> None:
            rig.delays.append(delay)
            if self.sleep is not None:
                await self.sleep(rig, delay)

        self.http = HttpClient.create(transport=transport, sleep=sleep, retry=RetryPolicy(max_retries=3))
        signing_clock = self.signing_clock or (lambda: datetime.fromtimestamp(self.clock[0], UTC))
        provider = VisualProvider(http=self.http, base_url=BASE, access_key=self.access, secret_key=self.secret,
                                  clock=signing_clock)
        rig = Rig(state=state, provider=provider, transport=transport)
        return rig

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()


async def _plan(prompt: str = "a lighthouse at dawn", **fields: Any) -> Plan:
    fields = {"provider": "visual", "size": "1472x1104", "seed": 5, "guidance": 3, **fields}
    return await plan_request(GenerateRequest.create(prompt=prompt, **fields), default_provider="visual")


async def _collect(provider: VisualProvider, plan: Plan) -> list[Any]:
    return [item async for item in provider.generate(plan)]


def _image(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


async def test_a_url_answer_yields_the_published_image_of_the_asked_size_then_usage(rig: Rig) -> None:
    items = await _collect(rig.provider, await _plan())
    assert len(items) == 2
    payload, usage = items
    assert isinstance(payload, ImagePayload) and payload.b64 is None
    assert payload.index == 0 and payload.size == "1472x1104" and payload.seed == 5
    assert payload.url is not None and payload.url.startswith(f"{BASE}/emulator/files/")
    token = payload.url.rsplit("/", 1)[1].split(".")[0]
    assert _image(rig.state.files[token].data).size == (1472, 1104)
    assert usage == Usage(generated_images=1)
    assert rig.state.generated["visual"] == 1


async def test_a_b64_answer_yields_decodable_image_bytes(rig: Rig) -> None:
    items = await _collect(rig.provider, await _plan(response_format="b64_json", size="1664x936"))
    payload = items[0]
    assert isinstance(payload, ImagePayload) and payload.url is None and payload.b64
    assert _image(base64.b64decode(payload.b64)).size == (1664, 936)
    assert rig.transport.bodies()[0]["return_url"] is False


async def test_the_plan_maps_to_the_documented_body_with_every_default_sent(rig: Rig) -> None:
    await _collect(rig.provider, await _plan())
    assert rig.transport.bodies() == [{
        "req_key": "high_aes_general_v30l_zt2i", "prompt": "a lighthouse at dawn", "use_pre_llm": False,
        "seed": 5, "scale": 3.0, "width": 1472, "height": 1104, "return_url": True,
        "logo_info": {"add_logo": False, "position": 0, "language": 0, "opacity": 0.3},
    }]
    sent = rig.transport.requests[0]
    assert sent.method == "POST" and str(sent.url) == f"{BASE}/?Action=CVProcess&Version=2022-08-31"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"].startswith(f"HMAC-SHA256 Credential={AK}/")


async def test_no_seed_and_no_guidance_send_random_seed_and_the_default_scale(rig: Rig) -> None:
    items = await _collect(rig.provider, await _plan(seed=None, guidance=None, size=None))
    body = rig.transport.bodies()[0]
    assert (body["seed"], body["scale"], body["width"], body["height"]) == (-1, 2.5, 1328, 1328)
    assert items[0].seed is None


async def test_watermark_asks_for_the_logo_and_the_image_gets_a_visible_corner_mark(rig: Rig) -> None:
    plain = await _collect(rig.provider, await _plan(response_format="b64_json"))
    marked = await _collect(rig.provider, await _plan(response_format="b64_json", watermark=True))
    assert rig.transport.bodies()[1]["logo_info"]["add_logo"] is True
    one, two = (_image(base64.b64decode(items[0].b64)).convert("L") for items in (plain, marked))
    width, height = one.size

    def difference(box: tuple[int, int, int, int]) -> float:
        return ImageStat.Stat(ImageChops.difference(one.crop(box), two.crop(box))).mean[0]

    assert difference((width - 120, height - 60, width - 40, height - 30)) > 20  # bottom-right: the mark
    assert difference((0, 0, 200, 200)) < 3  # elsewhere only re-encoding noise


async def test_a_wrong_secret_is_an_authentication_error_after_one_attempt(config, clock) -> None:
    async with _rig(config, clock, secret="not-the-secret") as rig:
        with pytest.raises(AuthenticationError) as caught:
            await _collect(rig.provider, await _plan())
    error = caught.value
    assert error.code == "SignatureDoesNotMatch" and error.status == 401 and error.retryable is False
    assert "VOLC_ACCESSKEY" in error.message and "VOLC_SECRETKEY" in error.message
    assert "not-the-secret" not in error.message and AK not in error.message
    assert rig.state.requests["visual"] == 1 and rig.delays == []


async def test_an_unknown_access_key_is_an_authentication_error(config, clock) -> None:
    config.visual_access_key = "AKLTsomeoneelse"
    async with _rig(config, clock) as rig:
        with pytest.raises(AuthenticationError) as caught:
            await _collect(rig.provider, await _plan())
    assert caught.value.code == "InvalidAccessKey" and rig.state.requests["visual"] == 1


async def test_a_clock_off_by_twenty_minutes_is_reported_as_a_clock_problem(config, clock) -> None:
    late = lambda: datetime.fromtimestamp(NOW, UTC) - timedelta(minutes=20)  # noqa: E731
    async with _rig(config, clock, signing_clock=late) as rig:
        with pytest.raises(AuthenticationError) as caught:
            await _collect(rig.provider, await _plan())
    assert caught.value.code == "InvalidTimestamp" and "clock" in caught.value.message


async def test_every_attempt_is_signed_afresh(config, clock) -> None:
    times = iter([datetime.fromtimestamp(NOW, UTC), datetime.fromtimestamp(NOW + 600, UTC)])
    async with _rig(config, clock, signing_clock=lambda: next(times)) as rig:
        rig.state.add_fault(Fault(provider="visual", code=50500))
        items = await _collect(rig.provider, await _plan())
    assert isinstance(items[0], ImagePayload)
    dates = [r.headers["x-date"] for r in rig.transport.requests]
    assert len(dates) == 2 and dates[0] != dates[1]


@pytest.mark.parametrize(("code", "error_type"), [
    (50429, RateLimitedError), (50430, RateLimitedError),
    (50500, ProviderUnavailableError), (50501, ProviderUnavailableError),
])
async def test_transient_business_codes_are_retried_until_success(rig: Rig, code: int, error_type: type) -> None:
    rig.state.add_fault(Fault(provider="visual", code=code, times=2))
    items = await _collect(rig.provider, await _plan())
    assert isinstance(items[0], ImagePayload)
    assert rig.state.requests["visual"] == 3 and len(rig.delays) == 2


@pytest.mark.parametrize(("code", "error_type"), [
    (50429, RateLimitedError), (50430, RateLimitedError),
    (50500, ProviderUnavailableError), (50501, ProviderUnavailableError),
])
async def test_transient_business_codes_give_up_after_the_retry_budget(rig: Rig, code: int,
                                                                      error_type: type) -> None:
    rig.state.add_fault(Fault(provider="visual", code=code, times=10))
    with pytest.raises(error_type) as caught:
        await _collect(rig.provider, await _plan())
    assert caught.value.code == str(code) and "Volcengine Visual" in caught.value.message
    assert rig.state.requests["visual"] == 4 and len(rig.delays) == 3


async def test_retry_after_is_honoured(rig: Rig) -> None:
    rig.state.add_fault(Fault(provider="visual", code=50429, retry_after=7))
    await _collect(rig.provider, await _plan())
    assert rig.delays == [7.0]


@pytest.mark.parametrize("code", [50411, 50412, 50413, 50512])
async def test_moderation_codes_are_content_rejections_and_never_retried(rig: Rig, code: int) -> None:
    rig.state.add_fault(Fault(provider="visual", code=code, times=5))
    with pytest.raises(ContentRejectedError) as caught:
        await _collect(rig.provider, await _plan())
    assert caught.value.code == str(code) and caught.value.provider == "visual"
    assert rig.state.requests["visual"] == 1 and rig.delays == []


async def test_a_blocked_word_in_the_prompt_is_refused_once(rig: Rig) -> None:
    with pytest.raises(ContentRejectedError) as caught:
        await _collect(rig.provider, await _plan("a forbidden castle"))
    assert caught.value.code == "50412" and "rephrase" in caught.value.message
    assert rig.state.requests["visual"] == 1 and rig.state.generated["visual"] == 0


async def test_an_output_refusal_with_a_random_seed_is_retried_and_can_succeed(rig: Rig) -> None:
    rig.state.add_fault(Fault(provider="visual", code=50511))
    items = await _collect(rig.provider, await _plan(seed=None))
    assert isinstance(items[0], ImagePayload)
    assert rig.state.requests["visual"] == 2 and rig.state.generated["visual"] == 1


async def test_an_output_refusal_that_persists_ends_as_a_content_rejection(rig: Rig) -> None:
    with pytest.raises(ContentRejectedError) as caught:
        await _collect(rig.provider, await _plan("a ship [refuse:0]", seed=None))
    assert caught.value.code == "50511"
    assert rig.state.requests["visual"] == 4 and rig.state.generated["visual"] == 0


async def test_an_output_refusal_with_a_fixed_seed_is_not_retried(rig: Rig) -> None:
    with pytest.raises(ContentRejectedError) as caught:
        await _collect(rig.provider, await _plan("a ship [refuse:0]", seed=5))
    assert "another seed" in caught.value.message
    assert rig.state.requests["visual"] == 1 and rig.delays == []


async def test_the_concurrency_cap_is_retried_until_a_slot_frees(config, clock) -> None:
    config.visual_concurrency = 1

    async def free_the_slot(rig: Rig, _delay: float) -> None:
        assert rig.state.hold is not None
        rig.state.hold.set()
        await first  # the held request finishes before the retry goes out

    async with _rig(config, clock, sleep=free_the_slot) as rig:
        rig.state.hold = asyncio.Event()
        first = asyncio.create_task(_collect(rig.provider, await _plan("first")))
        while rig.state.requests["visual"] < 1:
            await asyncio.sleep(0)
        for _ in range(20):  # let it reach the hold
            await asyncio.sleep(0)
        second = await _collect(rig.provider, await _plan("second"))
        assert isinstance((await first)[0], ImagePayload) and isinstance(second[0], ImagePayload)
    assert rig.state.requests["visual"] == 3 and len(rig.delays) == 1
    assert rig.state.generated["visual"] == 2


async def test_the_qps_cap_is_retried_once_the_second_has_passed(config, clock) -> None:
    config.visual_qps = 1

    async def tick(_rig: Rig, delay: float) -> None:
        clock[0] += 1.0

    async with _rig(config, clock, sleep=tick) as rig:
        await _collect(rig.provider, await _plan("one"))
        await _collect(rig.provider, await _plan("two"))
    assert rig.state.requests["visual"] == 3 and len(rig.delays) == 1


@pytest.mark.parametrize("kind", ["malformed", "truncate", "reset"])
async def test_a_broken_answer_is_a_response_error_and_the_post_is_not_resent(rig: Rig, kind: str) -> None:
    rig.state.add_fault(Fault(provider="visual", kind=kind))  # type: ignore[arg-type]
    with pytest.raises(ProviderResponseError) as caught:
        await _collect(rig.provider, await _plan())
    assert "Volcengine Visual" in caught.value.message or "visual" in caught.value.message
    assert rig.state.requests["visual"] == 1 and rig.delays == []


async def test_a_gateway_access_denial_names_the_permission_to_grant(rig: Rig) -> None:
    rig.state.add_fault(Fault(provider="visual", code="AccessDenied"))
    with pytest.raises(PermissionDeniedError) as caught:
        await _collect(rig.provider, await _plan())
    assert caught.value.status == 403 and "permission" in caught.value.message


def test_missing_keys_are_a_configuration_error_naming_the_variables() -> None:
    http = HttpClient(httpx2.AsyncClient())
    with pytest.raises(ConfigurationError) as caught:
        VisualProvider(http=http, access_key="", secret_key=SK)
    assert caught.value.variables == ("VOLC_ACCESSKEY", "VOLC_SECRETKEY")


def test_the_keys_never_show_in_the_repr() -> None:
    provider = VisualProvider(http=HttpClient(httpx2.AsyncClient()), access_key=AK, secret_key=SK)
    assert AK not in repr(provider) and SK not in repr(provider)


# Answers the emulator never gives, through a fake of the outside world at the transport edge.

async def _against(handler: Callable[[httpx2.Request], httpx2.Response]) -> tuple[Exception, int]:
    calls = 0

    def counted(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return handler(request)

    async def no_wait(_delay: float) -> None:
        return None

    http = HttpClient.create(transport=httpx2.MockTransport(counted), sleep=no_wait)
    provider = VisualProvider(http=http, base_url=BASE, access_key=AK, secret_key=SK)
    try:
        with pytest.raises(ProviderError) as caught:
            await _collect(provider, await _plan())
    finally:
        await http.aclose()
    return caught.value, calls


async def test_a_success_code_without_images_is_a_response_error() -> None:
    body = {"code": 10000, "message": "Success", "request_id": "r1", "status": 10000, "time_elapsed": "1s",
            "data": {"binary_data_base64": [], "image_urls": [], "algorithm_base_resp": {"status_code": 0}}}
    error, calls = await _against(lambda _r: httpx2.Response(200, json=body))
    assert isinstance(error, ProviderResponseError) and error.request_id == "r1" and calls == 1


async def test_a_non_json_success_is_a_response_error_without_the_raw_body() -> None:
    error, calls = await _against(lambda _r: httpx2.Response(200, text="<html>secret page</html>"))
    assert isinstance(error, ProviderResponseError) and "secret page" not in error.message and calls == 1


async def test_an_html_bad_gateway_is_unavailable_and_retried() -> None:
    error, calls = await _against(lambda _r: httpx2.Response(502, text="<html>502 Bad Gateway</html>"))
    assert isinstance(error, ProviderUnavailableError) and calls == 4


async def test_an_undocumented_business_code_is_not_retried_and_names_the_code() -> None:
    body = {"code": 50215, "message": "Input invalid for this service.", "request_id": "r2", "status": 50215,
            "time_elapsed": "1ms", "data": None}
    error, calls = await _against(lambda _r: httpx2.Response(400, json=body))
    assert type(error) is RequestRejectedError and error.kind == "request_rejected" and error.code == "50215"
    assert "50215" in error.message and calls == 1
