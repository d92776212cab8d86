"""A provider declared entirely inside this test (a spec, an adapter, a tiny ASGI server) plugs into the
core with no change to it: settings, catalog, validation, admission, storage and the job store all follow
from the spec."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from core.errors import ConfigurationError, InvalidRequestError, ProviderError
from core.factory import open_service
from core.http import HttpClient
from core.jobs import Requester
from core.modelspec import ModelSpec, SizeRules, by_ratio, tier_table
from core.providers import BUILTIN_SPECS
from core.providers.base import ImagePayload, ProviderItem
from core.providers.spec import ProviderConfig, ProviderSpec
from core.requests import GenerateRequest, Plan
from core.results import JobStatus, Usage
from core.settings import settings_class

TOY_ORIGIN = "http://toy.localhost"


class ToyServer:
    """A tiny image API: ``POST /make`` with ``{"prompt", "size"}`` answers ``{"png": <base64>}``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        request = json.loads(body)
        self.requests.append({"path": scope["path"], "auth": headers.get("authorization"), **request})
        width, height = (int(x) for x in request["size"].split("x"))
        image = io.BytesIO()
        Image.new("RGB", (width, height), (10, 120, 200)).save(image, format="PNG")
        answer = json.dumps({"png": base64.b64encode(image.getvalue()).decode()}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


class ToyProvider:
    """The adapter: maps a plan to the toy API and its answer to items."""

    name = "toy"

    def __init__(self, http: HttpClient, config: ProviderConfig) -> None:
        self._http = http
        self._url = config.base_url + "/make"
        self._key = config.credentials[0]

    async def generate(self, plan: Plan) -> AsyncIterator[ProviderItem]:
        response = await self._http.send(
            "POST", self._url, provider=self.name, classify=self._classify,
            json={"prompt": plan.request.prompt, "size": plan.size.wxh},
            headers={"Authorization": f"Bearer {self._key}"})
        yield ImagePayload(index=0, b64=response.json()["png"])
        yield Usage(generated_images=1)

    def _classify(self, response: httpx2.Response) -> ProviderError | None:
        return None if response.status_code < 400 else ProviderError("toy failed", provider=self.name)


TOY_MODEL = ModelSpec(
    "toy-1", "toy", "toy-model-1", "Toy 1",
    SizeRules(tier_table({"S": by_ratio("64x64", "64x48", "48x64", "96x54", "54x96", "72x48", "48x72", "84x36")}),
              "S", send_tier=False, min_pixels=32 * 32, max_pixels=128 * 128),
)
TOY = ProviderSpec(
    kind="toy", title="Toy images", credentials=("TOY_API_KEY",), base_url="https://toy.invalid",
    models=(TOY_MODEL,), default_model="toy-1", edit_model="toy-1", concurrency=1,
    build=lambda config, http: ToyProvider(http, config),
)
ToySettings = settings_class((*BUILTIN_SPECS, TOY), name="ToySettings")


@pytest.fixture
async def toy_http() -> AsyncIterator[tuple[HttpClient, ToyServer]]:
    server = ToyServer()
    http = HttpClient.create(mounts={TOY_ORIGIN: httpx2.ASGITransport(app=server)})
    yield http, server
    await http.aclose()


async def test_a_provider_declared_in_a_test_generates_through_the_public_service(
        tmp_path: Path, toy_http: tuple[HttpClient, ToyServer], monkeypatch: pytest.MonkeyPatch) -> None:
    http, server = toy_http
    monkeypatch.setenv("TOY_API_KEY", "toy-secret")  # read by the settings field the spec declares
    settings = ToySettings(_env_file=None, data_dir=tmp_path, provider="toy", toy_base_url=TOY_ORIGIN)
    assert settings.limits_for("toy") == (1, 0)

    async with open_service(settings, http=http) as service:
        generation = await service.generate(GenerateRequest.create(prompt="a toy boat", size="16:9"),
                                            requester=Requester(adapter="test"))
        record = await service.get_job(generation.job_id)

    assert generation.status is JobStatus.SUCCEEDED and generation.model == "toy-1"
    (image,) = generation.images
    assert (image.width, image.height, image.format, image.provider) == (96, 54, "png", "toy")
    with Image.open(image.path) as saved:
        assert saved.size == (96, 54)
    assert server.requests == [{"path": "/make", "auth": "Bearer toy-secret", "prompt": "a toy boat",
                                "size": "96x54"}]
    assert record.status is JobStatus.SUCCEEDED and record.usage.generated_images == 1


async def test_the_declared_models_rules_are_checked_before_the_toy_server_is_called(
        tmp_path: Path, toy_http: tuple[HttpClient, ToyServer]) -> None:
    http, server = toy_http
    settings = ToySettings(_env_file=None, data_dir=tmp_path, provider="toy", toy_api_key="k",
                           toy_base_url=TOY_ORIGIN)
    async with open_service(settings, http=http) as service:
        with pytest.raises(InvalidRequestError, match="size"):
            await service.plan(GenerateRequest.create(prompt="too big", size="4096x4096"))
        with pytest.raises(InvalidRequestError, match="toy-1 on provider toy"):
            await service.plan(GenerateRequest.create(prompt="wrong model", model="seedream-4.0"))
    assert server.requests == []


async def test_a_missing_toy_key_names_the_variable_the_spec_declares(
        tmp_path: Path, toy_http: tuple[HttpClient, ToyServer]) -> None:
    http, server = toy_http
    settings = ToySettings(_env_file=None, data_dir=tmp_path, provider="toy", toy_base_url=TOY_ORIGIN)
    async with open_service(settings, http=http) as service:
        with pytest.raises(ConfigurationError, match="TOY_API_KEY"):
            await service.plan(GenerateRequest.create(prompt="no key"))
    assert server.requests == []
