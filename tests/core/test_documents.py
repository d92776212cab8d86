"""Faithful to the user's provider documents (issue 11), row by row, through ``ImageService`` against the
emulator, with every request body on the wire recorded."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from core.emulator import EmulatorConfig, EmulatorState, Fault
from core.errors import ConfigurationError, InvalidRequestError
from core.factory import open_service
from core.http import HttpClient, RetryPolicy
from core.jobs import Requester
from core.providers.ark import ArkProvider
from core.requests import GenerateRequest, plan_request
from core.results import JobStatus
from core.sandbox import SANDBOX_ORIGIN, SANDBOX_VISUAL_SECRET, sandbox_mount
from core.service import ImageService
from core.settings import Settings
from core.settings_errors import read_settings
from tests.conftest import RecordingSleep, make_settings

ME = Requester(adapter="test", user_id="documents")
ENDPOINT = "ep-20250101000000-abcde"
PATHS = {"ark": "/api/v3/images/generations", "visual": "/", "chanjing": "/open/v1/ai_creation/task/submit",
         "gateway": "/v1/images/generations"}


class Recording(httpx2.AsyncBaseTransport):
    """The sandbox, with every request kept (the wire as the provider would see it)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    def bodies(self, provider: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.sent if r.method == "POST" and r.url.path == PATHS[provider]]


@dataclass
class Sandbox:
    emulator: EmulatorState
    wire: Recording
    tmp_path: Path
    http: HttpClient

    def service(self, **settings: Any):  # type: ignore[no-untyped-def]
        """``async with sandbox.service(**settings) as service``: the service over the recorded sandbox."""
        return open_service(make_settings(self.tmp_path, **settings), http=self.http)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    state = EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN, visual_secret_key=SANDBOX_VISUAL_SECRET,
                                         ark_endpoints={ENDPOINT: "doubao-seedream-3-0-t2i-250415"}))
    wire = Recording(sandbox_mount(state)[SANDBOX_ORIGIN])
    http = HttpClient.create(mounts={SANDBOX_ORIGIN: wire}, sleep=RecordingSleep(), retry=RetryPolicy(max_retries=3))
    try:
        yield Sandbox(state, wire, tmp_path, http)
    finally:
        await http.aclose()


def png(width: int = 64, height: int = 64) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 200)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def generate(service: ImageService, **fields: Any):  # type: ignore[no-untyped-def]
    return await service.generate(GenerateRequest.create(**({"prompt": "a red fox"} | fields)), requester=ME)


# -- Ark endpoint ids --------------------------------------------------------------------------------------------


async def test_an_unmapped_endpoint_id_is_sent_as_the_model_as_it_is_and_the_result_says_so_once(sandbox):
    async with sandbox.service() as service:
        generation = await generate(service, model=ENDPOINT)
    (body,) = sandbox.wire.bodies("ark")
    assert body["model"] == ENDPOINT
    # Nothing filled in that the endpoint's model might not take: no size, seed, group or stream fields.
    assert not {"size", "seed", "sequential_image_generation", "stream", "output_format"} & set(body)
    assert generation.status is JobStatus.SUCCEEDED and len(generation.images) == 1
    (note,) = generation.notes
    assert f"{ENDPOINT} is not in SEEDREAM_ARK_ENDPOINTS" in note and "sent as it is" in note
    async with sandbox.service() as service:
        assert (await service.get_job(generation.job_id)).notes == [note]  # kept with the job


async def test_a_mapped_endpoint_is_checked_as_its_model_before_any_call(sandbox):
    async with sandbox.service(ark_endpoints=f"{ENDPOINT}=seedream-3.0") as service:
        with pytest.raises(InvalidRequestError) as refused:
            await generate(service, model=ENDPOINT, series=2)
        generation = await generate(service, model=ENDPOINT, size="16:9")
    assert refused.value.field == "series" and "seedream-3.0" in refused.value.message
    (body,) = sandbox.wire.bodies("ark")  # only the valid request was sent
    assert (body["model"], body["size"]) == (ENDPOINT, "1024x576")
    assert generation.status is JobStatus.SUCCEEDED and generation.model == "seedream-3.0"
    assert generation.notes == []


# -- sizes and limits -------------------------------------------------------------------------------------------


async def test_seedream_3_on_ark_sends_the_sizes_of_its_document(sandbox):
    async with sandbox.service() as service:
        wide = await generate(service, model="seedream-3.0", size="16:9")
        default = await generate(service, model="seedream-3.0")
    assert [b["size"] for b in sandbox.wire.bodies("ark")] == ["1024x576", "1024x1024"]
    assert [(i.width, i.height) for i in wide.images + default.images] == [(1024, 576), (1024, 1024)]


async def test_seedream_4_with_eleven_references_is_refused_before_any_call_and_ten_are_sent(sandbox):
    async with sandbox.service() as service:
        with pytest.raises(InvalidRequestError) as refused:
            await generate(service, images=(png(),) * 11)
        assert sandbox.emulator.requests["ark"] == 0
        generation = await generate(service, images=(png(),) * 10)
    assert refused.value.field == "images" and "0–10" in refused.value.allowed
    (body,) = sandbox.wire.bodies("ark")
    assert len(body["image"]) == 10 and generation.status is JobStatus.SUCCEEDED


async def test_a_series_the_references_leave_less_room_for_is_clamped_and_said_once(sandbox):
    async with sandbox.service() as service:
        generation = await generate(service, prompt="a comic strip", series=15, images=(png(),) * 4, size="1K")
    (body,) = sandbox.wire.bodies("ark")
    assert body["sequential_image_generation_options"] == {"max_images": 11}
    assert len(generation.images) == 11 and generation.status is JobStatus.SUCCEEDED
    (note,) = generation.notes
    assert "up to 11" in note and "4 reference images" in note


async def test_the_gateway_never_asks_for_a_stream_and_gets_its_group_whole(sandbox):
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-gateway", series=3, size="2K")
        with pytest.raises(InvalidRequestError) as refused:
            await generate(service, provider="sandbox-gateway", series=3, stream=True)
    (body,) = sandbox.wire.bodies("gateway")
    assert "stream" not in body and body["n"] == 3
    assert len(generation.images) == 3 and refused.value.field == "stream"


# -- Chanjing ----------------------------------------------------------------------------------------------------


async def test_a_default_chanjing_generation_sends_the_model_code_its_document_fixes(sandbox):
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-chanjing")
    (body,) = sandbox.wire.bodies("chanjing")
    assert body["model_code"] == "doubao-seedream-3.0-t2i" and generation.status is JobStatus.SUCCEEDED


async def test_ordinary_symbols_reach_chanjing_and_succeed(sandbox):
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-chanjing", prompt="45° angle, © 2026")
    (body,) = sandbox.wire.bodies("chanjing")
    assert body["ref_prompt"] == "45° angle, © 2026" and generation.status is JobStatus.SUCCEEDED


async def test_an_emoji_is_refused_by_chanjing_itself_with_its_own_message(sandbox):
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-chanjing", prompt="a cat 🐱")
    assert len(sandbox.wire.bodies("chanjing")) == 1  # sent: refusing emoji is the provider's answer
    assert generation.status is JobStatus.FAILED and "50000" in generation.error and "emoji" in generation.error


async def test_chanjings_undocumented_codes_are_sent_only_after_opting_in_and_said_once(sandbox):
    async with sandbox.service() as service:
        with pytest.raises(InvalidRequestError):
            await generate(service, provider="sandbox-chanjing", model="seedream-4.0")
    async with sandbox.service(chanjing_undocumented_models=True) as service:
        generation = await generate(service, provider="sandbox-chanjing", model="seedream-4.0")
    (body,) = sandbox.wire.bodies("chanjing")
    assert body["model_code"] == "doubao-seedream-4.0" and generation.status is JobStatus.SUCCEEDED
    (note,) = generation.notes
    assert "not in Chanjing's document" in note


# -- Visual ------------------------------------------------------------------------------------------------------


async def test_a_visual_50511_then_success_saves_one_image_after_two_requests_with_a_fresh_seed(sandbox):
    sandbox.emulator.add_fault(Fault(provider="visual", code=50511))
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-visual")
    first, second = sandbox.wire.bodies("visual")
    assert generation.status is JobStatus.SUCCEEDED and len(generation.images) == 1
    assert first["seed"] != second["seed"] and generation.images[0].seed == second["seed"]
    assert sandbox.emulator.generated["visual"] == 1


async def test_a_visual_50511_with_a_pinned_seed_is_not_drawn_again_and_the_result_says_why(sandbox):
    sandbox.emulator.add_fault(Fault(provider="visual", code=50511))
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-visual", seed=42)
    assert len(sandbox.wire.bodies("visual")) == 1
    assert generation.status is JobStatus.FAILED and generation.error_kind == "content_rejected"
    assert "the seed 42 was pinned" in generation.error and "another seed" in generation.error


async def test_visual_prompt_expansion_and_logo_options_reach_the_wire(sandbox):
    logo = {"position": "top-left", "language": "en", "opacity": 0.8, "text": "Studio Fox"}
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-visual", prompt_mode="expand", watermark=True,
                                    logo=logo)
        with pytest.raises(InvalidRequestError) as no_watermark:
            await generate(service, provider="sandbox-visual", logo=logo)
        with pytest.raises(InvalidRequestError) as not_visual:
            await generate(service, watermark=True, logo=logo)
    (body,) = sandbox.wire.bodies("visual")
    assert body["use_pre_llm"] is True
    assert body["logo_info"] == {"add_logo": True, "position": 2, "language": 1, "opacity": 0.8,
                                 "logo_text_content": "Studio Fox"}
    assert generation.status is JobStatus.SUCCEEDED and generation.parameters["logo"]["text"] == "Studio Fox"
    assert no_watermark.value.field == "logo" and "watermark=true" in no_watermark.value.allowed
    assert not_visual.value.field == "logo" and "seedream-3.0 on visual" in not_visual.value.allowed


@pytest.mark.parametrize(("fields", "field"), [
    ({"logo": {"position": "middle"}}, "logo.position"), ({"logo": {"opacity": 1.5}}, "logo.opacity"),
    ({"logo": {"text": "x" * 51}}, "logo.text"), ({"prompt_mode": "turbo"}, "prompt_mode")])
async def test_a_bad_option_names_the_field_the_value_and_what_is_allowed(fields, field):
    with pytest.raises(InvalidRequestError) as refused:
        GenerateRequest.create(prompt="fox", **fields)
    assert refused.value.field == field and "Allowed:" in refused.value.message


async def test_a_prompt_mode_a_model_does_not_take_names_the_models_that_do():
    with pytest.raises(InvalidRequestError) as refused:
        await plan_request(GenerateRequest.create(prompt="fox", prompt_mode="expand"), default_provider="ark")
    assert refused.value.field == "prompt_mode" and "seedream-3.0 on visual (expand)" in refused.value.allowed
    assert "seedream-4.0 on ark (standard/fast)" in refused.value.allowed


# -- the Seedream 3.0 document's answer shape ------------------------------------------------------------------


async def test_an_answer_with_only_total_tokens_counts_the_images_it_carries():
    """The 3.0 document's response example, verbatim (its usage has no generated_images)."""
    example = {"model": "doubao_seedream_3_0_t2i_250415", "created": 1677,
               "data": [{"url": "https://ark.cn-beijing.volces.com/generated/xxxxx.png"}],
               "usage": {"total_tokens": 1}}
    http = HttpClient.create(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=example)))
    try:
        ark = ArkProvider(http=http, base_url="https://ark.cn-beijing.volces.com/api/v3", api_key="k")
        plan = await plan_request(GenerateRequest.create(prompt="一只可爱的小猫在花园里玩耍", model="seedream-3.0"),
                                  default_provider="ark")
        items = [item async for item in ark.generate(plan)]
    finally:
        await http.aclose()
    assert items[-1].generated_images == 1 and items[-1].total_tokens == 1  # type: ignore[union-attr]


# The Visual document's error table: "可重试" codes are retried (50511 as a new draw), "不需要" ones are not.
VISUAL_TABLE = [(50411, False), (50511, True), (50412, False), (50512, False), (50413, False), (50429, True),
                (50430, True), (50500, True), (50501, True)]


@pytest.mark.parametrize(("code", "retried"), VISUAL_TABLE, ids=[str(code) for code, _ in VISUAL_TABLE])
async def test_each_visual_code_is_retried_exactly_when_its_document_says_so(sandbox, code, retried):
    sandbox.emulator.add_fault(Fault(provider="visual", code=code))
    async with sandbox.service() as service:
        generation = await generate(service, provider="sandbox-visual")
    assert len(sandbox.wire.bodies("visual")) == (2 if retried else 1)
    assert generation.status is (JobStatus.SUCCEEDED if retried else JobStatus.FAILED)


def test_the_endpoint_map_is_read_from_its_variable_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv("SEEDREAM_ARK_ENDPOINTS", f"{ENDPOINT}=seedream-4.0, ep-other = 3.0")
    settings = read_settings(Settings, _env_file=None)
    assert settings.catalog.endpoints("ark") == {ENDPOINT: "seedream-4.0", "ep-other": "seedream-3.0"}
    for bad, says in (("ep-x=dall-e-3", "none of seedream-5.0-pro"), ("foo", "'foo' is not ep-…=MODEL")):
        monkeypatch.setenv("SEEDREAM_ARK_ENDPOINTS", bad)
        with pytest.raises(ConfigurationError) as refused:
            read_settings(Settings, _env_file=None)
        assert "SEEDREAM_ARK_ENDPOINTS" in refused.value.message and says in refused.value.message
