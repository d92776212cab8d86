"""The Chanjing emulator speaks the real API: tokens, submits, task lifecycle, listing, limits, faults."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from PIL import Image

from core.emulator import EmulatorConfig, EmulatorState, Fault, create_app

T0 = 1_700_000_000.0
TOKEN = "/open/v1/access_token"
SUBMIT = "/open/v1/ai_creation/task/submit"
QUERY = "/open/v1/ai_creation/task"
PAGE = "/open/v1/ai_creation/task/page"
VALID = {"ref_prompt": "赛博朋克城市夜景,霓虹灯,雨夜,电影镜头", "creation_type": 3, "aspect_ratio": "16:9",
         "clarity": 2048, "number_of_images": 1, "model_code": "doubao-seedream-3.0-t2i"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Client:
    http: httpx2.AsyncClient
    state: EmulatorState
    clock: Clock

    async def token(self, app_id: str = "app", secret_key: str = "secret") -> dict[str, Any]:
        return await self.call("POST", TOKEN, json={"app_id": app_id, "secret_key": secret_key})

    async def login(self, app_id: str = "app") -> str:
        return (await self.token(app_id))["data"]["access_token"]

    async def call(self, method: str, path: str, *, token: str | None = None,
                   **kwargs: Any) -> dict[str, Any]:
        headers = {"access_token": token} if token else {}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 200
        return response.json()

    async def submit(self, token: str, **changes: Any) -> dict[str, Any]:
        body = {k: v for k, v in (VALID | changes).items() if v is not None}
        return await self.call("POST", SUBMIT, token=token, json=body)

    async def query(self, token: str, task_id: str) -> dict[str, Any]:
        return await self.call("GET", QUERY, token=token, params={"unique_id": task_id})


@asynccontextmanager
async def emulator(**config: Any) -> AsyncIterator[Client]:
    clock = Clock()
    app = create_app(EmulatorConfig(clock=clock, **config))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://chanjing.test") as http:
        yield Client(http, app.state.emulator, clock)


async def test_a_token_expires_at_an_absolute_unix_time_ttl_seconds_from_now() -> None:
    async with emulator(chanjing_token_ttl=3600) as c:
        body = await c.token()

        assert body["code"] == 0 and set(body) == {"trace_id", "code", "msg", "data"}
        assert body["data"]["expire_in"] == int(T0 + 3600)


async def test_configured_credentials_are_checked_and_a_wrong_pair_gets_an_error_code() -> None:
    async with emulator(chanjing_app_id="app", chanjing_secret_key="secret") as c:
        assert (await c.token("app", "secret"))["code"] == 0
        wrong = await c.token("app", "nope")
        empty = await c.call("POST", TOKEN, json={"app_id": "", "secret_key": "x"})

        assert wrong["code"] == 40000 and wrong["data"] is None and "secret_key" in wrong["msg"]
        assert empty["code"] == 40000


async def test_a_new_token_revokes_the_previous_one_of_the_same_app_only() -> None:
    async with emulator() as c:
        first, other_app = await c.login(), await c.login("other")
        second = await c.login()

        revoked = await c.submit(first)
        assert (revoked["code"], revoked["msg"]) == (10400, "AccessToken 验证失败")
        assert (await c.submit(second))["code"] == 0
        assert (await c.submit(other_app))["code"] == 0


async def test_a_missing_token_is_refused_and_an_expired_one_gets_10401() -> None:
    async with emulator(chanjing_token_ttl=60) as c:
        token = await c.login()
        assert (await c.call("POST", SUBMIT, json=VALID))["code"] == 10400
        c.clock.now += 60

        assert (await c.submit(token))["code"] == 10401


async def test_a_valid_submit_returns_a_task_id_like_the_seed() -> None:
    async with emulator() as c:
        body = await c.submit(await c.login())

        assert body["code"] == 0 and body["msg"] == "success"
        assert len(body["data"]) == 36 and body["data"].count("-") == 4
        assert c.state.requests["chanjing"] == 1


@pytest.mark.parametrize(("changes", "code", "hint"), [
    ({"creation_type": 4}, 40000, "creation_type"),
    ({"model_code": "doubao-seedream-9.0"}, 40000, "模型不存在"),
    ({"ref_prompt": None}, 40000, "ref_prompt"),
    ({"ref_prompt": ""}, 40000, "ref_prompt"),
    ({"aspect_ratio": "21:9"}, 40000, "aspect_ratio"),
    ({"clarity": 1536}, 40000, "clarity"),
    ({"number_of_images": 0}, 40000, "number_of_images"),
    ({"number_of_images": 5}, 40000, "number_of_images"),
    ({"number_of_images": None}, 40000, "number_of_images"),
    ({"ref_img_url": ["https://example.com/a.png"]}, 40000, "ref_img_url"),
    ({"model_code": "doubao-seedream-4.0", "ref_img_url": ["/tmp/a.png"]}, 40000, "ref_img_url"),
    ({"clarity": "2048"}, 400, "格式"),
    ({"creation_type": True}, 400, "格式"),
    ({"ref_prompt": "a cat 🐱"}, 50000, "系统内部错误"),
])
async def test_an_invalid_submit_is_refused_with_the_real_code(changes: dict[str, Any], code: int,
                                                               hint: str) -> None:
    async with emulator() as c:
        body = await c.submit(await c.login(), **changes)

        assert body["code"] == code and hint in body["msg"] and body["data"] is None
        assert c.state.requests["chanjing"] == 1


@pytest.mark.parametrize("prompt", ["45° angle, © 2026", "★ a star ☀ and a sun", "罕见字 𠀀 and ™ ®"])
async def test_ordinary_symbols_are_no_reason_to_refuse_a_prompt(prompt: str) -> None:
    async with emulator() as c:
        body = await c.submit(await c.login(), ref_prompt=prompt)

        assert body["code"] == 0


@pytest.mark.parametrize("prompt", ["a red heart ❤️", "a flag 🇨🇳", "a rocket 🚀 launch"])
async def test_emoji_in_the_prompt_get_the_services_internal_error(prompt: str) -> None:
    async with emulator() as c:
        body = await c.submit(await c.login(), ref_prompt=prompt)

        assert (body["code"], body["msg"]) == (50000, "系统内部错误")


async def test_a_body_that_is_not_a_json_object_is_a_format_error() -> None:
    async with emulator() as c:
        token = await c.login()
        for content in (b"{not json", b"[1, 2]"):
            body = await c.call("POST", SUBMIT, token=token, content=content)
            assert body["code"] == 400


async def test_defaults_are_one_to_one_at_2048_and_references_work_on_4_0() -> None:
    async with emulator(chanjing_queued_polls=0, chanjing_generating_polls=0) as c:
        token = await c.login()
        task_id = (await c.submit(token, aspect_ratio=None, clarity=None, model_code="doubao-seedream-4.0",
                                  ref_img_url=["https://example.com/a.png"]))["data"]
        task = (await c.query(token, task_id))["data"]

        assert (task["aspect_ratio"], task["clarity"], task["progress_desc"]) == ("1:1", 2048, "Success")
        assert task["ref_img_url"] == ["https://example.com/a.png"]


async def test_each_poll_moves_the_task_from_queued_through_generating_to_success() -> None:
    async with emulator(chanjing_queued_polls=2, chanjing_generating_polls=1) as c:
        token = await c.login()
        task_id = (await c.submit(token, number_of_images=3))["data"]
        seen = [(await c.query(token, task_id))["data"] for _ in range(5)]

        assert [t["progress_desc"] for t in seen] == ["Queued", "Queued", "Generating", "Success", "Success"]
        assert seen[3]["output_url"] == seen[4]["output_url"] and len(seen[3]["output_url"]) == 3
        assert seen[3]["unique_id"] == task_id and seen[3]["model_code"] == VALID["model_code"]
        assert c.state.generated["chanjing"] == 3


@pytest.mark.parametrize(("ratio", "clarity", "size"), [
    ("16:9", 2048, (2848, 1600)), ("9:16", 2048, (1600, 2848)), ("4:3", 2048, (2304, 1728)),
    ("3:4", 1024, (864, 1152)), ("1:1", 1024, (1024, 1024)), ("16:9", 1024, (1280, 720)),
])
async def test_images_have_the_size_of_the_aspect_ratio_at_the_clarity(ratio: str, clarity: int,
                                                                       size: tuple[int, int]) -> None:
    async with emulator(chanjing_queued_polls=0, chanjing_generating_polls=0) as c:
        token = await c.login()
        task_id = (await c.submit(token, aspect_ratio=ratio, clarity=clarity))["data"]
        (url,) = (await c.query(token, task_id))["data"]["output_url"]
        served = c.state.files[url.rsplit("/", 1)[1].split(".")[0]]

        assert Image.open(io.BytesIO(served.data)).size == size
        assert served.expires_at == T0 + c.state.config.url_ttl


async def test_a_held_task_stays_generating_until_the_hold_is_released() -> None:
    async with emulator(chanjing_queued_polls=0, chanjing_generating_polls=0) as c:
        c.state.hold = asyncio.Event()
        token = await c.login()
        task_id = (await c.submit(token))["data"]
        statuses = [(await c.query(token, task_id))["data"]["progress_desc"] for _ in range(3)]
        assert statuses == ["Generating"] * 3

        c.state.hold.set()
        assert (await c.query(token, task_id))["data"]["progress_desc"] == "Success"


@pytest.mark.parametrize(("prompt", "status", "images", "words"), [
    ("a forbidden place", "Error", 0, "审核"),
    ("a castle [fail:0]", "Fail", 0, "失败"),
    ("a castle [fail:2]", "Fail", 2, "失败"),
    ("a harbour [refuse:1]", "Error", 3, "审核"),
])
async def test_refused_or_failed_tasks_end_with_an_err_msg(prompt: str, status: str, images: int,
                                                           words: str) -> None:
    async with emulator(chanjing_queued_polls=0, chanjing_generating_polls=0) as c:
        token = await c.login()
        task_id = (await c.submit(token, ref_prompt=prompt, number_of_images=4))["data"]
        task = (await c.query(token, task_id))["data"]

        assert task["progress_desc"] == status and words in task["err_msg"]
        assert len(task["output_url"]) == images == c.state.generated["chanjing"]


async def test_a_task_of_another_app_or_an_unknown_id_is_not_found() -> None:
    async with emulator() as c:
        task_id = (await c.submit(await c.login()))["data"]
        stranger = await c.login("stranger")

        assert (await c.query(stranger, task_id))["code"] == 40000
        assert (await c.query(stranger, "nope"))["code"] == 40000


async def test_the_task_list_pages_the_apps_tasks_newest_first_and_filters_by_id() -> None:
    async with emulator() as c:
        token = await c.login()
        ids = []
        for _ in range(3):
            ids.append((await c.submit(token))["data"])
            c.clock.now += 1
        page = await c.call("POST", PAGE, token=token, json={"unique_ids": [], "type": 3, "page": 1,
                                                              "page_size": 2})
        only = await c.call("POST", PAGE, token=token, json={"unique_ids": [ids[0]], "type": 3, "page": 1,
                                                              "page_size": 50})

        assert [t["unique_id"] for t in page["data"]["list"]] == [ids[2], ids[1]]
        assert page["data"]["page_info"] == {"page": 1, "size": 2, "total_count": 3, "total_page": 2}
        assert [t["unique_id"] for t in only["data"]["list"]] == [ids[0]]


async def test_the_task_list_refuses_pages_over_fifty_and_bad_types() -> None:
    async with emulator() as c:
        token = await c.login()
        big = await c.call("POST", PAGE, token=token, json={"type": 3, "page": 1, "page_size": 51})
        no_type = await c.call("POST", PAGE, token=token, json={"page": 1, "page_size": 10})

        assert big["code"] == 40000 and no_type["code"] == 400


async def test_the_qps_limit_is_a_sliding_one_second_window() -> None:
    async with emulator(chanjing_qps=2) as c:
        token = await c.login()
        codes = [(await c.submit(token))["code"] for _ in range(3)]
        c.clock.now += 0.5
        still = (await c.submit(token))["code"]
        c.clock.now += 0.5
        later = (await c.submit(token))["code"]

        assert codes == [0, 0, 40001] and still == 40001 and later == 0


async def test_credits_are_charged_per_image_and_running_short_is_a_billing_refusal() -> None:
    async with emulator(chanjing_credits=3) as c:
        token = await c.login()
        assert (await c.submit(token, number_of_images=2))["code"] == 0
        refused = await c.submit(token, number_of_images=2)

        assert "蝉豆不足" in refused["msg"] and "扣费失败" in refused["msg"]
        assert (await c.submit(token, number_of_images=1))["code"] == 0


async def test_a_scripted_business_error_answers_http_200_with_that_code() -> None:
    async with emulator() as c:
        token = await c.login()
        c.state.add_fault(Fault("chanjing", route="query", code=50000))
        c.state.add_fault(Fault("chanjing", route="submit", code=40001))
        task = await c.submit(token)
        assert (task["code"], task["msg"]) == (40001, "超出 QPS 限制")

        task_id = (await c.submit(token))["data"]
        assert (await c.query(token, task_id))["code"] == 50000
        assert (await c.query(token, task_id))["code"] == 0


async def test_a_fault_without_a_code_is_an_http_error_with_retry_after() -> None:
    async with emulator() as c:
        c.state.add_fault(Fault("chanjing", route="token", status=503, retry_after=2))
        response = await c.http.post(TOKEN, json={"app_id": "a", "secret_key": "b"})

        assert response.status_code == 503 and response.headers["retry-after"] == "2"


async def test_malformed_and_reset_faults_break_the_answer() -> None:
    async with emulator() as c:
        token = await c.login()
        c.state.add_fault(Fault("chanjing", route="submit", kind="malformed"))
        c.state.add_fault(Fault("chanjing", route="query", kind="reset"))
        response = await c.http.post(SUBMIT, json=VALID, headers={"access_token": token})
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
        with pytest.raises(httpx2.ReadError):
            await c.http.get(QUERY, params={"unique_id": "x"}, headers={"access_token": token})
