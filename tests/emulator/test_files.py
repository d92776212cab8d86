"""Result files served by the emulator: content, expiry like a signed URL, faults, padding, and use as a
reference image."""

from __future__ import annotations

import base64

import httpx2
import pytest

from core.emulator import EmulatorConfig, Fault
from tests.emulator import ARK_PATH, AUTH, FakeClock, ark_body, decode, emulator


async def _one_url(client: httpx2.AsyncClient, size: str = "1K") -> str:
    response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(size=size))
    return response.json()["data"][0]["url"]


async def test_a_result_url_serves_the_image_with_its_content_type() -> None:
    async with emulator() as (client, state):
        url = await _one_url(client)
        response = await client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert decode(response.content).size == (1024, 1024)
        assert state.requests["files"] == 1


async def test_a_result_url_expires_after_its_ttl_with_an_access_denied_xml_body() -> None:
    clock = FakeClock()
    async with emulator(EmulatorConfig(clock=clock, url_ttl=24 * 3600)) as (client, _):
        url = await _one_url(client)
        clock.now += 24 * 3600 - 1
        assert (await client.get(url)).status_code == 200
        clock.now += 1
        expired = await client.get(url)
        assert expired.status_code == 403
        assert expired.headers["content-type"].startswith("application/xml")
        assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text


@pytest.mark.parametrize("suffix", ["nosuchtoken.jpeg", "{token}.png"], ids=["unknown token", "wrong extension"])
async def test_an_unknown_file_is_a_404_no_such_key(suffix: str) -> None:
    async with emulator() as (client, _):
        token = (await _one_url(client)).rsplit("/", 1)[1].split(".")[0]
        response = await client.get("/emulator/files/" + suffix.format(token=token))
        assert response.status_code == 404 and "<Code>NoSuchKey</Code>" in response.text


async def test_a_scripted_file_error_answers_its_status_with_retry_after() -> None:
    async with emulator() as (client, state):
        url = await _one_url(client)
        state.add_fault(Fault("files", status=503, code="ServiceUnavailable", retry_after=2, route="files"))
        response = await client.get(url)
        assert response.status_code == 503 and response.headers["retry-after"] == "2"
        assert "<Code>ServiceUnavailable</Code>" in response.text
        assert (await client.get(url)).status_code == 200


@pytest.mark.parametrize("kind", ["truncate", "reset"])
async def test_a_cut_or_reset_download_breaks_the_connection(kind: str) -> None:
    async with emulator() as (client, state):
        url = await _one_url(client)
        state.add_fault(Fault("files", kind=kind))  # type: ignore[arg-type]
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.get(url)


async def test_a_malformed_download_is_not_an_image() -> None:
    async with emulator() as (client, state):
        url = await _one_url(client)
        state.add_fault(Fault("files", kind="malformed", route="files"))
        response = await client.get(url)
        assert response.status_code == 200
        with pytest.raises(OSError):
            decode(response.content)


async def test_max_result_bytes_pads_the_download_and_keeps_it_a_valid_image() -> None:
    async with emulator(EmulatorConfig(max_result_bytes=3 * 1024 * 1024)) as (client, _):
        response = await client.get(await _one_url(client))
        assert response.headers["content-length"] == str(3 * 1024 * 1024)
        assert len(response.content) == 3 * 1024 * 1024
        assert decode(response.content).size == (1024, 1024)


async def test_an_own_result_url_works_as_a_reference_until_it_expires() -> None:
    clock = FakeClock()
    async with emulator(EmulatorConfig(clock=clock)) as (client, _):
        url = await _one_url(client, "1280x720")
        edit = {"model": "doubao-seededit-3-0-i2i-250628", "prompt": "sepia", "image": url,
                "response_format": "b64_json", "watermark": False}
        edited = (await client.post(ARK_PATH, headers=AUTH, json=edit)).json()["data"][0]["b64_json"]
        assert decode(base64.b64decode(edited)).size == (1280, 720)  # SeedEdit follows its reference
        clock.now += 25 * 3600
        refused = await client.post(ARK_PATH, headers=AUTH, json=edit)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "image"
