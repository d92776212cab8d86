"""The bot as shards: two real bots (shards 0 and 1 of 2), each with its own image service, share one set of
backends (job store, counters, pace: one SQLite file embedded, PostgreSQL and Redis with
``--backends=services``) against one fake Discord with a guild on each shard — as two processes would."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bots.discord.__main__ import main
from bots.discord.bot import ImageBot, ShardedImageBot
from bots.discord.policy import guild_key, quota_day, user_key
from bots.discord.settings import BotSettings
from core import factory
from core.emulator import EmulatorState
from core.errors import ConfigurationError
from core.jobs import JobRecord
from core.settings_errors import read_settings
from tests.bots.conftest import (
    new_emulator,
    open_backends,
    result_messages,
    run_bot,
    settled,
    status_of,
)
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, InteractionRecord

WAIT = 30.0
ZERO, ONE = (0, 2), (1, 2)


@dataclass
class Shards:
    fake: FakeDiscord
    emulator: EmulatorState
    backends: factory.Backends
    bots: tuple[ImageBot, ImageBot]
    guilds: tuple[FakeGuild, FakeGuild]  # on shard 0, on shard 1
    alice: FakeUser
    bob: FakeUser

    async def imagine(self, prompt: str, *, on: int, user: FakeUser | None = None, **options: Any) -> InteractionRecord:
        """``/imagine`` (1K) in the first channel of the guild on shard ``on``."""
        return await self.fake.slash(
            "imagine", {"prompt": prompt, "size": "1K", **options}, user=user or self.alice, guild=self.guilds[on]
        )

    async def settled(self, *records: InteractionRecord) -> None:
        for record in records:
            await record.wait_for(settled, WAIT)
        await self.idle()

    async def idle(self) -> None:
        await asyncio.wait_for(asyncio.gather(*(bot.wait_idle() for bot in self.bots)), WAIT)

    async def jobs(self) -> list[JobRecord]:
        return await self.backends.jobs.list_jobs(limit=100)


def two_guilds() -> tuple[FakeGuild, FakeGuild]:
    """"Zero" on shard 0 and "One" on shard 1 (of 2), both with alice and bob."""
    alice, bob = FakeUser("alice"), FakeUser("bob")
    return (
        FakeGuild.on_shard(0, 2, name="Zero", members=[alice, bob]),
        FakeGuild.on_shard(1, 2, name="One", members=[alice, bob]),
    )


@asynccontextmanager
async def shards(
    tmp_path: Path, *, guilds: tuple[FakeGuild, FakeGuild] | None = None, **policy: Any
) -> AsyncIterator[Shards]:
    """Shard 0 and shard 1 of 2, each a bot with its own service, over one set of backends."""
    guilds = guilds or two_guilds()
    alice, bob = guilds[0].members
    emulator = new_emulator()
    settings = {"shard_count": 2, **policy}
    async with (
        FakeDiscord(guilds=guilds) as fake,
        open_backends(tmp_path / "data", emulator) as backends,
        factory.running_service(backends) as service_zero,
        factory.running_service(backends) as service_one,
        run_bot(fake, service_zero, counters=backends.counters, pace=backends.pace, shard_ids=[0], **settings) as zero,
        run_bot(fake, service_one, counters=backends.counters, pace=backends.pace, shard_ids=[1], **settings) as one,
    ):
        world = Shards(fake, emulator, backends, (zero, one), guilds, alice, bob)
        try:
            yield world
        finally:
            if emulator.hold is not None:  # never leave a job held: closing waits for running jobs
                emulator.hold.set()
            await world.idle()


def refused(record: InteractionRecord) -> bool:
    return record.ephemeral and not result_messages(record)


async def test_each_shard_answers_its_own_guild_and_shard_zero_the_dms(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bots")
    async with shards(tmp_path) as world:
        zero, one = world.bots
        assert isinstance(zero, ShardedImageBot) and isinstance(one, ShardedImageBot)
        assert [g.id for g in zero.guilds] == [world.guilds[0].id]
        assert [g.id for g in one.guilds] == [world.guilds[1].id]

        records = [
            await world.imagine("a lighthouse", on=0),
            await world.imagine("a windmill", on=1),
            await world.fake.slash("imagine", {"prompt": "a mill pond", "size": "1K"}, user=world.bob, dm=True),
        ]
        await world.settled(*records)
        jobs = {job.prompt: job for job in await world.jobs()}

    assert [r.shard for r in records] == [ZERO, ONE, ZERO]
    assert all(len(result_messages(r)) == 1 for r in records)
    assert jobs["a lighthouse"].requester.guild_id == str(world.guilds[0].id)
    assert jobs["a windmill"].requester.guild_id == str(world.guilds[1].id)
    assert jobs["a mill pond"].requester.guild_id is None
    # Only the process running shard 0 registers the slash commands.
    assert (zero.synced_on_start, one.synced_on_start) == (True, False)
    assert len(world.fake.sync_calls) == 1
    policies = sorted(r.getMessage() for r in caplog.records if r.getMessage().startswith("policy in force: "))
    assert [p.rsplit("; ", 1)[1] for p in policies] == ["shards=0 of 2", "shards=1 of 2"]
    world.fake.assert_clean()


async def test_buttons_on_shard_one_work_for_a_job_shard_zero_ran(tmp_path: Path) -> None:
    async with shards(tmp_path) as world:
        first = await world.imagine("a red kite", on=0, model="seedream-3.0", seed=42)
        await world.settled(first)
        [job] = await world.jobs()

        # Re-opened with /job in the guild on shard 1: its images come back with their buttons there.
        reopened = await world.fake.slash("job", {"id": job.id}, user=world.alice, guild=world.guilds[1])
        await world.settled(reopened)
        [gallery] = result_messages(reopened)
        details = await world.fake.click(f"sd:details:{job.id}", message=gallery)
        reroll = await world.fake.click(f"sd:reroll:{job.id}", message=gallery)
        await world.settled(details, reroll)
        rerolled = next(j for j in await world.jobs() if j.id != job.id)

    assert reopened.shard == details.shard == reroll.shard == ONE
    assert gallery.channel_id == world.guilds[1].channels[0].id
    assert details.original is not None and details.original.embeds and job.id in str(details.original.embeds[0])
    assert rerolled.parent_id == job.id and rerolled.prompt == "a red kite" and rerolled.parameters["seed"] != 42
    assert rerolled.requester.guild_id == str(world.guilds[1].id)
    [new_message] = result_messages(reroll)
    assert f"`{rerolled.id}` (from `{job.id}`)" in new_message.content
    world.fake.assert_clean()


async def test_a_dm_on_shard_zero_is_judged_in_the_askers_server_on_shard_one(tmp_path: Path) -> None:
    guilds = two_guilds()
    async with shards(tmp_path, guilds=guilds, allowed_guilds=[guilds[1].id], guild_daily_images=5) as world:
        assert world.bots[0].get_guild(guilds[1].id) is None  # shard 0 does not hold that server
        record = await world.fake.slash("imagine", {"prompt": "a quiet bay", "size": "1K"}, user=world.bob, dm=True)
        await world.settled(record)
        [job] = await world.jobs()
        used = await world.backends.counters.quota_used(
            key=guild_key(guilds[1].id), day=quota_day(world.fake.clock.utcnow())
        )

    assert record.shard == ZERO and len(result_messages(record)) == 1
    assert job.requester.guild_id is None and used == 1  # a DM, counted for the server that admitted it
    world.fake.assert_clean()


async def test_a_cancel_pressed_in_another_process_stops_the_job_where_it_runs(tmp_path: Path) -> None:
    async with shards(tmp_path) as world:
        world.emulator.hold = asyncio.Event()  # the job waits at the provider until cancelled
        record = await world.imagine("a slow cathedral", on=0)
        await record.wait_for(lambda r: r.original is not None and r.original.custom_ids(), WAIT)
        assert record.original is not None
        [cancel] = record.original.custom_ids()
        [job] = await world.jobs()

        # A rolling restart: a new process takes shard 0 while the old one still runs the job.
        async with (
            factory.running_service(world.backends) as service,
            run_bot(world.fake, service, counters=world.backends.counters, pace=world.backends.pace,
                    shard_count=2, shard_ids=[0]) as successor,
        ):
            click = await world.fake.click(cancel, message=record.original)
            await click.wait_for(settled, WAIT)
            await successor.wait_idle()
            # The process running the job sees the request at its next look and stops it.
            await world.settled(record)
        [stopped] = await world.jobs()
        used = await world.backends.counters.quota_used(key=user_key(world.alice.id),
                                                       day=quota_day(world.fake.clock.utcnow()))

    assert status_of(click) == f"⏹️ Cancelling job `{job.id}`: images not made yet go back to the quota."
    assert stopped.status == "interrupted" and stopped.error_kind == "cancelled"
    assert stopped.extra["cancel_requested"]["by"] == f"discord:{world.alice.id}"
    assert result_messages(record) == [] and used == 0  # nothing made, nothing counted
    world.fake.assert_clean()


async def test_the_cooldown_holds_across_shards(tmp_path: Path) -> None:
    async with shards(tmp_path, cooldown_seconds=10) as world:
        first = await world.imagine("one", on=0)
        await world.settled(first)
        second = await world.imagine("two", on=1)
        await world.settled(second)
        other_user = await world.imagine("bob's", on=1, user=world.bob)
        await world.settled(other_user)

        world.fake.clock.advance(10)
        third = await world.imagine("three", on=1)
        await world.settled(third)
        prompts = sorted(j.prompt for j in await world.jobs())

    assert second.shard == ONE and refused(second)
    assert status_of(second).startswith("Slow down a little: you can ask again <t:")
    assert prompts == ["bob's", "one", "three"]
    world.fake.assert_clean()


async def test_the_per_user_job_cap_holds_across_shards(tmp_path: Path) -> None:
    async with shards(tmp_path, max_concurrent_jobs=2) as world:
        hold = world.emulator.hold = asyncio.Event()
        running = [await world.imagine("held on zero", on=0), await world.imagine("held on one", on=1)]
        for record in running:
            await record.wait_for(lambda r: r.original is not None and not r.original.loading, WAIT)
        extra = [await world.imagine("one too many", on=shard) for shard in (0, 1)]
        for record in extra:
            await record.wait_for(settled, WAIT)
        assert all(status_of(r).startswith("You already have 2 jobs running (the limit is 2)") for r in extra)

        hold.set()
        await world.settled(*running)
        again = await world.imagine("now there is room", on=1)
        await world.settled(again)

    assert all(len(result_messages(r)) == 1 for r in [*running, again])
    world.fake.assert_clean()


async def test_a_daily_quota_holds_across_shards_under_simultaneous_presses(tmp_path: Path) -> None:
    async with shards(tmp_path, user_daily_images=10, max_concurrent_jobs=0) as world:
        records = await asyncio.gather(*(world.imagine(f"tile {i}", on=i % 2) for i in range(40)))
        await world.settled(*records)
        used = await world.backends.counters.quota_used(
            key=user_key(world.alice.id), day=quota_day(world.fake.clock.utcnow())
        )
        jobs = await world.jobs()

    ran = [r for r in records if result_messages(r)]
    refusals = [r for r in records if refused(r)]
    assert {r.shard for r in records} == {ZERO, ONE}
    assert len(ran) == 10 and len(refusals) == 30 and len(jobs) == 10 and used == 10
    assert all("used all 10 images for today" in status_of(r) for r in refusals)
    assert world.emulator.generated["ark"] == 10
    world.fake.assert_clean()


# -- settings ---------------------------------------------------------------------------------------------------


@pytest.fixture
def shard_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SEEDREAM_DISCORD_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        ("4", "3,1", ((1, 3), (1, 3), "shards=1,3 of 4")),
        ("3", None, ((), (0, 1, 2), "shards=0,1,2 of 3")),
        ("2", " 1 , 1 ", ((1,), (1,), "shards=1 of 2")),
    ],
)
def test_shard_settings_are_read_from_the_environment(
    shard_environment: pytest.MonkeyPatch, count: str, ids: str | None, expected: tuple[Any, ...]
) -> None:
    shard_environment.setenv("SEEDREAM_DISCORD_SHARD_COUNT", count)
    if ids is not None:
        shard_environment.setenv("SEEDREAM_DISCORD_SHARD_IDS", ids)

    settings = read_settings(BotSettings, _env_file=None)

    assert settings.sharded and settings.shard_count == int(count)
    assert (settings.shard_ids, settings.own_shards, settings.describe_shards()) == expected


def test_without_shard_settings_the_bot_is_one_unsharded_connection(shard_environment: pytest.MonkeyPatch) -> None:
    settings = read_settings(BotSettings, _env_file=None)

    assert not settings.sharded and settings.own_shards == ()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"SEEDREAM_DISCORD_SHARD_IDS": "1"},
            "Invalid SEEDREAM_DISCORD_SHARD_IDS: '1'. Allowed: shard ids only with SEEDREAM_DISCORD_SHARD_COUNT "
            "set (the total number of shards).",
        ),
        (
            {"SEEDREAM_DISCORD_SHARD_COUNT": "2", "SEEDREAM_DISCORD_SHARD_IDS": "0,2"},
            "Invalid SEEDREAM_DISCORD_SHARD_IDS: '0,2'. Allowed: shard ids from 0 to 1 "
            "(SEEDREAM_DISCORD_SHARD_COUNT is 2).",
        ),
        (
            {"SEEDREAM_DISCORD_SHARD_COUNT": "2", "SEEDREAM_DISCORD_SHARD_IDS": "0;-1"},
            "Invalid SEEDREAM_DISCORD_SHARD_IDS: '0;-1'. Allowed: shard ids as whole numbers separated by commas, "
            "e.g. 0,1.",
        ),
        (
            {"SEEDREAM_DISCORD_SHARD_COUNT": "0"},
            "Invalid SEEDREAM_DISCORD_SHARD_COUNT: '0'. Allowed: a number from 1 to 100000.",
        ),
        (
            {"SEEDREAM_DISCORD_SHARD_COUNT": "two", "SEEDREAM_DISCORD_SHARD_IDS": "0"},
            "Invalid SEEDREAM_DISCORD_SHARD_COUNT: 'two'. Allowed: a whole number from 1 to 100000.",
        ),
    ],
)
def test_invalid_shard_settings_are_one_line_naming_the_variable(
    shard_environment: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        shard_environment.setenv(name, value)

    with pytest.raises(ConfigurationError) as caught:
        read_settings(BotSettings, _env_file=None)

    assert caught.value.message == message


def test_the_command_refuses_shard_ids_out_of_range_at_start(
    shard_environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard_environment.chdir(tmp_path)  # no stray .env
    shard_environment.setenv("DISCORD_TOKEN", "secret-token")
    shard_environment.setenv("SEEDREAM_PROVIDER", "sandbox")
    shard_environment.setenv("SEEDREAM_DATA_DIR", str(tmp_path / "data"))
    shard_environment.setenv("SEEDREAM_DISCORD_SHARD_COUNT", "2")
    shard_environment.setenv("SEEDREAM_DISCORD_SHARD_IDS", "2")

    assert main([]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "seedream-bot: Invalid SEEDREAM_DISCORD_SHARD_IDS: '2'. Allowed: shard ids from 0 to 1 "
        "(SEEDREAM_DISCORD_SHARD_COUNT is 2)."
    )
