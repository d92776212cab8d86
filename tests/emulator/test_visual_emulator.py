"""The emulator's Volcengine Visual CVProcess route: signatures, validation, limits, moderation, faults."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from PIL import Image

from core.emulator import EmulatorConfig, EmulatorState, Fault, create_app
from core.providers.signing import sign_request

HOST = "http://visual.test"
URL = f"{HOST}/?Action=CVProcess&Version=2022-08-31"
NOW = 1_760_000_000.0
AK, SK = "AKLTemulatortest", "emulator-secret"


def good_body(**changes: Any) -> dict[str, Any]:
    body = {"req_key": "high_aes_general_v30l_zt2i", "prompt": "千军万马", "seed": 7, "scale": 2.5,
            "width": 640, "height": 512, "return_url": False,
            "logo_info": {"add_logo": False, "position": 0, "language": 0, "opacity": 0.3}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


class Caller:
    def __init__(self, client: httpx2.AsyncClient, state: EmulatorState, clock: list[float]) -> None:
        self.client, self.state, self.clock = client, state, clock

    def signed(self, body: bytes, *, url: str = URL, secret: str = SK, access: str = AK, region: str = "cn-north-1",
               at: float | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **(extra or {})}
        now = datetime.fromtimestamp(self.clock[0] if at is None else at, UTC)
        return {**headers, **sign_request(method="POST", url=url, headers=headers, body=body, access_key=access,
                                          secret_key=secret, region=region, service="cv", now=now)}

    async def post(self, payload: Any = None, *, raw: bytes | None = None, url: str = URL,
                   **sign: Any) -> httpx2.Response:
        body = raw if raw is not None else json.dumps(payload if payload is not None else good_body()).encode()
        return await self.client.post(url, content=body, headers=self.signed(body, url=url, **sign))


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def config(clock: list[float]) -> EmulatorConfig:
    return EmulatorConfig(clock=lambda: clock[0], visual_secret_key=SK, public_base_url=HOST)


@pytest.fixture
async def caller(config: EmulatorConfig, clock: list[float]) -> AsyncIterator[Caller]:
    state = EmulatorState(config)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(state=state))) as client:
        yield Caller(client, state, clock)


def gateway_error(response: httpx2.Response) -> dict[str, Any]:
    meta = response.json()["ResponseMetadata"]
    assert meta["Service"] == "cv" and meta["Region"] == "cn-north-1" and meta["RequestId"]
    return meta["Error"]


async def test_a_signed_request_gets_the_documented_success_body_with_base64(caller: Caller) -> None:
    response = await caller.post()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "data", "message", "request_id", "status", "time_elapsed"}
    assert (body["code"], body["status"], body["message"]) == (10000, 10000, "Success")
    assert body["time_elapsed"].endswith("s") and len(body["request_id"]) == 34
    data = body["data"]
    assert data["algorithm_base_resp"] == {"status_code": 0, "status_message": "Success"}
    assert {"infer_ctx", "llm_result", "pe_result", "rephraser_result", "vlm_result"} <= set(data)
    assert data["image_urls"] is None and len(data["binary_data_base64"]) == 1
    picture = Image.open(io.BytesIO(base64.b64decode(data["binary_data_base64"][0])))
    assert (picture.format, picture.size) == ("JPEG", (640, 512))
    assert caller.state.requests["visual"] == 1 and caller.state.generated["visual"] == 1


async def test_return_url_publishes_the_image_and_returns_its_link(caller: Caller) -> None:
    data = (await caller.post(good_body(return_url=True))).json()["data"]
    assert data["binary_data_base64"] == [] and len(data["image_urls"]) == 1
    token = data["image_urls"][0].rsplit("/", 1)[1].split(".")[0]
    served = caller.state.files[token]
    assert served.content_type == "image/jpeg" and served.expires_at == NOW + 24 * 3600


async def test_the_same_seed_gives_the_same_image(caller: Caller) -> None:
    one, two = [(await caller.post()).json()["data"]["binary_data_base64"][0] for _ in range(2)]
    assert one == two


async def test_a_missing_authorization_is_missing_authentication_token(caller: Caller) -> None:
    response = await caller.client.post(URL, json=good_body())
    assert response.status_code == 401
    assert gateway_error(response) | {"Message": ""} == {"CodeN": 100003, "Code": "MissingAuthenticationToken",
                                                         "Message": ""}
    assert caller.state.requests["visual"] == 1 and caller.state.generated["visual"] == 0


async def test_a_wrong_secret_does_not_match(caller: Caller) -> None:
    response = await caller.post(secret="guessed")
    assert response.status_code == 401
    error = gateway_error(response)
    assert (error["CodeN"], error["Code"]) == (100010, "SignatureDoesNotMatch")
    assert response.json()["ResponseMetadata"]["Action"] == "CVProcess"


async def test_a_body_changed_after_signing_does_not_match(caller: Caller) -> None:
    signed_body = json.dumps(good_body()).encode()
    headers = caller.signed(signed_body)
    tampered = json.dumps(good_body(prompt="something else")).encode()
    response = await caller.client.post(URL, content=tampered, headers=headers)
    assert response.status_code == 401 and gateway_error(response)["Code"] == "SignatureDoesNotMatch"


async def test_a_signed_header_changed_after_signing_does_not_match(caller: Caller) -> None:
    body = json.dumps(good_body()).encode()
    headers = caller.signed(body, extra={"X-Trace": "one"}) | {"X-Trace": "two"}
    response = await caller.client.post(URL, content=body, headers=headers)
    assert gateway_error(response)["Code"] == "SignatureDoesNotMatch"


async def test_an_unsigned_header_may_be_added_after_signing(caller: Caller) -> None:
    body = json.dumps(good_body()).encode()
    headers = caller.signed(body) | {"User-Agent": "anything"}
    assert (await caller.client.post(URL, content=body, headers=headers)).status_code == 200


async def test_a_signature_for_another_region_does_not_match(caller: Caller) -> None:
    response = await caller.post(region="cn-beijing")
    assert gateway_error(response)["Code"] == "SignatureDoesNotMatch"


async def test_a_host_with_the_default_port_is_signed_without_it(caller: Caller) -> None:
    response = await caller.post(extra={"Host": "visual.test:80"})
    assert response.status_code == 200


async def test_query_order_and_encoding_do_not_matter_to_the_signature(caller: Caller) -> None:
    url = f"{HOST}/?Version=2022-08-31&Action=CVProcess&note=a%20b%2Fc"
    assert (await caller.post(url=url)).status_code == 200


async def test_a_stale_x_date_is_an_invalid_timestamp(caller: Caller) -> None:
    response = await caller.post(at=NOW - 16 * 60)
    assert response.status_code == 400
    assert (gateway_error(response)["CodeN"], gateway_error(response)["Code"]) == (100006, "InvalidTimestamp")
    assert (await caller.post(at=NOW - 14 * 60)).status_code == 200


async def test_an_unknown_access_key_is_refused_when_one_is_configured(caller: Caller) -> None:
    caller.state.config.visual_access_key = AK
    assert (await caller.post()).status_code == 200
    response = await caller.post(access="AKLTother")
    assert response.status_code == 401 and gateway_error(response)["Code"] == "InvalidAccessKey"


@pytest.mark.parametrize(("url", "status", "code"), [
    (f"{HOST}/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31", 404, "InvalidActionOrVersion"),
    (f"{HOST}/?Action=CVProcess&Version=2020-01-01", 404, "InvalidActionOrVersion"),
    (f"{HOST}/?Action=CVProcess", 400, "MissingParameter"),
])
async def test_other_actions_and_versions_get_the_gateway_error(caller: Caller, url: str, status: int,
                                                                code: str) -> None:
    response = await caller.post(url=url)
    assert response.status_code == status and gateway_error(response)["Code"] == code


async def test_only_post_is_served(caller: Caller) -> None:
    assert (await caller.client.get(URL)).status_code == 405


@pytest.mark.parametrize(("changes", "code"), [
    ({"req_key": "high_aes_general_v21_L"}, 50400),
    ({"req_key": None}, 50400),
    ({"prompt": None}, 50215),
    ({"prompt": "   "}, 50215),
    ({"width": 511}, 50215),
    ({"height": 2049}, 50215),
    ({"width": "1024"}, 50215),
    ({"scale": 0.5}, 50215),
    ({"scale": 10.5}, 50215),
    ({"seed": "7"}, 50215),
    ({"return_url": "yes"}, 50215),
    ({"logo_info": {"add_logo": True, "position": 4}}, 50215),
    ({"logo_info": {"add_logo": True, "opacity": 1.5}}, 50215),
])
async def test_invalid_parameters_get_a_400_business_error(caller: Caller, changes: dict[str, Any],
                                                           code: int) -> None:
    response = await caller.post(good_body(**changes))
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"], body["data"]) == (code, code, None)
    assert body["message"] and body["request_id"] and body["time_elapsed"]
    assert caller.state.generated["visual"] == 0


async def test_a_body_that_is_not_json_is_invalid(caller: Caller) -> None:
    response = await caller.post(raw=b"not json")
    assert response.status_code == 400 and response.json()["code"] == 50215


@pytest.mark.parametrize(("changes", "code"), [
    ({"width": 512, "height": 512}, 10000), ({"width": 2048, "height": 512}, 10000),
    ({"scale": 1}, 10000), ({"scale": 10}, 10000), ({"seed": -1}, 10000),
])
async def test_the_edges_of_the_ranges_are_accepted(caller: Caller, changes: dict[str, Any], code: int) -> None:
    assert (await caller.post(good_body(**changes))).json()["code"] == code


async def test_a_blocked_word_fails_the_input_text_audit(caller: Caller) -> None:
    response = await caller.post(good_body(prompt="a FORBIDDEN door"))
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["message"]) == (50412, "Text Risk Not Pass")
    assert caller.state.generated["visual"] == 0


async def test_a_refusal_marker_fails_the_output_image_audit(caller: Caller) -> None:
    response = await caller.post(good_body(prompt="a ship [refuse:0]"))
    assert response.status_code == 400 and response.json()["code"] == 50511
    assert caller.state.generated["visual"] == 0


async def test_the_logo_adds_a_visible_mark_in_the_asked_corner(caller: Caller) -> None:
    def decoded(body: dict[str, Any]) -> Image.Image:
        return Image.open(io.BytesIO(base64.b64decode(body["data"]["binary_data_base64"][0]))).convert("L")

    plain = decoded((await caller.post()).json())
    marked = decoded((await caller.post(good_body(logo_info={"add_logo": True, "position": 2,
                                                             "opacity": 1.0}))).json())
    top_left, bottom_right = (20, 20, 60, 40), (580, 470, 620, 490)
    assert plain.crop(top_left).tobytes() != marked.crop(top_left).tobytes()
    corner = [abs(a - b) for a, b in zip(plain.crop(top_left).tobytes(), marked.crop(top_left).tobytes(),
                                         strict=True)]
    far = [abs(a - b) for a, b in zip(plain.crop(bottom_right).tobytes(), marked.crop(bottom_right).tobytes(),
                                      strict=True)]
    assert sum(corner) / len(corner) > 40 and sum(far) / len(far) < 5


async def test_the_concurrency_cap_answers_50430_while_requests_run(caller: Caller) -> None:
    caller.state.config.visual_concurrency = 1
    caller.state.hold = asyncio.Event()
    first = asyncio.create_task(caller.post())
    while caller.state.requests["visual"] < 1:
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    refused = await caller.post()
    assert refused.status_code == 429 and refused.json()["code"] == 50430
    caller.state.hold.set()
    assert (await first).status_code == 200
    assert (await caller.post()).status_code == 200


async def test_the_qps_cap_answers_50429_within_one_second(caller: Caller) -> None:
    caller.state.config.visual_qps = 2
    assert [(await caller.post()).status_code for _ in range(3)] == [200, 200, 429]
    caller.clock[0] += 1.0
    assert (await caller.post()).status_code == 200


async def test_a_scripted_business_error_keeps_its_documented_status_and_retry_after(caller: Caller) -> None:
    caller.state.add_fault(Fault(provider="visual", code=50430, retry_after=3))
    response = await caller.post()
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json()["code"] == 50430 and response.json()["data"] is None
    assert (await caller.post()).status_code == 200  # consumed


async def test_a_scripted_gateway_error_uses_the_gateway_envelope(caller: Caller) -> None:
    caller.state.add_fault(Fault(provider="visual", code="AccessDenied"))
    response = await caller.post()
    assert response.status_code == 403 and gateway_error(response)["CodeN"] == 100013


async def test_scripted_faults_still_require_a_valid_signature(caller: Caller) -> None:
    caller.state.add_fault(Fault(provider="visual", code=50500))
    assert (await caller.post(secret="wrong")).status_code == 401
    assert (await caller.post()).status_code == 500


async def test_a_malformed_fault_answers_broken_json(caller: Caller) -> None:
    caller.state.add_fault(Fault(provider="visual", kind="malformed"))
    response = await caller.post()
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


@pytest.mark.parametrize(("kind", "error"), [("truncate", httpx2.RemoteProtocolError),
                                             ("reset", httpx2.ReadError)])
async def test_a_broken_connection_fault_breaks_the_answer(caller: Caller, kind: str, error: type) -> None:
    caller.state.add_fault(Fault(provider="visual", kind=kind))  # type: ignore[arg-type]
    with pytest.raises(error):
        await caller.post()
    assert caller.state.generated["visual"] == 0
