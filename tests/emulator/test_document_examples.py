"""Each provider document's own request example, sent to the emulator as the document writes it: the answer has
the document's shape (the examples are in ``shared/seeds/``: 000 Visual, 001 Ark images API, 002 Ark Seedream
3.0, 003 Chanjing, 004 the gateway)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from core.emulator import EmulatorConfig
from core.providers.signing import sign_request
from tests.emulator import ARK_PATH, AUTH, GATEWAY_PATH, decode, emulator

# 000 — Volcengine Visual, 通用3.0-文生图, 请求示例.
VISUAL_EXAMPLE = {
    "req_key": "high_aes_general_v30l_zt2i", "prompt": "千军万马", "seed": -1, "scale": 2.5, "width": 1328,
    "height": 1328, "return_url": True,
    "logo_info": {"add_logo": False, "position": 0, "language": 0, "opacity": 0.3,
                  "logo_text_content": "这里是明水印内容"},
}
# 001 — Ark images API (Seedream 4.0), 输入示例.
ARK_EXAMPLE = {
    "model": "doubao-seedream-4-0-250828",
    "prompt": "星际穿越，黑洞，黑洞里冲出一辆快支离破碎的复古列车，抢视觉冲击力，电影大片，末日既视感，动感，"
              "对比色，oc渲染，光线追踪，动态模糊，景深，超现实主义，深蓝，画面通过细腻的丰富的色彩层次塑造主体与"
              "场景，质感真实，暗黑风背景的光影效果营造出氛围，整体兼具艺术幻想感，夸张的广角透视效果，耀光，反射，"
              "极致的光影，强引力，吞噬",
    "size": "2K", "sequential_image_generation": "disabled", "stream": False, "response_format": "url",
    "watermark": True,
}
# 002 — Ark Seedream 3.0 text-to-image, cURL示例.
ARK_30_EXAMPLE = {"model": "doubao-seedream-3-0-t2i-250415", "prompt": "一只可爱的小猫在花园里玩耍",
                  "response_format": "url", "size": "1024x1024", "guidance_scale": 7.5, "seed": 123456}
# 003 — Chanjing, Seedream 3.0 图片生成, 请求参数 Body.
CHANJING_EXAMPLE = {"ref_prompt": "赛博朋克城市夜景,霓虹灯,雨夜,电影镜头", "creation_type": 3, "aspect_ratio": "16:9",
                    "clarity": 2048, "number_of_images": 1, "model_code": "doubao-seedream-3.0-t2i"}
# 004 — the gateway, 创建请求示例.
GATEWAY_EXAMPLE = {"model": "bytedance-seedream-5.0",
                   "prompt": "生成一组同一角色在不同机位下的电影感海报,画面风格统一。",
                   "size": "4096x2304", "n": 8, "response_format": "url"}

NOW = 1_760_000_000.0
URL = re.compile(r"^https?://\S+$")


async def test_the_visual_documents_example_gets_its_output_example_shape() -> None:
    config = EmulatorConfig(clock=lambda: NOW, visual_secret_key="sk", public_base_url="http://127.0.0.1:8790")
    async with emulator(config) as (client, _):
        body = json.dumps(VISUAL_EXAMPLE, ensure_ascii=False).encode()
        url = "http://127.0.0.1:8790/?Action=CVProcess&Version=2022-08-31"
        headers = {"Content-Type": "application/json"}
        headers |= sign_request(method="POST", url=url, headers=headers, body=body, access_key="ak", secret_key="sk",
                                region="cn-north-1", service="cv", now=datetime.fromtimestamp(NOW, UTC))
        response = await client.post(url, content=body, headers=headers)
        answer = response.json()

        assert response.status_code == 200
        assert set(answer) == {"code", "data", "message", "request_id", "status", "time_elapsed"}
        assert (answer["code"], answer["message"], answer["status"]) == (10000, "Success", 10000)
        assert answer["time_elapsed"].endswith("s")
        assert set(answer["data"]) == {"algorithm_base_resp", "binary_data_base64", "image_urls", "infer_ctx",
                                       "llm_result", "pe_result", "predict_tags_result", "rephraser_result",
                                       "request_id", "vlm_result"}
        assert answer["data"]["algorithm_base_resp"] == {"status_code": 0, "status_message": "Success"}
        assert answer["data"]["binary_data_base64"] == []
        (link,) = answer["data"]["image_urls"]
        image = decode((await client.get(link)).content)
        assert URL.match(link) and image.size == (1328, 1328)


async def test_the_ark_documents_example_gets_its_output_example_shape() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ARK_EXAMPLE)
        answer = response.json()

        assert response.status_code == 200
        assert set(answer) == {"model", "created", "data", "usage"}
        assert answer["model"] == "doubao-seedream-4-0-250828" and isinstance(answer["created"], int)
        (item,) = answer["data"]
        assert set(item) == {"url", "size"} and URL.match(item["url"])
        width, height = (int(x) for x in item["size"].split("x"))
        tokens = width * height // 256
        assert answer["usage"] == {"generated_images": 1, "output_tokens": tokens, "total_tokens": tokens}
        assert decode((await client.get(item["url"])).content).size == (width, height)


async def test_the_seedream_3_documents_example_gets_its_response_example_shape() -> None:
    async with emulator() as (client, _):
        response = await client.post(ARK_PATH, headers=AUTH, json=ARK_30_EXAMPLE)
        answer = response.json()

        assert response.status_code == 200
        assert {"model", "created", "data", "usage"} <= set(answer)
        (item,) = answer["data"]
        assert set(item) == {"url"}  # no size for 3.0, as the example shows
        assert isinstance(answer["usage"]["total_tokens"], int) and answer["usage"]["total_tokens"] > 0
        assert decode((await client.get(item["url"])).content).size == (1024, 1024)


async def test_the_chanjing_documents_example_gets_its_response_example_shape() -> None:
    async with emulator() as (client, _):
        login = (await client.post("/open/v1/access_token", json={"app_id": "a", "secret_key": "s"})).json()
        response = await client.post("/open/v1/ai_creation/task/submit", json=CHANJING_EXAMPLE,
                                     headers={"access_token": login["data"]["access_token"]})
        answer = response.json()

        assert response.status_code == 200
        assert set(answer) == {"trace_id", "code", "msg", "data"}
        assert (answer["code"], answer["msg"]) == (0, "success")
        assert re.fullmatch(r"[0-9a-f]{32}", answer["trace_id"])
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", answer["data"])


async def test_the_gateway_documents_example_is_a_group_of_up_to_n_images_in_the_ark_shape() -> None:
    async with emulator() as (client, _):
        response = await client.post(GATEWAY_PATH, headers=AUTH, json=GATEWAY_EXAMPLE)
        answer = response.json()

        assert response.status_code == 200
        assert {"model", "created", "data", "usage"} <= set(answer)
        assert answer["model"] == "bytedance-seedream-5.0"
        assert 1 <= len(answer["data"]) <= 8 == GATEWAY_EXAMPLE["n"]
        assert all(URL.match(item["url"]) and item["size"] == "4096x2304" for item in answer["data"])
        assert answer["usage"]["generated_images"] == len(answer["data"])
