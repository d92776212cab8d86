"""Jobs that outlive the 15-minute interaction token continue through ordinary channel messages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.bots.conftest import World, decoded_size, settled, status_of, world_of
from tests.fakes.discord import (
    BOT_PERMISSIONS,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    InteractionRecord,
    StoredMessage,
)
from tests.fakes.discord.models import PUBLIC_THREAD

FIFTEEN_MINUTES = 15 * 60
STILL_WORKING = "⏳ Still working: this is taking a while, so I'll continue here:"


def channel_messages(world: World) -> list[StoredMessage]:
    """Messages sent with the bot token (not through an interaction)."""
    return [m for m in world.fake.messages(world.fake.channel) if m.interaction_id is None]


async def started(record: InteractionRecord) -> None:
    await record.wait_for(lambda r: r.original is not None and not r.original.loading)


async def test_a_job_longer_than_fifteen_fake_minutes_completes_through_a_channel_message(
    world: World,
) -> None:
    hold = world.hold()
    record = await world.imagine("a very slow cathedral", count=2)
    await started(record)

    world.fake.clock.advance(FIFTEEN_MINUTES + 60)
    hold.set()
    await world.fake.wait_until(
        lambda: any("✅ Done" in m.content for m in channel_messages(world)), timeout=30
    )
    await world.idle()

    status, results, ping = channel_messages(world)
    assert status.content.startswith(f"<@{world.fake.user.id}> ✅ Done: 2 independent images")
    assert [decoded_size(a.data) for a in results.attachments] == [(1024, 1024)] * 2
    assert results.custom_ids() and ping.content.startswith(f"<@{world.fake.user.id}> ✅ Done")
    assert not record.followups  # nothing went through the dead token
    world.fake.assert_clean()  # and it was never used after it expired


async def test_a_job_that_goes_silent_leaves_the_interaction_before_the_token_expires(world: World) -> None:
    hold = world.hold()  # the provider takes the request and then says nothing
    record = await world.imagine("a patient mountain")
    await record.wait_for(lambda r: r.original is not None and r.original.content.startswith("🎨 Generating"))

    # Fourteen and a half minutes of silence: inside the bot's margin, the token still valid, no event at all.
    world.fake.clock.advance(FIFTEEN_MINUTES - 30)
    await record.wait_for(lambda r: r.original is not None and r.original.content.startswith(STILL_WORKING))

    assert world.emulator.generated["ark"] == 0  # nothing arrived from the provider to trigger the move
    assert record.original is not None
    [status] = channel_messages(world)
    assert f"/channels/{world.fake.guild.id}/{world.fake.channel.id}/{status.id}" in record.original.content
    assert status.content.startswith(f"<@{world.fake.user.id}> 🎨 Generating")

    hold.set()
    await world.fake.wait_until(
        lambda: any("✅ Done" in m.content for m in channel_messages(world)), timeout=30
    )
    await world.idle()
    status, results = channel_messages(world)  # the gallery that completes the job is the ping itself
    assert len(results.attachments) == 1 and not record.followups
    world.fake.assert_clean()


async def test_an_expired_token_reported_by_discord_moves_the_rest_of_the_job_to_the_channel(
    tmp_path: Path,
) -> None:
    fake = FakeDiscord()
    # The bot's clock runs 20 minutes late, so only Discord's 401 50027 can tell it the token is gone.
    async with world_of(
        tmp_path, fake=fake, clock=lambda: fake.clock.utcnow() - timedelta(minutes=20)
    ) as world:
        hold = world.hold()
        record = await world.imagine("a slow river", count=2)
        await started(record)

        fake.clock.advance(FIFTEEN_MINUTES + 60)
        hold.set()
        await fake.wait_until(
            lambda: any("✅ Done" in m.content for m in channel_messages(world)), timeout=30
        )

    status, results, _ = channel_messages(world)
    assert len(results.attachments) == 2
    assert [v.kind for v in fake.violations] == ["expired_token"]  # one refused call, then the channel
    assert settled(record) is False  # the ephemeral reply could not be updated any more


SEND_MESSAGES, SEND_IN_THREADS = 1 << 11, 1 << 38
FOURTEEN_MINUTES = 14 * 60


def gallery_of(record: InteractionRecord) -> list[StoredMessage]:
    return [m for m in record.all_messages() if m.attachments and not m.ephemeral]


async def test_a_fourteen_minute_old_job_where_the_bot_may_not_post_still_delivers_through_the_interaction(
    tmp_path: Path,
) -> None:
    fake = FakeDiscord(app_permissions=BOT_PERMISSIONS & ~SEND_MESSAGES)  # View Channel + commands, no posting
    async with world_of(tmp_path, fake=fake) as world:
        hold = world.hold()
        record = await world.imagine("a patient glacier", count=2)
        await started(record)

        fake.clock.advance(FOURTEEN_MINUTES)  # past the bot's usual move, the token still valid
        hold.set()
        await world.settled(record)

    assert status_of(record).startswith("✅ Done: 2 independent images.")
    [gallery] = gallery_of(record)
    assert len(gallery.attachments) == 2
    assert channel_messages(world) == []
    fake.assert_clean()  # not one refused call: the bot knew it could not post


async def test_a_job_outliving_the_token_where_the_bot_may_not_post_says_where_to_find_it(tmp_path: Path) -> None:
    fake = FakeDiscord(app_permissions=BOT_PERMISSIONS & ~SEND_MESSAGES)
    async with world_of(tmp_path, fake=fake) as world:
        hold = world.hold()
        record = await world.imagine("a glacier that takes its time")
        await started(record)
        [job] = await world.jobs()

        fake.clock.advance(FIFTEEN_MINUTES - 10)  # the last seconds of the token
        await record.wait_for(lambda r: len(r.followups) == 1)
        hold.set()
        await fake.wait_until(lambda: bool(fake.messages(fake.dm_channel())), timeout=30)
        await world.idle()

    [notice] = record.followups
    assert notice.ephemeral and f"use `/job id:{job.id}` to see it" in notice.content
    [dm] = fake.messages(fake.dm_channel())
    assert dm.content.startswith("✅ Done: 1 image.") and f"`/job id:{job.id}`" in dm.content
    assert channel_messages(world) == []
    fake.assert_clean()  # nothing sent with the dead token, nothing refused


async def test_a_channel_that_refuses_mid_job_is_asked_once_and_the_interaction_carries_on(tmp_path: Path) -> None:
    fake = FakeDiscord()
    async with world_of(tmp_path, fake=fake) as world:
        hold = world.hold()
        record = await world.imagine("a long procession", count=2)
        await started(record)
        fake.channel.bot_permissions = BOT_PERMISSIONS & ~SEND_MESSAGES  # taken away while the job runs

        fake.clock.advance(FOURTEEN_MINUTES)
        hold.set()
        await world.settled(record)

    assert status_of(record).startswith("✅ Done: 2 independent images.") and len(gallery_of(record)) == 1
    assert [v.kind for v in fake.violations] == ["missing_permissions"]  # asked once, never again


async def test_in_a_thread_the_bot_needs_send_messages_in_threads_to_carry_a_long_job(tmp_path: Path) -> None:
    general = FakeChannel("general")
    thread = FakeChannel("ideas", type=PUBLIC_THREAD, parent=general, bot_permissions=BOT_PERMISSIONS)
    fake = FakeDiscord(guilds=[FakeGuild(channels=[general, thread])])
    async with world_of(tmp_path, fake=fake) as world:
        hold = world.hold()
        record = await world.imagine("a thread of thought", channel=thread)
        await started(record)

        fake.clock.advance(FOURTEEN_MINUTES)
        hold.set()
        await world.settled(record)

    assert status_of(record).startswith("✅ Done: 1 image.") and len(gallery_of(record)) == 1
    assert fake.messages(thread) and all(m.interaction_id is not None for m in fake.messages(thread))
    fake.assert_clean()  # Send Messages alone is not enough in a thread: the bot did not try


async def test_in_a_thread_where_it_may_post_a_long_job_moves_there(tmp_path: Path) -> None:
    general = FakeChannel("general")
    thread = FakeChannel(
        "ideas", type=PUBLIC_THREAD, parent=general, bot_permissions=BOT_PERMISSIONS | SEND_IN_THREADS
    )
    fake = FakeDiscord(guilds=[FakeGuild(channels=[general, thread])])
    async with world_of(tmp_path, fake=fake) as world:
        hold = world.hold()
        record = await world.imagine("a thread of thought", channel=thread)
        await started(record)

        fake.clock.advance(FOURTEEN_MINUTES)
        hold.set()
        await fake.wait_until(lambda: any("✅ Done" in m.content for m in fake.messages(thread)), timeout=30)
        await world.idle()

    status, gallery = [m for m in fake.messages(thread) if m.interaction_id is None]
    assert status.content.startswith(f"<@{fake.user.id}> ✅ Done: 1 image.") and len(gallery.attachments) == 1
    fake.assert_clean()


async def test_when_the_token_dies_mid_job_the_same_gallery_and_status_carry_on_in_the_channel(
    world: World,
) -> None:
    fake = world.fake
    hold = world.hold()
    record = await world.imagine("a relay of three runners", count=3)
    await started(record)
    # The second image's edit of the gallery is on its way when the token runs out.
    stall = fake.stall("PATCH", r"/webhooks/\d+/[^/]+/messages/\d+$")
    hold.set()
    await asyncio.wait_for(stall.arrived.wait(), 30)
    [gallery] = [m for m in record.followups if m.attachments]
    fake.clock.advance(FIFTEEN_MINUTES + 60)
    stall.release()
    await fake.wait_until(lambda: any("✅ Done" in m.content for m in channel_messages(world)), timeout=30)
    await world.idle()

    assert [len(gallery.attachments), gallery.deleted] == [3, False]  # one gallery, edited with the bot token
    status, ping = channel_messages(world)
    assert status.content.startswith(f"<@{fake.user.id}> ✅ Done: 3 independent images.")
    assert f"/{gallery.id}" in ping.content and ping.pinged == {fake.user.id}
    assert [v.kind for v in fake.violations] == ["expired_token"]  # the one edit that met the dead token
