"""Policy: allow-lists, cooldown, concurrent jobs and daily quotas, refused ephemerally and race-free."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bots.discord.policy import guild_key, quota_day, user_key
from tests.bots.conftest import World, result_messages, status_of, world_of
from tests.fakes.discord import (
    MEMBER_PERMISSIONS,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeRole,
    FakeUser,
    InteractionRecord,
)

MANAGE_MESSAGES = 1 << 13


def refused(record: InteractionRecord) -> bool:
    return record.ephemeral and not result_messages(record)


async def quota_used(world: World, key: str) -> int:
    return await world.counters.quota_used(key=key, day=quota_day(world.fake.clock.utcnow()))


async def test_a_cooldown_refusal_says_when_to_try_again_and_lifts_on_time(tmp_path: Path) -> None:
    async with world_of(tmp_path, cooldown_seconds=10) as world:
        first = await world.imagine("one")
        await world.settled(first)  # two presses in flight race for the slot; here "one" is surely first
        second = await world.imagine("two")
        await world.settled(second)

        retry_at = world.fake.clock.now() + 10
        assert refused(second)
        assert status_of(second).startswith("Slow down a little: you can ask again <t:")
        assert int(re.search(r"<t:(\d+):R>", status_of(second))[1]) == int(retry_at)

        world.fake.clock.advance(10)
        third = await world.imagine("three")
        await world.settled(third)
        assert len(await world.jobs()) == 2

    assert len(result_messages(first)) == len(result_messages(third)) == 1
    world.fake.assert_clean()


async def test_fifty_concurrent_presses_against_a_quota_of_ten_run_exactly_ten_images(tmp_path: Path) -> None:
    async with world_of(tmp_path, user_daily_images=10, max_concurrent_jobs=0) as world:
        records = await asyncio.gather(*(world.imagine(f"tile {i}") for i in range(50)))
        await world.settled(*records)

        ran = [r for r in records if result_messages(r)]
        refusals = [r for r in records if refused(r)]
        assert len(ran) == 10 and len(refusals) == 40
        assert all("used all 10 images for today" in status_of(r) for r in refusals)
        assert len(await world.jobs()) == 10 and world.emulator.generated["ark"] == 10
        assert await quota_used(world, user_key(world.fake.user.id)) == 10
    world.fake.assert_clean()


async def test_the_concurrent_job_cap_refuses_one_job_too_many(tmp_path: Path) -> None:
    async with world_of(tmp_path, max_concurrent_jobs=3) as world:
        hold = world.hold()
        running = [await world.imagine(f"held {i}") for i in range(3)]
        for record in running:
            await record.wait_for(lambda r: r.original is not None and not r.original.loading)
        extra = await world.imagine("one too many")
        await world.settled(extra, idle=False)  # the three held jobs are still running
        assert status_of(extra).startswith("You already have 3 jobs running (the limit is 3)")

        hold.set()
        await world.settled(*running)
        again = await world.imagine("now there is room")
        await world.settled(again)

    assert all(len(result_messages(r)) == 1 for r in [*running, again])
    world.fake.assert_clean()


async def test_the_guild_quota_is_shared_by_its_members(tmp_path: Path) -> None:
    bob = FakeUser("bob")
    fake = FakeDiscord(guilds=[FakeGuild(members=[FakeUser("alice"), bob])])
    async with world_of(tmp_path, fake=fake, guild_daily_images=3) as world:
        first = await world.imagine("three at once", count=3)
        await world.settled(first)
        second = await world.imagine("one more", user=bob)
        await world.settled(second)

        assert status_of(second).startswith("This server has used all 3 images for today.")
        assert await quota_used(world, guild_key(fake.guild.id)) == 3
        assert await quota_used(world, user_key(bob.id)) == 0  # bob's own reservation was given back
    world.fake.assert_clean()


async def test_a_moderation_refusal_is_explained_kindly_and_costs_no_quota(world: World) -> None:
    record = await world.imagine("something forbidden")
    await world.settled(record)

    assert refused(record)
    text = status_of(record)
    assert text.startswith("🛡️ The image service's safety filter declined this request")
    assert "nothing was taken from your daily quota" in text and "Sensitive" not in text
    assert await quota_used(world, user_key(world.fake.user.id)) == 0
    world.fake.assert_clean()


@pytest.mark.parametrize(
    "code", ["OutputImageSensitiveContentDetected", "OutputImageRiskDetection", "ContentSecurityDetectionError"]
)
async def test_an_image_held_back_by_moderation_is_reported_and_given_back(world: World, code: str) -> None:
    record = await world.imagine(f"two cats [refuse:1:{code}]", series=2)
    await world.settled(record)

    [message] = result_messages(record)
    assert len(message.attachments) == 1
    assert status_of(record).startswith(
        "⚠️ Done: 1 of 2 images. 1 was held back by the safety filter (image 2)"
    )
    assert "describing it differently" in status_of(record)  # the safety filter's advice, not "try again"
    headline = status_of(record).splitlines()[0]
    assert "The rest failed" not in headline and code not in headline
    [job] = await world.jobs()
    assert [(f.index, f.code, f.kind) for f in job.failures] == [(1, code, "content_rejected")]
    assert await quota_used(world, user_key(world.fake.user.id)) == 1


def _guild_with_roles() -> tuple[FakeGuild, FakeRole, FakeUser, FakeUser]:
    artists = FakeRole("Artists")
    alice, bob = FakeUser("alice"), FakeUser("bob", role_ids=[artists.id])
    guild = FakeGuild(
        channels=[FakeChannel("general"), FakeChannel("art")], members=[alice, bob], roles=[artists]
    )
    return guild, artists, alice, bob


@pytest.mark.parametrize("rule", ["guild", "channel", "role", "dm", "nsfw"])
async def test_allow_lists_refuse_ephemerally_and_say_why(tmp_path: Path, rule: str) -> None:
    guild, artists, alice, _ = _guild_with_roles()
    art = guild.channel("art")
    policy = {
        "guild": {"allowed_guilds": [guild.id + 1]},
        "channel": {"allowed_channels": [art.id]},
        "role": {"generator_roles": ["artists"]},
        "dm": {"allow_dms": False},
        "nsfw": {"nsfw_channels_only": True},
    }[rule]
    expected = {
        "guild": "Image generation isn't enabled on this server.",
        "channel": f"Images can't be made in this channel. Try <#{art.id}>.",
        "role": "Making images here needs one of these roles: **artists**.",
        "dm": "I don't make images in direct messages here.",
        "nsfw": "On this server images can only be made in age-restricted channels.",
    }[rule]
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild]), **policy) as world:
        record = await world.imagine("a forbidden place", user=alice, dm=rule == "dm")
        await world.settled(record)
        assert await world.jobs() == []

    assert refused(record) and status_of(record).startswith(expected)
    assert world.emulator.requests.total() == 0
    world.fake.assert_clean()


async def test_allowed_roles_and_channels_let_members_generate(tmp_path: Path) -> None:
    guild, artists, _, bob = _guild_with_roles()
    art = guild.channel("art")
    art.nsfw = True
    policy = {"allowed_channels": [art.id], "generator_roles": [str(artists.id)], "nsfw_channels_only": True}
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild]), **policy) as world:
        record = await world.imagine("a mural", user=bob, channel=art)
        await world.settled(record)

    assert len(result_messages(record)) == 1
    world.fake.assert_clean()


async def test_simultaneous_presses_inside_one_cooldown_run_only_one_job(tmp_path: Path) -> None:
    async with world_of(tmp_path, cooldown_seconds=10, max_concurrent_jobs=0) as world:
        records = await asyncio.gather(*(world.imagine(f"rush {i}") for i in range(10)))
        await world.settled(*records)
        assert len(await world.jobs()) == 1

    assert sum(1 for r in records if result_messages(r)) == 1
    assert sum(1 for r in records if status_of(r).startswith("Slow down a little")) == 9


@pytest.mark.parametrize("rule", ["role", "guild", "channel", "nsfw"])
async def test_with_a_server_rule_set_a_dm_from_someone_the_rule_excludes_is_refused(
    tmp_path: Path, rule: str
) -> None:
    guild, artists, alice, bob = _guild_with_roles()
    stranger = FakeUser("stranger")  # in no server the bot knows
    policy, asker = {
        "role": ({"generator_roles": ["artists"]}, alice),  # a member without the role
        "guild": ({"allowed_guilds": [guild.id]}, stranger),
        "channel": ({"allowed_channels": [guild.channel("art").id]}, bob),  # even with the role
        "nsfw": ({"nsfw_channels_only": True}, bob),
    }[rule]
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild]), **policy) as world:
        record = await world.imagine("a secret in my DMs", user=asker, dm=True, count=4)
        await world.settled(record)
        assert await world.jobs() == []

    assert refused(record)
    expected = {
        "role": "Making images here needs one of these roles: **artists**.",
        "guild": "I make images in direct messages only for members of a server where I'm allowed.",
        "channel": "I don't make images in direct messages here: this bot's rules keep them in certain server",
        "nsfw": "I don't make images in direct messages here: this bot's rules keep them in certain server",
    }[rule]
    assert status_of(record).startswith(expected)
    assert world.emulator.requests.total() == 0
    world.fake.assert_clean()


async def test_a_member_with_the_role_may_use_dms_counted_and_logged_as_their_server(tmp_path: Path) -> None:
    guild, artists, alice, bob = _guild_with_roles()
    mod_log = FakeChannel("mod-log")
    guild.channels.append(mod_log)
    mod_log.guild_id = guild.id
    mod = FakeUser("mod", permissions=MEMBER_PERMISSIONS | MANAGE_MESSAGES)
    guild.members.append(mod)
    policy = {"generator_roles": ["artists"], "mod_log_channel": mod_log.id, "guild_daily_images": 10}
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild]), **policy) as world:
        record = await world.imagine("a quiet study", user=bob, dm=True, count=2)
        await world.settled(record)
        [job] = await world.jobs()
        by_mod = await world.fake.slash("job", {"id": job.id}, user=mod)
        by_alice = await world.fake.slash("job", {"id": job.id}, user=alice)
        await world.settled(by_mod, by_alice)
        assert await quota_used(world, guild_key(guild.id)) == 2

    [gallery] = result_messages(record)
    assert gallery.guild_id is None  # the images stay in the DM
    [entry] = world.fake.messages(mod_log)
    assert entry.content.startswith(f"🖼️ Job `{job.id}` · <@{bob.id}> (bob) in a DM (as a member of server {guild.id})")
    assert "> a quiet study" in entry.content and entry.pinged == frozenset()
    assert f"→ ✅ Done: 2 independent images. https://discord.com/channels/@me/{gallery.channel_id}/{gallery.id}" in (
        entry.content
    )
    assert by_mod.followups and "I can't find a job" in status_of(by_alice)
    world.fake.assert_clean()


async def test_the_mod_log_receives_every_job_with_its_requester_prompt_and_outcome(tmp_path: Path) -> None:
    guild, artists, alice, bob = _guild_with_roles()
    mod_log = guild.channel("art")
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild]), mod_log_channel=mod_log.id) as world:
        made = await world.imagine("a red kite", user=alice)
        refused_job = await world.imagine("something forbidden", user=bob)
        await world.settled(made, refused_job)
        jobs = {j.prompt: j.id for j in await world.jobs()}

    entries = world.fake.messages(mod_log)
    first = next(m for m in entries if f"`{jobs['a red kite']}`" in m.content)
    second = next(m for m in entries if f"`{jobs['something forbidden']}`" in m.content)
    general = guild.channel("general").id
    assert first.content.startswith(f"🖼️ Job `{jobs['a red kite']}` · <@{alice.id}> (alice) in <#{general}>")
    assert "→ ✅ Done: 1 image." in first.content
    assert second.content.startswith(f"🖼️ Job `{jobs['something forbidden']}` · <@{bob.id}> (bob)")
    assert "→ 🛡️ The image service's safety filter declined this request" in second.content
    assert len(entries) == 2 and all(not e.pinged for e in entries)
    world.fake.assert_clean()
