"""The Ark route when things go wrong: moderation, partial groups, authentication, account caps, slow
generation and scripted faults."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from core.emulator import EmulatorConfig, Fault
from tests.emulator import ARK_PATH, AUTH, FakeClock, ark_body, emulator, parse_sse, until

GROUP_OF_3 = {"sequential_image_generation": "auto", "sequential_image_generation_options": {"max_images": 3}}


async def test_a_refused_image_is_an_error_item_and_the_group_goes_on() -> None:
    async with emulator() as (client, state):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(prompt="cats [refuse:1]", **GROUP_OF_3))
        body = response.json()
        assert response.status_code == 200
        assert "url" in body["data"][0] and "url" in body["data"][2]
        assert body["data"][1] == {"error": {"code": "OutputImageSensitiveContentDetected",
                                             "message": body["data"][1]["error"]["message"]}}
        assert body["usage"]["generated_images"] == 2 and state.generated["ark"] == 2


async def test_a_refused_image_in_a_stream_is_a_partial_failed_event_and_the_stream_completes() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH,
                                     json=ark_body(prompt="cats [refuse:1]", stream=True, **GROUP_OF_3))
        events = parse_sse(response.text)
        assert [e.event for e in events] == [
            "image_generation.partial_succeeded", "image_generation.partial_failed",
            "image_generation.partial_succeeded", "image_generation.completed", None]
        failed = events[1].json()
        assert failed["image_index"] == 1 and failed["error"]["code"] == "OutputImageSensitiveContentDetected"
        assert events[3].json()["usage"]["generated_images"] == 2


async def test_an_internal_failure_stops_the_rest_of_the_group_but_keeps_what_was_made() -> None:
    async with emulator() as (client, state):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(prompt="cats [fail:1]", **GROUP_OF_3))
        body = response.json()
        assert response.status_code == 200 and len(body["data"]) == 2
        assert body["data"][1]["error"]["code"] == "InternalServiceError"
        assert body["usage"]["generated_images"] == 1 and state.generated["ark"] == 1


async def test_an_internal_failure_of_the_first_image_is_a_top_level_500_even_when_streaming() -> None:
    async with emulator() as (client, _):
        for stream in (False, True):
            response = await client.post(ARK_PATH, headers=AUTH,
                                         json=ark_body(prompt="[fail:0]", stream=stream, **GROUP_OF_3))
            assert response.status_code == 500
            assert response.json()["error"]["code"] == "InternalServiceError"


async def test_a_single_refused_image_is_a_top_level_moderation_error() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(prompt="[refuse:0]"))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "OutputImageSensitiveContentDetected"


async def test_a_stream_that_produces_nothing_ends_with_an_error_frame_and_no_done() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH,
                                     json=ark_body(prompt="[refuse:0] [fail:1]", stream=True, **GROUP_OF_3))
        events = parse_sse(response.text)
        assert [e.event for e in events] == ["image_generation.partial_failed",
                                             "image_generation.partial_failed", "error"]
        assert events[-1].json()["error"]["code"] == "InternalServiceError"


@pytest.mark.parametrize(("keys", "header"), [
    (None, None), (None, "Bearer "), (None, "Basic dGVzdA=="), (frozenset({"right"}), "Bearer wrong")])
async def test_a_missing_or_wrong_key_is_a_401_authentication_error(keys: frozenset[str] | None,
                                                                    header: str | None) -> None:
    async with emulator(EmulatorConfig(ark_api_keys=keys)) as (client, state):
        headers = {"Authorization": header} if header else {}
        response = await client.post(ARK_PATH, headers=headers, json=ark_body())
        error = response.json()["error"]
        assert response.status_code == 401
        assert (error["code"], error["type"]) == ("AuthenticationError", "Unauthorized")
        assert state.requests["ark"] == 1 and state.generated["ark"] == 0


async def test_a_configured_key_is_accepted() -> None:
    async with emulator(EmulatorConfig(ark_api_keys=frozenset({"right"}))) as (client, _):
        response = await client.post(ARK_PATH, headers={"Authorization": "Bearer right"}, json=ark_body())
        assert response.status_code == 200


async def test_a_held_request_counts_as_in_flight_and_the_concurrency_cap_refuses_the_next() -> None:
    async with emulator(EmulatorConfig(ark_concurrency=1)) as (client, state):
        state.hold = asyncio.Event()
        first = asyncio.create_task(client.post(ARK_PATH, headers=AUTH, json=ark_body()))
        await until(lambda: state.in_flight["ark"] == 1)
        refused = await client.post(ARK_PATH, headers=AUTH, json=ark_body())
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "InflightBatchsizeExceeded"
        assert state.generated["ark"] == 0
        state.hold.set()
        assert (await first).status_code == 200
        assert state.in_flight["ark"] == 0
        assert (await client.post(ARK_PATH, headers=AUTH, json=ark_body())).status_code == 200


async def test_a_finished_stream_gives_its_slot_back() -> None:
    async with emulator(EmulatorConfig(ark_concurrency=1)) as (client, state):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(stream=True))
        assert response.status_code == 200 and state.in_flight["ark"] == 0


async def test_images_per_minute_are_counted_in_a_sliding_window_with_retry_after() -> None:
    clock = FakeClock()
    async with emulator(EmulatorConfig(ark_images_per_minute=3, clock=clock)) as (client, _):
        assert (await client.post(ARK_PATH, headers=AUTH, json=ark_body())).status_code == 200
        clock.now += 20
        group = ark_body(sequential_image_generation="auto", sequential_image_generation_options={"max_images": 2})
        assert (await client.post(ARK_PATH, headers=AUTH, json=group)).status_code == 200
        clock.now += 10
        refused = await client.post(ARK_PATH, headers=AUTH, json=ark_body())
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "ModelAccountIpmRateLimitExceeded"
        assert refused.headers["retry-after"] == "30"  # the first image leaves the window at +60 s
        clock.now += 30
        assert (await client.post(ARK_PATH, headers=AUTH, json=ark_body())).status_code == 200


async def test_a_scripted_error_answers_with_its_status_code_and_retry_after_then_is_used_up() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark", status=429, code="ModelAccountRpmRateLimitExceeded", retry_after=7, times=2))
        for _ in range(2):
            response = await client.post(ARK_PATH, headers=AUTH, json=ark_body())
            assert response.status_code == 429 and response.headers["retry-after"] == "7"
            assert response.json()["error"]["code"] == "ModelAccountRpmRateLimitExceeded"
        assert (await client.post(ARK_PATH, headers=AUTH, json=ark_body())).status_code == 200
        assert state.generated["ark"] == 1


async def test_a_scripted_500_without_a_code_is_an_internal_service_error() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark"))
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body())
        assert response.status_code == 500
        assert response.json()["error"] | {"message": ""} == {
            "code": "InternalServiceError", "message": "", "param": "", "type": "InternalServerError"}


async def test_a_malformed_answer_is_a_200_whose_body_is_not_json() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark", kind="malformed"))
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body())
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()


@pytest.mark.parametrize("kind", ["truncate", "reset"])
async def test_a_cut_or_reset_answer_breaks_the_connection_after_billing(kind: str) -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark", kind=kind))  # type: ignore[arg-type]
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(ARK_PATH, headers=AUTH, json=ark_body())
        assert state.generated["ark"] == 1 and state.in_flight["ark"] == 0


async def test_a_truncated_stream_ends_after_some_images_without_completed_or_done() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark", kind="truncate", after_images=1))
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(stream=True, **GROUP_OF_3))
        events = parse_sse(response.text)
        assert [e.event for e in events] == ["image_generation.partial_succeeded"]
        assert state.in_flight["ark"] == 0


async def test_a_reset_stream_is_a_protocol_error() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark", kind="reset", after_images=1))
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(ARK_PATH, headers=AUTH, json=ark_body(stream=True, **GROUP_OF_3))
        assert state.in_flight["ark"] == 0


async def test_invalid_requests_do_not_use_up_scripted_faults() -> None:
    async with emulator() as (client, state):
        state.add_fault(Fault("ark", status=503))
        assert (await client.post(ARK_PATH, headers=AUTH, json=ark_body(size="1x1"))).status_code == 400
        assert (await client.post(ARK_PATH, headers=AUTH, json=ark_body())).status_code == 503
