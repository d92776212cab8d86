"""The shared Chanjing access token: one per credential pair, refreshed once, early, and after revocation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx2
import pytest

from core.emulator import EmulatorConfig, Fault, create_app
from core.errors import AuthenticationError
from core.http import HttpClient
from core.providers.chanjing_token import AccessToken, shared_token_manager
from core.results import Usage
from tests.providers.test_chanjing import APP_ID, BASE, SECRET, Harness, chanjing, collect, make_plan

Sleep = Callable[[float], Awaitable[None]]


async def issue_token_elsewhere(h: Harness) -> None:
    """Another program with the same credentials asks for a token (which revokes ours)."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=h.app)) as other:
        response = await other.post(BASE + "/open/v1/access_token",
                                    json={"app_id": APP_ID, "secret_key": SECRET})
    assert json.loads(response.content)["code"] == 0


def revoking_sleep(h: Harness) -> Sleep:
    """A sleep during whose first call another program takes a new token."""
    calls = 0

    async def sleep_and_maybe_revoke(seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await issue_token_elsewhere(h)
        await h.time.sleep(seconds)

    return sleep_and_maybe_revoke


async def test_ten_concurrent_generations_share_one_token_request() -> None:
    async with chanjing() as h:
        provider, plan = h.provider(), await make_plan(count=1)
        results = await asyncio.gather(*(collect(provider, plan) for _ in range(10)))

        assert all(r[-1] == Usage(generated_images=1) for r in results)
        assert h.state.requests["chanjing.token"] == 1
        assert h.state.requests["chanjing"] == 10


async def test_providers_built_on_the_same_http_client_share_the_token_of_their_app_id() -> None:
    async with chanjing() as h:
        plan = await make_plan(count=1)
        await asyncio.gather(*(collect(h.provider(), plan) for _ in range(3)))

        assert h.state.requests["chanjing.token"] == 1
        assert h.provider().tokens is h.provider().tokens
        assert h.provider(base_url=BASE + "/other").tokens is not h.provider().tokens


async def test_the_token_is_reused_until_five_minutes_before_expiry_then_refreshed_once() -> None:
    async with chanjing(chanjing_token_ttl=3600) as h:
        provider, plan = h.provider(), await make_plan(count=1)
        issued_at = h.time.now
        await collect(provider, plan)
        h.time.now = issued_at + 3600 - 400  # still more than 5 minutes left
        await collect(provider, plan)
        assert h.state.requests["chanjing.token"] == 1

        h.time.now = issued_at + 3600 - 200  # inside the 5-minute margin
        await collect(provider, plan)
        assert h.state.requests["chanjing.token"] == 2


async def test_a_short_lived_token_is_refreshed_at_half_its_life_not_on_every_call() -> None:
    async with chanjing(chanjing_token_ttl=60) as h:
        await collect(h.provider(poll_interval=2.0), await make_plan(count=1))

        assert h.state.requests["chanjing.token"] == 1


async def test_a_token_revoked_mid_poll_is_refreshed_once_and_the_poll_retried() -> None:
    async with chanjing() as h:
        provider = h.provider(sleep=revoking_sleep(h))
        items = await collect(provider, await make_plan())

        assert items[-1] == Usage(generated_images=2)
        assert h.state.requests["chanjing.token"] == 3  # ours, the other program's, our refresh
        assert h.state.requests["chanjing"] == 1


async def test_many_callers_hit_by_one_revocation_refresh_only_once() -> None:
    # Uneven latency: some stale-token answers arrive after the refresh has already replaced the token.
    async with chanjing(turns=(1, 12, 2, 30, 5, 20, 3)) as h:
        provider = h.provider(sleep=revoking_sleep(h))
        plan = await make_plan(count=1)
        results = await asyncio.gather(*(collect(provider, plan) for _ in range(8)))

        assert all(r[-1] == Usage(generated_images=1) for r in results)
        assert h.state.requests["chanjing.token"] == 3
        assert len(h.backend.tasks) == 8  # a submit caught by the revocation is resent, not duplicated


async def test_a_revoked_token_on_submit_is_refreshed_and_the_task_created_once() -> None:
    async with chanjing() as h:
        provider, plan = h.provider(), await make_plan(count=1)
        await provider.tokens.token()
        await issue_token_elsewhere(h)
        items = await collect(provider, plan)

        assert items[-1] == Usage(generated_images=1)
        assert len(h.backend.tasks) == 1 and h.state.requests["chanjing"] == 2


async def test_a_token_rejected_again_right_after_a_refresh_raises_authentication_error() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="query", code=10400, times=2))
        with pytest.raises(AuthenticationError) as caught:
            await collect(h.provider(), await make_plan())

        assert "CHANJING_APP_ID" in caught.value.message
        assert h.state.requests["chanjing.token"] == 2


async def test_a_token_the_service_calls_expired_is_replaced_even_if_our_clock_lags() -> None:
    async with chanjing(chanjing_token_ttl=3600) as h:
        provider = h.provider(wall_clock=lambda: h.time.now - 1000)  # our clock is 1000 s behind
        await provider.tokens.token()
        h.time.now += 3600  # expired at the service (10401), still fresh by our clock
        items = await collect(provider, await make_plan(count=1))

        assert items[-1] == Usage(generated_images=1)
        assert h.state.requests["chanjing.token"] == 2 and h.state.requests["chanjing"] == 2


async def test_invalidating_a_token_that_was_already_replaced_keeps_the_replacement() -> None:
    async with chanjing() as h:
        tokens = h.provider().tokens
        old = await tokens.token()
        assert tokens.invalidate(old)
        new = await tokens.token()

        assert not tokens.invalidate(old)
        assert await tokens.token() == new
        assert h.state.requests["chanjing.token"] == 2


async def test_the_token_expiry_is_read_as_an_absolute_unix_time() -> None:
    async with chanjing(chanjing_token_ttl=7200) as h:
        tokens = h.provider().tokens
        await tokens.token()
        h.time.now += 7200 - 301
        await tokens.token()
        assert h.state.requests["chanjing.token"] == 1
        h.time.now += 2
        await tokens.token()
        assert h.state.requests["chanjing.token"] == 2


async def test_a_qps_refusal_of_the_token_request_is_retried() -> None:
    async with chanjing() as h:
        h.state.add_fault(Fault("chanjing", route="token", code=40001))
        await h.provider().tokens.token()

        assert h.state.requests["chanjing.token"] == 2
        assert h.time.sleeps == [1.0]


async def test_separate_http_clients_never_share_tokens() -> None:
    app = create_app(EmulatorConfig())
    first = HttpClient.create(transport=httpx2.ASGITransport(app=app))
    second = HttpClient.create(transport=httpx2.ASGITransport(app=app))
    try:
        one = shared_token_manager(first, base_url=BASE, app_id=APP_ID, secret_key=SECRET)
        two = shared_token_manager(second, base_url=BASE, app_id=APP_ID, secret_key=SECRET)
        assert one is not two
        assert shared_token_manager(first, base_url=BASE + "/", app_id=APP_ID, secret_key=SECRET) is one
        assert shared_token_manager(first, base_url=BASE, app_id=APP_ID, secret_key="rotated") is not one
    finally:
        await first.aclose()
        await second.aclose()


def test_an_access_token_does_not_show_its_value_in_its_repr() -> None:
    assert "tok-123" not in repr(AccessToken(value="tok-123", issued_at=0.0, expires_at=10.0))
