"""A whole deployment on loopback: three ``seedream-mcp`` replicas and two ``seedream-bot`` processes (shards 0
and 1 of a fake Discord) share PostgreSQL, Redis, one output folder and one Ark account capped at 2 in flight."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.bots.conftest import result_messages, settled
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, InteractionRecord
from tests.reliability.harness import emulator_server
from tests.scaleout.harness import ARK_KEY, bot_shard, generate, replicas, shared_env
from tests.services import RedisNamespace, eventually

pytestmark = pytest.mark.slow
WAIT = 120.0


async def test_replicas_and_shards_share_the_account_cap_and_a_users_daily_quota(
    tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace
) -> None:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    guilds = (FakeGuild.on_shard(0, 2, name="Zero", members=[alice, bob]),
              FakeGuild.on_shard(1, 2, name="One", members=[alice, bob]))
    async with emulator_server(ark_api_keys=frozenset({ARK_KEY}), ark_concurrency=2, latency=0.02) as ark:
        env = shared_env(tmp_path, database_url=postgres_url, redis_url=redis_namespace.url,
                         redis_prefix=redis_namespace.prefix, ark_base=ark.base,
                         SEEDREAM_DISCORD_COOLDOWN_SECONDS="0", SEEDREAM_DISCORD_MAX_CONCURRENT_JOBS="0",
                         SEEDREAM_DISCORD_USER_DAILY_IMAGES="10")
        async with FakeDiscord(guilds=guilds) as fake:
            where = {"api_base": fake.api_base, "gateway_url": fake.gateway_url, "token": fake.token, "shards": 2}
            async with (replicas(env, 3) as mcp, bot_shard(env, shard=0, **where), bot_shard(env, shard=1, **where)):
                await eventually(lambda: fake.gateway.shards == [(0, 2), (1, 2)] and bool(fake.sync_calls),
                                 timeout=WAIT, what="both shards to connect and the commands to be registered")

                async def imagine(user: FakeUser, on: int, prompt: str) -> InteractionRecord:
                    record = await fake.slash("imagine", {"prompt": prompt, "size": "1K"}, user=user,
                                              guild=guilds[on])
                    await record.wait_for(settled, WAIT)
                    return record

                # 30 jobs over five processes: 24 through the replicas, 6 through the two shards.
                results = await asyncio.gather(
                    *(generate(mcp[i % 3], size="1024x1024") for i in range(24)),
                    *(imagine(alice, i % 2, f"a harbour {i}") for i in range(6)))
                peak_after_burst, rejected_after_burst = ark.state.peak_in_flight["ark"], ark.state.rejected["ark"]

                # bob presses 50 times at once across both shards; his daily quota is 10.
                ark.state.generated.clear()
                presses = await asyncio.gather(*(imagine(bob, i % 2, f"a kite {i}") for i in range(50)))

    mcp_results, bot_results = results[:24], results[24:]
    assert all(r["status"] == "succeeded" for r in mcp_results)
    assert all(len(result_messages(r)) == 1 for r in bot_results)
    assert {r.shard for r in bot_results} == {(0, 2), (1, 2)}
    assert peak_after_burst == 2 and rejected_after_burst == 0
    ran = [p for p in presses if result_messages(p)]
    assert len(ran) == 10 and ark.state.generated["ark"] == 10
    refusals = [p for p in presses if not result_messages(p)]
    assert all("used all 10 images for today" in p.original.content for p in refusals)
    assert {p.shard for p in ran} <= {(0, 2), (1, 2)} and ark.state.rejected["ark"] == 0
