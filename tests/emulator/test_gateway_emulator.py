"""The OpenAI-compatible gateway route: name normalisation, its defaults, the ``n`` rewrite, ignored fields,
and Ark's errors relayed as ``upstream_error``."""

from __future__ import annotations

import asyncio
import base64

import pytest

from core.emulator import EmulatorConfig, Fault
from tests.emulator import ARK_PATH, AUTH, GATEWAY_PATH, decode, emulator, parse_sse, until


def gateway_body(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {"model": "doubao-seedream-4.0", "prompt": "a paper boat", "size": "1K"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("asked", "reported"), [
    ("doubao-seedream-4.5", "seedream-4-5-251128"), ("doubao-seedream-4-5-251128", "seedream-4-5-251128"),
    ("doubao-seedream-4.0", "seedream-4-0-250828"), ("doubao-seedream-4-0-250828", "seedream-4-0-250828"),
    ("bytedance-seedream-5.0", "bytedance-seedream-5.0"),
    ("doubao-seedream-3-0-t2i-250415", "seedream-3-0-t2i-250415")])
async def test_the_gateway_normalises_seedream_model_names(asked: str, reported: str) -> None:
    async with emulator() as (client, state):
        size = "1024x1024" if "3-0" in asked else "2048x2048"
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(model=asked, size=size))
        assert response.status_code == 200
        assert response.json()["model"] == reported
        assert state.requests["gateway"] == 1 and state.requests["ark"] == 0
        assert state.generated["gateway"] == 1


async def test_a_non_seedream_model_is_a_404_from_the_gateway_itself() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(model="dall-e-3"))
        error = response.json()["error"]
        assert response.status_code == 404
        assert (error["code"], error["param"], error["type"]) == ("model_not_found", "model", "invalid_request_error")


async def test_n_above_one_becomes_group_mode_with_n_as_the_ceiling() -> None:
    async with emulator() as (client, state):
        three = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(n=3))
        fewer = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(n=4, prompt="a set of 2 images"))
        assert len(three.json()["data"]) == 3 and three.json()["usage"]["generated_images"] == 3
        assert len(fewer.json()["data"]) == 2
        assert state.generated["gateway"] == 5


async def test_n_is_not_rewritten_when_the_group_mode_is_sent_explicitly() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH,
                                     json=gateway_body(n=3, sequential_image_generation="disabled"))
        assert len(response.json()["data"]) == 1


async def test_an_n_beyond_arks_range_comes_back_as_an_upstream_error() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(n=20))
        error = response.json()["error"]
        assert response.status_code == 400
        assert (error["param"], error["type"]) == ("sequential_image_generation_options.max_images", "upstream_error")


async def test_the_gateway_defaults_watermark_to_false_unlike_ark() -> None:
    async with emulator(EmulatorConfig(fixed_draw=7)) as (client, _):
        common = {"prompt": "same picture", "size": "1280x720", "response_format": "b64_json"}
        gateway = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(**common))
        ark_plain = await client.post(ARK_PATH, headers=AUTH, json={
            "model": "doubao-seedream-4-0-250828", "watermark": False, **common})
        ark_default = await client.post(ARK_PATH, headers=AUTH, json={"model": "doubao-seedream-4-0-250828", **common})
        images = [r.json()["data"][0]["b64_json"] for r in (gateway, ark_plain, ark_default)]
        assert images[0] == images[1] and images[0] != images[2]


@pytest.mark.parametrize(("model", "size"), [("doubao-seedream-4.0", "2048x2048"),
                                             ("doubao-seedream-3-0-t2i-250415", "1024x1024")])
async def test_the_gateway_fills_its_default_size_per_model(model: str, size: str) -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH,
                                     json=gateway_body(model=model, size=None, response_format="b64_json"))
        image = decode(base64.b64decode(response.json()["data"][0]["b64_json"]))
        assert "x".join(map(str, image.size)) == size


async def test_fields_the_gateway_ignores_are_accepted_and_have_no_effect() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(
            quality="hd", style="vivid", user="u-1", output_format="png", output_compression=80,
            background="transparent", moderation="low", response_format="b64_json"))
        assert response.status_code == 200
        assert decode(base64.b64decode(response.json()["data"][0]["b64_json"])).format == "JPEG"


async def test_a_response_format_other_than_url_or_b64_json_is_refused_by_the_gateway() -> None:
    async with emulator() as (client, state):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(response_format="file"))
        error = response.json()["error"]
        assert response.status_code == 400
        assert (error["param"], error["type"]) == ("response_format", "invalid_request_error")
        assert state.generated["gateway"] == 0


async def test_arks_validation_errors_come_back_as_upstream_errors_in_arks_envelope() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(seed=42))
        error = response.json()["error"]
        assert response.status_code == 400
        assert (error["code"], error["param"], error["type"]) == ("InvalidParameter", "seed", "upstream_error")
        assert "Request id: " in error["message"]


async def test_the_gateway_checks_its_own_keys() -> None:
    async with emulator(EmulatorConfig(gateway_api_keys=frozenset({"gw-key"}))) as (client, _):
        wrong = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body())
        right = await client.post(GATEWAY_PATH, headers={"Authorization": "Bearer gw-key"}, json=gateway_body())
        assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
        assert right.status_code == 200


async def test_the_gateway_streams_arks_events_when_asked() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body(stream=True, n=2))
        events = parse_sse(response.text)
        assert [e.event for e in events][-2:] == ["image_generation.completed", None]
        assert events[0].json()["model"] == "seedream-4-0-250828"


async def test_the_gateway_concurrency_cap_refuses_with_429_and_retry_after() -> None:
    async with emulator(EmulatorConfig(gateway_concurrency=1)) as (client, state):
        state.hold = asyncio.Event()
        first = asyncio.create_task(client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body()))
        await until(lambda: state.in_flight["gateway"] == 1)
        refused = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body())
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        state.hold.set()
        assert (await first).status_code == 200


async def test_a_scripted_gateway_fault_is_reported_as_an_upstream_error() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("gateway", status=500))
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=gateway_body())
        assert response.status_code == 500 and response.json()["error"]["type"] == "upstream_error"
