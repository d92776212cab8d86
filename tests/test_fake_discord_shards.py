"""The fake Discord's sharding, exercised with real discord.py sharded clients: each session gets the guilds
and interactions of its shard (``(guild_id >> 22) % shard_count``), DMs go to shard 0, and an IDENTIFY for a
shard out of range is closed with 4010 as Discord does."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands
    from discord.ext import commands

    from tests.fakes.discord import (
        CLOSE_INVALID_SHARD,
        FakeDiscord,
        FakeGuild,
        FakeUser,
        running_client,
        shard_of,
    )

WAIT = 10.0


class ShardProbe(commands.AutoShardedBot):
    """A sharded bot whose ``/where`` answers with the shards this client runs."""

    def __init__(self, shard_ids: list[int], shard_count: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1,
            shard_ids=shard_ids, shard_count=shard_count,
        )
        self.label = ",".join(str(i) for i in shard_ids)

    async def setup_hook(self) -> None:
        self.tree.add_command(where)
        if 0 in (self.shard_ids or []):
            await self.tree.sync()


@app_commands.command(name="where", description="Which shard answers")
async def where(interaction: discord.Interaction[ShardProbe]) -> None:
    await interaction.response.send_message(f"shard {interaction.client.label}")


@pytest.fixture
def guilds() -> list[FakeGuild]:
    return [FakeGuild.on_shard(0, 2, name="Zero"), FakeGuild.on_shard(1, 2, name="One")]


@pytest.fixture
async def fake(guilds: list[FakeGuild]) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=guilds) as fake:
        fake.point_discord_py_here()
        yield fake


@pytest.fixture
async def probes(fake: FakeDiscord) -> AsyncIterator[tuple[ShardProbe, ShardProbe]]:
    async with AsyncExitStack() as stack:
        zero = await stack.enter_async_context(running_client(ShardProbe([0], 2), fake, timeout=WAIT))
        one = await stack.enter_async_context(running_client(ShardProbe([1], 2), fake, timeout=WAIT))
        yield zero, one


def test_fixture_guilds_land_on_the_shard_asked_for() -> None:
    for shard_id in range(3):
        guild = FakeGuild.on_shard(shard_id, 3)
        assert shard_of(guild.id, 3) == shard_id == (guild.id >> 22) % 3
    assert shard_of(None, 3) == 0
    with pytest.raises(ValueError, match="shard 2 is not one of 0..1"):
        FakeGuild.on_shard(2, 2)


async def test_each_shard_identifies_with_its_shard_and_gets_only_its_guilds(
    fake: FakeDiscord, guilds: list[FakeGuild], probes: tuple[ShardProbe, ShardProbe]
) -> None:
    zero, one = probes
    identifies = [f["d"]["shard"] for f in fake.gateway.received if f.get("op") == 2]
    assert sorted(identifies) == [[0, 2], [1, 2]]
    assert fake.gateway.shards == [(0, 2), (1, 2)]
    assert [g.id for g in zero.guilds] == [guilds[0].id]
    assert [g.id for g in one.guilds] == [guilds[1].id]


async def test_interactions_go_to_their_guilds_shard_and_dms_to_shard_zero(
    fake: FakeDiscord, guilds: list[FakeGuild], probes: tuple[ShardProbe, ShardProbe]
) -> None:
    on_zero = await fake.slash("where", guild=guilds[0])
    on_one = await fake.slash("where", guild=guilds[1])
    in_dm = await fake.slash("where", user=guilds[1].members[0], dm=True)

    answers = [(await r.wait_for_original(WAIT)).content for r in (on_zero, on_one, in_dm)]
    assert answers == ["shard 0", "shard 1", "shard 0"]
    assert [r.shard for r in (on_zero, on_one, in_dm)] == [(0, 2), (1, 2), (0, 2)]
    fake.assert_clean()


async def test_nothing_reaches_a_shard_that_is_not_connected(fake: FakeDiscord, guilds: list[FakeGuild]) -> None:
    async with running_client(ShardProbe([1], 2), fake, timeout=WAIT):
        assert fake.gateway.route(guilds[0].id) is None and fake.gateway.route(None) is None
        assert fake.gateway.route(guilds[1].id) is not None
        with pytest.raises(RuntimeError, match="connected shards: \\[\\(1, 2\\)\\]"):
            await fake.dispatch("TYPING_START", {"guild_id": str(guilds[0].id), "channel_id": "1"})


async def test_an_unsharded_client_gets_every_guild(fake: FakeDiscord, guilds: list[FakeGuild]) -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with running_client(bot, fake, timeout=WAIT):
        assert sorted(g.id for g in bot.guilds) == sorted(g.id for g in guilds)
        [identify] = [f["d"] for f in fake.gateway.received if f.get("op") == 2]
        assert "shard" not in identify
        assert fake.gateway.shards == [(0, 1)]


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1"])
async def test_an_identify_for_a_shard_out_of_range_is_closed_with_4010(fake: FakeDiscord, shard: object) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.gateway_url + "?v=10") as ws:
        hello = await asyncio.wait_for(ws.receive_json(), WAIT)
        assert hello["op"] == 10
        identify = {"token": fake.token, "intents": 0, "properties": {}, "shard": shard}
        await ws.send_str(json.dumps({"op": 2, "d": identify}))
        closing = await asyncio.wait_for(ws.receive(), WAIT)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == CLOSE_INVALID_SHARD == 4010
    assert fake.gateway.refused_shards == [shard]
    assert fake.gateway.identify_count == 0


async def test_a_resumed_shard_keeps_its_guilds(
    fake: FakeDiscord, guilds: list[FakeGuild], probes: tuple[ShardProbe, ShardProbe]
) -> None:
    await fake.gateway.drop(shard_id=1)
    await fake.wait_until(lambda: fake.gateway.resume_count == 1 and fake.gateway.shards == [(0, 2), (1, 2)])

    record = await fake.slash("where", guild=guilds[1])

    assert (await record.wait_for_original(WAIT)).content == "shard 1"
    assert fake.gateway.identify_count == 2


async def test_a_dm_from_a_stranger_reaches_shard_zero(
    fake: FakeDiscord, probes: tuple[ShardProbe, ShardProbe]
) -> None:
    record = await fake.slash("where", user=FakeUser("stranger"), dm=True)

    assert (await record.wait_for_original(WAIT)).content == "shard 0"
