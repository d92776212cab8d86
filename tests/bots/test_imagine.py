"""/imagine end to end: the real bot, the fake Discord, the sandbox emulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.bots.conftest import World, decoded_size, field, result_messages, status_of, world_of
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser


async def test_imagine_posts_a_decodable_image_of_the_asked_size_with_its_embed(world: World) -> None:
    record = await world.imagine("a lighthouse at dawn", aspect_ratio="16:9")

    ack = await record.acknowledged()
    await world.idle()  # the bot tracks the work from before its acknowledgement

    assert ack.accepted and ack.type == 5 and record.ephemeral
    [message] = result_messages(record)
    assert not message.ephemeral
    [file] = message.attachments
    assert decoded_size(file.data) == (1280, 720)
    [job] = await world.jobs()
    [embed] = message.embeds
    assert embed["image"]["url"] == f"attachment://{file.filename}"
    assert "a lighthouse at dawn" in embed["description"]
    assert field(embed, "Size") == "1280×720" and field(embed, "Provider") == "sandbox"
    assert field(embed, "Model") == "seedream-4.0" and job.id in field(embed, "Job")
    assert {
        f"sd:reroll:{job.id}",
        f"sd:details:{job.id}",
        f"sd:delete:{job.id}",
        f"sd:edit:{job.id}:0",
    } <= set(message.custom_ids())
    assert status_of(record).startswith("✅ Done: 1 image")
    world.fake.assert_clean()


async def test_a_fifteen_image_group_streams_into_two_messages_of_at_most_ten(world: World) -> None:
    record = await world.imagine("fifteen stickers of a fox", count=15)
    await world.settled(record)

    first, second = result_messages(record)
    assert [len(first.attachments), len(second.attachments)] == [10, 5]
    assert [len(first.embeds), len(second.embeds)] == [10, 5]
    assert len(first.history) == 9  # images were added one by one as they finished
    sizes = {decoded_size(a.data) for m in (first, second) for a in m.attachments}
    assert sizes == {(1024, 1024)}
    [job] = await world.jobs()
    assert f"sd:edit:{job.id}:14" in second.custom_ids() and f"sd:edit:{job.id}:0" in first.custom_ids()
    assert status_of(record).startswith("✅ Done: 15 images")
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

    [message] = result_messages(record)
    [file] = message.attachments
    assert file.size <= limit < job.images[0].bytes
    assert decoded_size(file.data)[0] >= 512
    assert "re-encoded" in message.embeds[0]["footer"]["text"]
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


async def test_spoiler_results_are_blurred_files_without_a_preview_and_rerolls_stay_so(world: World) -> None:
    record = await world.imagine("the ending of the film", spoiler=True)
    await world.settled(record)
    [message] = result_messages(record)
    [job] = await world.jobs()
    reroll = await world.fake.click(f"sd:reroll:{job.id}", message=message)
    await world.settled(reroll)

    for posted in (message, *result_messages(reroll)):
        [file] = posted.attachments
        assert file.filename.startswith("SPOILER_seedream-")
        assert "image" not in posted.embeds[0]  # an embedded preview would show it unblurred
    world.fake.assert_clean()
