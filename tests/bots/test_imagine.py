"""/imagine end to end: the real bot, the fake Discord, the sandbox emulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.bots.conftest import World, decoded_size, field, result_messages, status_of, world_of
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser


async def test_imagine_posts_a_decodable_image_of_the_asked_size_under_a_one_line_caption(world: World) -> None:
    record = await world.imagine("a lighthouse at dawn", aspect_ratio="16:9")

    ack = await record.acknowledged()
    await world.idle()  # the bot tracks the work from before its acknowledgement

    assert ack.accepted and ack.type == 5 and record.ephemeral
    [message] = result_messages(record)
    assert not message.ephemeral and not message.embeds  # plain attachments: Discord shows them as they are
    [file] = message.attachments
    assert decoded_size(file.data) == (1280, 720)
    [job] = await world.jobs()
    user = world.fake.user
    assert message.content == f"**a lighthouse at dawn** · seedream-4.0 · <@{user.id}> · 1 image · `{job.id}`"
    assert {
        f"sd:reroll:{job.id}",
        f"sd:remix:{job.id}",
        f"sd:details:{job.id}",
        f"sd:delete:{job.id}",
        f"sd:subtle:{job.id}:0",
        f"sd:strong:{job.id}:0",
        f"sd:rerender:{job.id}:0",
        f"sd:edit:{job.id}:0",
    } == set(message.custom_ids())
    assert status_of(record).startswith("✅ Done: 1 image")
    assert f"/channels/{world.fake.guild.id}/{message.channel_id}/{message.id}" in status_of(record)
    world.fake.assert_clean()


async def test_fifteen_takes_stream_into_two_gallery_messages_of_at_most_ten(world: World) -> None:
    record = await world.imagine("fifteen stickers of a fox", count=15)
    await world.settled(record)

    first, second = result_messages(record)
    assert [len(first.attachments), len(second.attachments)] == [10, 5]
    # Images added one by one as they finished; the final caption comes with the job's last image, or after it.
    assert len(first.history) in (9, 9 + 1)
    sizes = {decoded_size(a.data) for m in (first, second) for a in m.attachments}
    assert sizes == {(1024, 1024)}
    names = [a.filename for m in (first, second) for a in m.attachments]
    assert names == sorted(names)  # in the order they were asked for, whichever finished first
    assert [n[-6:-4] for n in names[:10]] == [f"{i:02d}" for i in range(1, 11)]  # 1–10 first, 11–15 next
    [job] = await world.jobs()
    assert f"sd:image:{job.id}:14" in second.custom_ids() and f"sd:image:{job.id}:0" in first.custom_ids()
    assert status_of(record).startswith("✅ Done: 15 independent images")
    assert world.emulator.requests["ark"] == 15  # one request per take
    world.fake.assert_clean()


async def test_the_reply_shows_the_queue_position_then_progress(tmp_path: Path) -> None:
    async with world_of(tmp_path, service_settings={"ark_concurrency": 1}) as world:
        hold = world.hold()
        first = await world.imagine("the first in line")
        await first.wait_for(lambda r: r.original is not None and "Generating" in r.original.content)
        second = await world.imagine("the second in line")
        await second.wait_for(lambda r: r.original is not None and "position 1" in r.original.content)

        hold.set()
        await world.settled(first, second)

    assert second.original is not None
    shown = [v.content.splitlines()[0] for v in second.original.history if v.content] + [status_of(second)]
    waiting = shown.index("⏳ Waiting in line: position 1.")
    generating = next(i for i, line in enumerate(shown) if line.startswith("🎨 Generating"))
    assert waiting < generating < len(shown) - 1
    assert shown[-1].startswith("✅ Done")
    world.fake.assert_clean()


async def test_an_image_over_the_upload_limit_is_reencoded_under_it(tmp_path: Path) -> None:
    limit = 30_000
    async with world_of(tmp_path, fake=FakeDiscord(attachment_size_limit=limit)) as world:
        record = await world.imagine("a detailed city map")
        await world.settled(record)
        [job] = await world.jobs()
        details = await world.fake.click(f"sd:details:{job.id}", message=result_messages(record)[0])
        await world.settled(details)

    [message] = result_messages(record)
    [file] = message.attachments
    assert file.size <= limit < job.images[0].bytes
    assert decoded_size(file.data)[0] >= 512
    assert "shrunk to fit Discord's upload limit (originals kept)" in message.content
    assert details.original is not None
    assert f"`/job id:{job.id}` sends them whole" in field(details.original.embeds[0], "Originals")
    world.fake.assert_clean()


async def test_fifty_simultaneous_presses_on_a_held_provider_are_all_acknowledged_in_time(
    tmp_path: Path,
) -> None:
    members = [FakeUser(f"user{i}") for i in range(50)]
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[FakeGuild(members=members)])) as world:
        hold = world.hold()
        records = await asyncio.gather(
            *(world.imagine(f"portrait {i}", user=m) for i, m in enumerate(members))
        )
        acks = await asyncio.gather(*(r.acknowledged() for r in records))
        assert all(a.accepted and a.type == 5 for a in acks)
        assert world.emulator.generated["ark"] == 0  # still held: nothing was made yet

        hold.set()
        await world.settled(*records)

    assert all(len(r.files()) == 1 for r in records)
    assert not any(r.deadline_missed for r in records)
    world.fake.assert_clean()  # no missing_ack / late_ack


async def test_works_in_direct_messages_by_default(world: World) -> None:
    record = await world.imagine("a postcard", dm=True)
    await world.settled(record)

    [message] = result_messages(record)
    assert message.channel_id == world.fake.dm_channel().id and message.guild_id is None
    world.fake.assert_clean()


async def test_spoiler_results_are_blurred_files_and_rerolls_stay_so(world: World) -> None:
    record = await world.imagine("the ending of the film", spoiler=True)
    await world.settled(record)
    [message] = result_messages(record)
    [job] = await world.jobs()
    reroll = await world.fake.click(f"sd:reroll:{job.id}", message=message)
    await world.settled(reroll)

    for posted in (message, *result_messages(reroll)):
        [file] = posted.attachments
        assert file.filename.startswith("SPOILER_seedream-") and not posted.embeds
    world.fake.assert_clean()
