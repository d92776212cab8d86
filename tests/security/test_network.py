"""Where our HTTP goes. We never fetch a URL a user gave (it goes to the provider untouched), and we never
follow a redirect — not even from a provider's result link — so nobody can steer us at a private address.

The only network here is loopback: ``LoopbackNetwork`` records every request and refuses (and records) any
other host, so "nothing connected to 10.0.0.1" is checked, not assumed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from core.jobs import Requester
from core.requests import GenerateRequest
from core.results import JobStatus
from tests.reliability.harness import (
    GENERATION_PATHS,
    KEYS,
    Emulator,
    emulator_accounts,
    emulator_server,
    rig,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ME = Requester(adapter="test", user_id="network")
PRIVATE = "http://10.0.0.1/latest/meta-data/iam/security-credentials/"
USER_URL = "http://redirector.example/fox.png?next=" + PRIVATE


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Emulator]:
    async with emulator_server(**emulator_accounts(KEYS)) as emulator:
        yield emulator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def redirector() -> AsyncIterator[str]:
    """A loopback "CDN" that answers every path with a redirect to a private address."""

    async def everything(request: Request) -> RedirectResponse:
        return RedirectResponse(PRIVATE, status_code=302)

    async with serve(Starlette(routes=[Route("/{path:path}", everything)])) as base:
        yield base


def sent_body(network, provider: str) -> dict:  # type: ignore[no-untyped-def]
    (request,) = [r for r in network.sent if r.url.path == GENERATION_PATHS[provider]]
    return json.loads(request.content)


@pytest.mark.parametrize("provider, field", [("ark", "image"), ("gateway", "image"),
                                             ("chanjing", "ref_img_url")])
async def test_a_reference_url_goes_to_the_provider_untouched_and_is_never_fetched_by_us(
        provider: str, field: str, tmp_path: Path, server: Emulator):
    # Chanjing's documented model takes no references: its undocumented 4.0 code does, once opted in.
    opt_in = {"chanjing_undocumented_models": True} if provider == "chanjing" else {}
    async with rig(tmp_path, server, settings=lambda base: opt_in) as r:
        request = GenerateRequest.create(prompt="make it night", provider=provider, images=(USER_URL,),
                                         size="1K", model="seedream-4.0")
        generation = await r.service.generate(request, requester=ME)
    assert generation.status is JobStatus.SUCCEEDED, generation.error
    body = sent_body(r.network, provider)
    assert body[field] in (USER_URL, [USER_URL])
    assert r.network.refused == []  # nothing tried to reach redirector.example or 10.0.0.1
    assert {req.url.host for req in r.network.sent} == {"127.0.0.1"}


@pytest.mark.parametrize("provider", ["ark", "gateway", "visual", "chanjing"])
async def test_a_result_link_that_redirects_to_a_private_address_is_not_followed(
        provider: str, tmp_path: Path, server: Emulator, redirector: str):
    async with rig(tmp_path, server, config={"public_base_url": redirector}) as r:
        size = "512x512" if provider == "visual" else "1K"
        request = GenerateRequest.create(prompt="a fox", provider=provider, size=size)
        generation = await r.service.generate(request, requester=ME)
    assert generation.status is JobStatus.FAILED and generation.images == []
    assert "redirected elsewhere" in generation.error and "not followed" in generation.error
    assert [f.code for f in generation.failures] == ["ResultRedirected"]
    downloads = [req for req in r.network.sent if req.url.path.startswith("/emulator/files/")]
    assert len(downloads) == 1 and str(downloads[0].url).startswith(redirector)
    assert r.network.refused == [] and all(req.url.host == "127.0.0.1" for req in r.network.sent)
