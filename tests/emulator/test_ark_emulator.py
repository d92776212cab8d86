"""The Ark images route of the emulator: every generation mode, the answer shapes, and per-model validation."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from core.emulator import EmulatorConfig
from tests.emulator import ARK_PATH, AUTH, ark_body, data_uri, decode, emulator, parse_sse


async def test_text_to_image_returns_a_jpeg_url_sized_by_the_tier_and_the_ratio_in_the_prompt() -> None:
    async with emulator() as (client, state):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(prompt="a fox, 16:9 banner"))
        assert response.status_code == 200
        body = response.json()
        assert response.headers["x-request-id"]
        assert body["model"] == "doubao-seedream-4-0-250828"
        assert isinstance(body["created"], int)
        assert body["data"] == [{"url": body["data"][0]["url"], "size": "1280x720"}]
        assert body["usage"] == {"generated_images": 1, "output_tokens": 1280 * 720 // 256,
                                 "total_tokens": 1280 * 720 // 256}
        image = decode((await client.get(body["data"][0]["url"])).content)
        assert (image.format, image.size) == ("JPEG", (1280, 720))
        assert state.requests["ark"] == 1 and state.generated["ark"] == 1


async def test_b64_json_carries_the_image_inline_at_the_requested_wxh() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH,
                                     json=ark_body(size="1280x800", response_format="b64_json"))
        item = response.json()["data"][0]
        assert "url" not in item and item["size"] == "1280x800"
        assert decode(base64.b64decode(item["b64_json"])).size == (1280, 800)


async def test_without_size_seedream_4_uses_its_2048_square_default() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(size=None))
        assert response.json()["data"][0]["size"] == "2048x2048"


@pytest.mark.parametrize("refs", [1, 3], ids=["one reference", "multi-reference fusion"])
async def test_seedream_4_accepts_reference_images_as_data_uris(refs: int) -> None:
    async with emulator() as (client, _):
        images = [data_uri(64 + i, 48, "png" if i % 2 else "jpeg") for i in range(refs)]
        response = await client.post(ARK_PATH, headers=AUTH,
                                     json=ark_body(image=images[0] if refs == 1 else images))
        assert response.status_code == 200
        assert response.json()["usage"]["generated_images"] == 1


async def test_seededit_outputs_the_reference_size_and_reports_no_size_field() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json={
            "model": "doubao-seededit-3-0-i2i-250628", "prompt": "make it blue", "image": data_uri(640, 480),
            "seed": 7, "guidance_scale": 5.5, "response_format": "b64_json", "watermark": False})
        item = response.json()["data"][0]
        assert "size" not in item
        assert decode(base64.b64decode(item["b64_json"])).size == (640, 480)


async def test_seedream_3_t2i_is_deterministic_in_its_seed_and_defaults_to_1024_square() -> None:
    async with emulator() as (client, _):
        async def render(seed: int) -> bytes:
            response = await client.post(ARK_PATH, headers=AUTH, json={
                "model": "doubao-seedream-3-0-t2i-250415", "prompt": "a lighthouse", "seed": seed,
                "guidance_scale": 2.5, "response_format": "b64_json", "watermark": False})
            return base64.b64decode(response.json()["data"][0]["b64_json"])

        first, again, other = await render(1), await render(1), await render(2)
        assert first == again and first != other
        assert decode(first).size == (1024, 1024)


async def test_group_mode_produces_max_images_when_the_prompt_names_no_count() -> None:
    async with emulator() as (client, state):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(
            sequential_image_generation="auto", sequential_image_generation_options={"max_images": 3}))
        body = response.json()
        assert [item["size"] for item in body["data"]] == ["1024x1024"] * 3
        assert body["usage"]["generated_images"] == 3 and state.generated["ark"] == 3
        urls = {item["url"] for item in body["data"]}
        assert len(urls) == 3


@pytest.mark.parametrize(("prompt", "max_images", "expected"), [
    ("a storyboard of 2 images", 4, 2), ("组图 3 张, a comic", None, 3), ("a story in 9 images", 4, 4)])
async def test_group_mode_makes_the_number_the_prompt_asks_for_up_to_max_images(
        prompt: str, max_images: int | None, expected: int) -> None:
    options = {"max_images": max_images} if max_images else None
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(
            prompt=prompt, sequential_image_generation="auto", sequential_image_generation_options=options))
        assert len(response.json()["data"]) == expected


async def test_disabled_group_mode_makes_one_image_whatever_the_prompt_says() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(
            prompt="4 images", sequential_image_generation="disabled"))
        assert len(response.json()["data"]) == 1


async def test_streaming_sends_one_event_per_image_then_completed_and_done() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(
            stream=True, sequential_image_generation="auto", sequential_image_generation_options={"max_images": 2},
            response_format="b64_json"))
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.text)
        assert [e.event for e in events] == ["image_generation.partial_succeeded"] * 2 + [
            "image_generation.completed", None]
        assert events[-1].data == "[DONE]"
        first = events[0].json()
        assert first["type"] == events[0].event and first["image_index"] == 0 and first["size"] == "1024x1024"
        assert decode(base64.b64decode(first["b64_json"])).size == (1024, 1024)
        assert events[2].json()["usage"]["generated_images"] == 2


async def test_seedream_5_lite_can_answer_png_with_its_extra_response_fields() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json={
            "model": "doubao-seedream-5-0-260128", "prompt": "a map", "size": "2560x1440", "output_format": "png",
            "tools": [{"type": "web_search"}], "image": data_uri(32, 32), "watermark": False})
        body = response.json()
        assert body["data"][0]["output_format"] == "png"
        assert body["usage"]["input_images"] == 1 and body["usage"]["tool_usage"] == {"web_search": 1}
        assert decode((await client.get(body["data"][0]["url"])).content).format == "PNG"


async def test_the_plan_base_serves_5_0_models_and_refuses_others() -> None:
    async with emulator() as (client, _):
        ok = await client.post("/api/plan/v3/images/generations", headers=AUTH, json={
            "model": "doubao-seedream-5-0-pro-260628", "prompt": "x", "size": "1K", "watermark": False})
        refused = await client.post("/api/plan/v3/images/generations", headers=AUTH, json=ark_body())
        assert ok.status_code == 200
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "UnsupportedModel"


async def test_byteplus_ids_and_configured_endpoints_name_models() -> None:
    config = EmulatorConfig(ark_endpoints={"ep-20250101-abc": "doubao-seedream-4-0-250828"})
    async with emulator(config) as (client, _):
        byteplus = await client.post(ARK_PATH, headers=AUTH, json=ark_body(model="seedream-4-0-250828"))
        endpoint = await client.post(ARK_PATH, headers=AUTH, json=ark_body(model="ep-20250101-abc"))
        unknown = await client.post(ARK_PATH, headers=AUTH, json=ark_body(model="ep-unmapped"))
        assert byteplus.json()["model"] == "seedream-4-0-250828"
        assert endpoint.json()["model"] == "doubao-seedream-4-0-250828"
        error = unknown.json()["error"]
        assert unknown.status_code == 404 and error["code"] == "InvalidEndpointOrModel.NotFound"
        assert error["type"] == "NotFound" and error["message"].endswith(unknown.headers["x-request-id"])


async def test_the_watermark_is_on_by_default_and_marks_only_the_bottom_right_corner() -> None:
    async with emulator(EmulatorConfig(fixed_draw=7)) as (client, _):
        def body(watermark: bool | None) -> dict[str, object]:
            return ark_body(size="1280x800", response_format="b64_json", watermark=watermark)

        marked = (await client.post(ARK_PATH, headers=AUTH, json=body(None))).json()["data"][0]["b64_json"]
        plain = (await client.post(ARK_PATH, headers=AUTH, json=body(False))).json()["data"][0]["b64_json"]
        marked_img, plain_img = (decode(base64.b64decode(b)).convert("L") for b in (marked, plain))
        corner = (1280 - 200, 800 - 120, 1280, 800)
        assert marked_img.crop(corner).tobytes() != plain_img.crop(corner).tobytes()
        top_left = (0, 0, 640, 400)
        diff = [abs(a - b) for a, b in zip(marked_img.crop(top_left).tobytes(), plain_img.crop(top_left).tobytes(),
                                           strict=True)]
        assert max(diff) <= 8  # only re-encoding noise away from the mark


def _png_over(limit: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, "PNG")
    padded = out.getvalue() + bytes(limit + 1 - len(out.getvalue()))  # decoders ignore trailing bytes
    return "data:image/png;base64," + base64.b64encode(padded).decode()


_4_5 = "doubao-seedream-4-5-251128"
_3_0 = "doubao-seedream-3-0-t2i-250415"
_EDIT = "doubao-seededit-3-0-i2i-250628"
_PRO = "doubao-seedream-5-0-pro-260628"
_AUTO = {"sequential_image_generation": "auto"}

VALIDATION_CASES = [
    ("missing model", {"model": None}, 400, "MissingParameter", "model", ""),
    ("missing prompt", {"prompt": None}, 400, "MissingParameter", "prompt", ""),
    ("blank prompt", {"prompt": "  "}, 400, "MissingParameter", "prompt", ""),
    ("tier not offered", {"model": _4_5, "size": "1K"}, 400, "InvalidParameter", "size", "1K"),
    ("1x1 probe", {"model": _4_5, "size": "1x1"}, 400, "InvalidParameter", "size",
     "image size must be at least 3686400 pixels"),
    ("too many pixels", {"size": "5000x5000"}, 400, "InvalidParameter", "size", "at most 16777216 pixels"),
    ("aspect over 16", {"size": "4000x240"}, 400, "InvalidParameter", "size", "between 1/16 and 16"),
    ("size not a size", {"size": "big"}, 400, "InvalidParameter", "size", ""),
    ("tier on 3.0", {"model": _3_0, "size": "2K"}, 400, "InvalidParameter", "size", ""),
    ("3.0 above 2048 square", {"model": _3_0, "size": "2049x2048"}, 400, "InvalidParameter", "size", ""),
    ("seededit WxH", {"model": _EDIT, "size": "1024x1024", "image": data_uri(64, 64)}, 400,
     "InvalidParameter", "size", "adaptive"),
    ("seed on 4.0", {"seed": 1}, 400, "InvalidParameter", "seed", ""),
    ("guidance on 4.5", {"model": _4_5, "size": "2K", "guidance_scale": 3}, 400, "InvalidParameter",
     "guidance_scale", ""),
    ("guidance out of range", {"model": _3_0, "size": None, "guidance_scale": 11}, 400, "InvalidParameter",
     "guidance_scale", ""),
    ("seed not an integer", {"model": _3_0, "size": None, "seed": "7"}, 400, "InvalidParameter", "seed", ""),
    ("n is not an Ark field", {"n": 2}, 400, "InvalidParameter", "n", ""),
    ("unknown field", {"quality": "hd"}, 400, "InvalidParameter", "quality", ""),
    ("image on 3.0", {"model": _3_0, "size": None, "image": data_uri(64, 64)}, 400, "InvalidParameter",
     "image", ""),
    ("seededit without image", {"model": _EDIT, "size": None}, 400, "MissingParameter", "image", ""),
    ("seededit with two images", {"model": _EDIT, "size": None, "image": [data_uri(64, 64)] * 2}, 400,
     "InvalidParameter.UnsupportedImageCount", "image", ""),
    ("15 references", {"image": [data_uri(32, 32)] * 15}, 400, "InvalidParameter.UnsupportedImageCount",
     "image", ""),
    ("uppercase data URI format", {"image": data_uri(32, 32, declared="PNG")}, 400, "InvalidParameter",
     "image", "lowercase"),
    ("gif reference", {"image": data_uri(32, 32, "gif")}, 400, "InvalidParameter.UnsupportedImageFormat",
     "image", ""),
    ("bmp bytes declared png", {"image": data_uri(32, 32, "bmp", declared="png")}, 400,
     "InvalidParameter.UnsupportedImageFormat", "image", ""),
    ("not base64", {"image": "data:image/png;base64,@@@"}, 400, "InvalidParameter", "image", "base64"),
    ("not a URL or data URI", {"image": "/tmp/cat.png"}, 400, "InvalidParameter", "image", ""),
    ("side of 14 px", {"image": data_uri(14, 40)}, 400, "InvalidParameter", "image", "greater than 14"),
    ("reference aspect 4", {"image": data_uri(400, 100)}, 400, "InvalidParameter", "image", "1/3 and 3"),
    ("reference over 10 MB", {"image": _png_over(10 * 1024 * 1024)}, 400, "InvalidParameter.OversizedImage",
     "image", ""),
    ("reference over 36 MP", {"image": data_uri(6001, 6000, mode="1")}, 400, "InvalidParameter.OversizedImage",
     "image", ""),
    ("decompression bomb", {"image": data_uri(10000, 10000, mode="1")}, 400, "InvalidParameter.OversizedImage",
     "image", ""),
    ("group on 3.0", {"model": _3_0, "size": None, **_AUTO}, 400, "InvalidParameter",
     "sequential_image_generation", ""),
    ("unknown group mode", {"sequential_image_generation": "sometimes"}, 400, "InvalidParameter",
     "sequential_image_generation", ""),
    ("max_images 16", {**_AUTO, "sequential_image_generation_options": {"max_images": 16}}, 400,
     "InvalidParameter", "sequential_image_generation_options.max_images", ""),
    ("references plus max_images over 15", {**_AUTO, "image": [data_uri(32, 32)] * 3,
                                             "sequential_image_generation_options": {"max_images": 13}}, 400,
     "InvalidParameter", "sequential_image_generation_options.max_images", ""),
    ("stream on 5.0 pro", {"model": _PRO, "stream": True}, 400, "InvalidParameter", "stream", ""),
    ("png on 4.5", {"model": _4_5, "size": "2K", "output_format": "png"}, 400, "InvalidParameter",
     "output_format", ""),
    ("response_format file", {"response_format": "file"}, 400, "InvalidParameter", "response_format", ""),
    ("watermark as text", {"watermark": "yes"}, 400, "InvalidParameter", "watermark", ""),
    ("web search on 4.0", {"tools": [{"type": "web_search"}]}, 400, "InvalidParameter", "tools", ""),
    ("fast prompt mode on 4.5", {"model": _4_5, "size": "2K", "optimize_prompt_options": {"mode": "fast"}}, 400,
     "InvalidParameter", "optimize_prompt_options.mode", ""),
    ("unknown model", {"model": "doubao-seedream-9-9"}, 404, "InvalidEndpointOrModel.NotFound", "model", ""),
    ("blocked word", {"prompt": "something forbidden here"}, 400, "InputTextSensitiveContentDetected",
     "prompt", ""),
]


@pytest.mark.parametrize(("overrides", "status", "code", "param", "fragment"),
                         [case[1:] for case in VALIDATION_CASES], ids=[case[0] for case in VALIDATION_CASES])
async def test_each_invalid_request_gets_arks_error_envelope_naming_the_parameter(
        overrides: dict[str, object], status: int, code: str, param: str, fragment: str) -> None:
    async with emulator() as (client, state):
        body = ark_body()
        body.update(overrides)
        response = await client.post(ARK_PATH, headers=AUTH, json={k: v for k, v in body.items() if v is not None})
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["param"]) == (status, code, param)
        assert fragment in error["message"]
        assert error["message"].endswith(f"Request id: {response.headers['x-request-id']}")
        assert state.generated["ark"] == 0


async def test_parameter_errors_are_plain_json_even_when_streaming_was_asked() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ark_body(stream=True, size="1x1"))
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"


async def test_nulls_count_as_absent_like_the_official_sdk_sends_them() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json={
            **ark_body(), "seed": None, "guidance_scale": None, "image": None, "optimize_prompt": None,
            "sequential_image_generation_options": None, "tools": None, "layer_decomposition": None})
        assert response.status_code == 200


async def test_a_body_that_is_not_json_is_an_invalid_parameter() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, content=b"{not json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidParameter"


async def test_each_request_without_a_seed_is_a_new_draw_like_the_real_models() -> None:
    async with emulator() as (client, _):
        body = ark_body(size="1280x800", response_format="b64_json")
        first, second = [(await client.post(ARK_PATH, headers=AUTH, json=body)).json()["data"][0]["b64_json"]
                         for _ in range(2)]
    assert first != second
