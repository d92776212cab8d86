"""Where the bot finds Discord: its settings point this one client (REST, interaction webhooks, gateway) at a
Discord-compatible server, and nothing else in the process moves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.bots.conftest import World, new_emulator, open_service, result_messages, run_bot, world_of
from tests.fakes.discord import FakeDiscord, FakeUser


def logins(fake: FakeDiscord) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and r.path.endswith("/users/@me"))


def model_choices(world: World) -> list[str]:
    imagine = world.bot.tree.get_command("imagine")
    assert imagine is not None
    parameter = imagine.get_parameter("model")  # type: ignore[union-attr]
    return [str(c.value) for c in parameter.choices]


@pytest.mark.embedded  # two separate deployments, each with a job file of its own (one test has one schema)
async def test_two_bots_in_one_process_each_talk_only_to_their_own_discord(tmp_path: Path) -> None:
    defaults = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    red = FakeDiscord(token="red-token", bot=FakeUser("Red bot", bot=True))
    blue = FakeDiscord(token="blue-token", bot=FakeUser("Blue bot", bot=True))
    async with (
        world_of(tmp_path / "red", fake=red) as first,
        world_of(tmp_path / "blue", fake=blue, service_settings={"provider": "sandbox-visual"}) as second,
    ):
        made = await asyncio.gather(first.imagine("a red door"), second.imagine("a blue door", size="1.3K"))
        await asyncio.gather(first.settled(made[0]), second.settled(made[1]))
        [red_job], [blue_job] = await first.jobs(), await second.jobs()
        rerolls = await asyncio.gather(
            red.click(f"sd:reroll:{red_job.id}", message=result_messages(made[0])[0]),
            blue.click(f"sd:reroll:{blue_job.id}", message=result_messages(made[1])[0]),
        )
        await asyncio.gather(first.settled(rerolls[0]), second.settled(rerolls[1]))
        choices = model_choices(first), model_choices(second)
        rerolled = [[j for j in await w.jobs() if j.parent_id is not None] for w in (first, second)]

    assert defaults == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)  # discord.py's globals never moved
    for fake, world, record, [reroll], prompt in (
        (red, first, made[0], rerolled[0], "a red door"),
        (blue, second, made[1], rerolled[1], "a blue door"),
    ):
        [message] = result_messages(record)
        assert message.content.startswith(f"**{prompt}**")
        assert reroll.provider == world.service.default_provider
        assert logins(fake) == 1 and len(fake.sync_calls) == 1
        fake.assert_clean()  # a request carrying the other bot's token or interaction would be a violation
    assert "seedream-4.0" in choices[0] and choices[1] == ["seedream-3.0"]  # each keeps its provider's models


async def test_with_only_the_rest_base_set_the_gateway_is_the_one_that_server_announces(tmp_path: Path) -> None:
    async with (
        FakeDiscord() as fake,
        open_service(tmp_path / "data", new_emulator()) as service,
        run_bot(fake, service, gateway_url=None) as bot,
    ):
        record = await fake.slash("imagine", {"prompt": "a compass", "size": "1K"})
        await record.wait_for(lambda r: len(r.files()) == 1)
        await bot.wait_idle()

    assert any(r.method == "GET" and r.path == "/api/v10/gateway/bot" for r in fake.requests)
    assert DiscordWebSocket.DEFAULT_GATEWAY.host == "gateway.discord.gg"
    fake.assert_clean()
