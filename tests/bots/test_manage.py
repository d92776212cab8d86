"""Managing a job: Delete (where the bot can't see, and everything made from the job) and Cancel (quota back)."""

from __future__ import annotations

from pathlib import Path

from bots.discord.policy import quota_day, user_key
from tests.bots.conftest import World, result_messages, status_of, world_of
from tests.fakes.discord import BOT_PERMISSIONS, FakeDiscord, InteractionRecord, StoredMessage

VIEW_CHANNEL = 1 << 10


async def delete_confirmed(world: World, job_id: str, message: StoredMessage) -> InteractionRecord:
    asked = await world.fake.click(f"sd:delete:{job_id}", message=message)
    await world.settled(asked)
    assert asked.original is not None
    confirmed = await world.fake.click(f"sd:deleteyes:{job_id}", message=asked.original)
    await confirmed.wait_for(lambda r: r.original is not None and r.original.content.startswith("🗑️"))
    await world.idle()
    return confirmed


async def test_delete_without_view_channel_answers_and_says_which_messages_remain(tmp_path: Path) -> None:
    fake = FakeDiscord()
    async with world_of(tmp_path, fake=fake) as world:
        record = await world.imagine("a private sketch")
        await world.settled(record)
        [message] = result_messages(record)
        [job] = await world.jobs()
        fake.channel.bot_permissions = BOT_PERMISSIONS & ~VIEW_CHANNEL  # a moderator hid the channel from the bot

        confirmed = await delete_confirmed(world, job.id, message)
        [after] = await world.jobs()

    text = status_of(confirmed)
    assert text.startswith(f"🗑️ Deleted job `{job.id}`: 0 message(s) and 1 image file(s) removed")
    assert f"I couldn't remove the messages in <#{fake.channel.id}>" in text
    assert not job.images[0].path.exists() and after.extra["discord_deleted"]
    assert not message.deleted  # the bot could not, and said so
    fake.assert_clean()  # it never asked Discord for what it may not do


async def test_delete_removes_what_was_made_from_the_job_too(world: World) -> None:
    record = await world.imagine("a crowded market")
    await world.settled(record)
    [message] = result_messages(record)
    [job] = await world.jobs()
    reroll = await world.fake.click(f"sd:reroll:{job.id}", message=message)
    await world.settled(reroll)
    [rerolled_message] = result_messages(reroll)
    [rerolled] = [j for j in await world.jobs() if j.parent_id == job.id]
    vary = await world.fake.click(f"sd:subtle:{rerolled.id}:0", message=rerolled_message)
    await world.settled(vary)
    assert len(await world.jobs()) == 3

    confirmed = await delete_confirmed(world, job.id, message)

    assert status_of(confirmed).startswith(f"🗑️ Deleted job `{job.id}` and 2 made from it: 3 message(s) and 3 image")
    public = [m for r in (record, reroll, vary) for m in r.all_messages() if not m.ephemeral]
    assert len(public) == 3 and all(m.deleted for m in public)
    assert all(j.extra.get("discord_deleted") for j in await world.jobs())
    world.fake.assert_clean()


async def test_keep_it_leaves_the_job_alone(world: World) -> None:
    record = await world.imagine("a keeper")
    await world.settled(record)
    [message] = result_messages(record)
    [job] = await world.jobs()
    asked = await world.fake.click(f"sd:delete:{job.id}", message=message)
    await world.settled(asked)
    assert asked.original is not None

    kept = await world.fake.click(f"sd:keep:{job.id}", message=asked.original)
    await kept.acknowledged()
    await world.idle()

    assert asked.original.content == f"Kept job `{job.id}`." and not asked.original.custom_ids()
    assert not message.deleted and job.images[0].path.exists()
    world.fake.assert_clean()


async def test_cancel_while_waiting_refunds_the_quota(tmp_path: Path) -> None:
    async with world_of(tmp_path, user_daily_images=10) as world:
        hold = world.hold()
        record = await world.imagine("a very slow cathedral", count=4)
        await record.wait_for(lambda r: r.original is not None and r.original.custom_ids())
        key, day = user_key(world.fake.user.id), quota_day(world.fake.clock.utcnow())
        assert await world.counters.quota_used(key=key, day=day) == 4
        assert record.original is not None
        [cancel] = record.original.custom_ids()

        click = await world.fake.click(cancel, message=record.original)
        await world.settled(click, record)
        hold.set()
        used = await world.counters.quota_used(key=key, day=day)
        [job] = await world.jobs()

    assert used == 0 and job.error_kind == "cancelled"
    assert status_of(click).startswith(f"⏹️ Cancelling job `{job.id}`")
    assert status_of(record).startswith("⏹️ Cancelled before any image was made; nothing was taken from your quota.")
    assert not result_messages(record)
    world.fake.assert_clean()
