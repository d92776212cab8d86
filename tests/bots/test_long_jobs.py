"""Jobs that outlive the 15-minute interaction token continue through ordinary channel messages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.bots.conftest import World, decoded_size, settled, world_of
from tests.fakes.discord import FakeDiscord, InteractionRecord, StoredMessage

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
