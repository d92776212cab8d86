"""The official Volcengine SDK (``volcengine-ark-runtime``) talks to the emulator over a real socket and
parses its answers — the proof that the emulator's shapes are Ark's, not merely our client's idea of them."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from PIL import Image
from volcenginesdkarkruntime import Ark, AsyncArk
from volcenginesdkarkruntime._exceptions import ArkAPIError, ArkBadRequestError
from volcenginesdkarkruntime.types.images import SequentialImageGenerationOptions

from core.emulator import EmulatorConfig, create_app

MODEL = "doubao-seedream-4-0-250828"


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The emulator on uvicorn at 127.0.0.1 on a free port; yields the Ark base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them: no start-up polling
    port = sock.getsockname()[1]
    app = create_app(EmulatorConfig(public_base_url=f"http://127.0.0.1:{port}"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}/api/v3"
    finally:
        server.should_exit = True
        await task
        sock.close()


def _image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _sync_generate_and_download(base_url: str) -> tuple[object, Image.Image]:
    with Ark(base_url=base_url, api_key="sdk-key", max_retries=0) as client:
        result = client.images.generate(model=MODEL, prompt="a kite, 16:9", size="1K", watermark=False,
                                        response_format="url")
    downloaded = httpx.get(result.data[0].url, trust_env=False)
    return result, _image(downloaded.content)


async def test_the_sync_sdk_parses_a_url_answer_whose_image_downloads(base_url: str) -> None:
    result, image = await asyncio.to_thread(_sync_generate_and_download, base_url)
    assert result.model == MODEL
    assert result.data[0].size == "1280x720"
    assert result.usage.generated_images == 1 and result.usage.output_tokens == 1280 * 720 // 256
    assert (image.format, image.size) == ("JPEG", (1280, 720))


def _sync_stream(base_url: str) -> list[object]:
    with Ark(base_url=base_url, api_key="sdk-key", max_retries=0) as client:
        stream = client.images.generate(
            model=MODEL, prompt="a comic", size="1K", watermark=False, response_format="b64_json", stream=True,
            sequential_image_generation="auto",
            sequential_image_generation_options=SequentialImageGenerationOptions(max_images=2))
        with stream:
            return list(stream)


async def test_the_sync_sdk_iterates_a_streamed_group(base_url: str) -> None:
    events = await asyncio.to_thread(_sync_stream, base_url)
    assert [e.type for e in events] == ["image_generation.partial_succeeded"] * 2 + ["image_generation.completed"]
    assert [e.image_index for e in events[:2]] == [0, 1]
    assert _image(base64.b64decode(events[0].b64_json)).size == (1024, 1024)
    assert events[0].size == "1024x1024"
    assert _usage(events[2])["generated_images"] == 2


def _usage(event: object) -> dict[str, object]:
    """The SDK cannot tell its two event classes apart (both say ``type: str``), so a ``completed`` event may
    come back as the other class with ``usage`` left a plain dict."""
    usage = event.usage  # type: ignore[attr-defined]
    return usage if isinstance(usage, dict) else usage.model_dump()


async def test_the_async_sdk_parses_b64_json_and_a_5_0_answer(base_url: str) -> None:
    async with AsyncArk(base_url=base_url, api_key="sdk-key", max_retries=0) as client:
        result = await client.images.generate(model="doubao-seedream-5-0-260128", prompt="a map", size="2K",
                                              output_format="png", response_format="b64_json", watermark=False)
    assert result.data[0].output_format == "png" and result.data[0].size == "2048x2048"
    assert _image(base64.b64decode(result.data[0].b64_json)).format == "PNG"
    assert result.usage.input_images == 0


async def test_the_async_sdk_streams(base_url: str) -> None:
    async with AsyncArk(base_url=base_url, api_key="sdk-key", max_retries=0) as client:
        stream = await client.images.generate(model=MODEL, prompt="a boat", size="1K", stream=True,
                                              watermark=False)
        events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.partial_succeeded", "image_generation.completed"]
    assert _usage(events[1])["generated_images"] == 1
    assert events[0].url.startswith(base_url.removesuffix("/api/v3") + "/emulator/files/")


async def test_the_sdk_surfaces_the_error_envelope_code_param_and_request_id(base_url: str) -> None:
    async with AsyncArk(base_url=base_url, api_key="sdk-key", max_retries=0) as client:
        with pytest.raises(ArkBadRequestError) as caught:
            await client.images.generate(model="doubao-seedream-4-5-251128", prompt="probe", size="1x1")
    error = caught.value
    assert (error.code, error.param, error.status_code) == ("InvalidParameter", "size", 400)
    # The SDK's own request_id is the id it generated (X-Client-Request-Id); the server's is in the message.
    assert f"Request id: {error.response.headers['x-request-id']}" in str(error.message)


async def test_the_sdk_raises_on_a_partial_failure_event_as_upstream_does(base_url: str) -> None:
    """The official SDK's known defect (providers.md §1.4): one refused image ends its stream."""
    async with AsyncArk(base_url=base_url, api_key="sdk-key", max_retries=0) as client:
        stream = await client.images.generate(
            model=MODEL, prompt="a comic [refuse:1]", size="1K", stream=True, watermark=False,
            sequential_image_generation="auto",
            sequential_image_generation_options=SequentialImageGenerationOptions(max_images=3))
        seen = []
        with pytest.raises(ArkAPIError):
            async for event in stream:
                seen.append(event.type)
        await stream.close()
    assert seen == ["image_generation.partial_succeeded"]
