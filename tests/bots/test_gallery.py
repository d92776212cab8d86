"""The gallery: takes and series, one message of plain attachments, images as they finish, the ping at the end."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import World, decoded_size, result_messages, status_of, world_of
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser


async def test_count_four_with_a_prompt_naming_no_number_posts_exactly_four_images_in_one_message(
    world: World,
) -> None:
    record = await world.imagine("a fox in the snow", count=4)
    await world.settled(record)

    [message] = result_messages(record)
    assert len(message.attachments) == 4
    assert {decoded_size(a.data) for a in message.attachments} == {(1024, 1024)}
    assert len({a.data for a in message.attachments}) == 4  # four different pictures
    assert world.emulator.requests["ark"] == 4  # one request per image
    assert " · 4 independent images · " in message.content
    assert status_of(record).startswith("✅ Done: 4 independent images.")
    world.fake.assert_clean()


async def test_series_four_sends_one_group_request_and_says_the_model_decided(world: World) -> None:
    record = await world.imagine("a four-panel story of a kite", series=4)
    await world.settled(record)

    [message] = result_messages(record)
    [job] = await world.jobs()
    made = len(job.images)
    assert world.emulator.requests["ark"] == 1 and 1 <= made <= 4
    assert len(message.attachments) == made
    assert " · a series of up to 4 related images · " in message.content
    chose = f" (the model chose {made} of up to 4)" if made != 4 else ""
    assert status_of(record).startswith(f"✅ Done: a series of {made} related image{'s' if made > 1 else ''}{chose}.")
    world.fake.assert_clean()


async def test_images_appear_as_they_finish_and_only_the_end_pings_the_requester_alone(tmp_path: Path) -> None:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[FakeGuild(members=[alice, bob])])) as world:
        record = await world.imagine(f"three portraits, say hi to <@{bob.id}>", count=3, user=alice)
        await world.settled(record)

    gallery, ping = [m for m in record.all_messages() if not m.ephemeral]
    shown = [len(v.attachments) for v in gallery.history] + [len(gallery.attachments)]
    assert shown == [1, 2, 3]  # one image at a time; the last one brings the final caption
    assert "🎨 1 of 3" in gallery.history[0].content and "🎨" not in gallery.content
    assert not gallery.pinged  # progress edits and the gallery itself notify nobody
    assert ping.pinged == {alice.id}  # the end pings the requester, not whoever the prompt names
    assert ping.content.startswith(f"<@{alice.id}> ✅ Done: 3 independent images.")
    assert f"/{gallery.channel_id}/{gallery.id}" in ping.content
    world.fake.assert_clean()


async def test_a_single_image_gallery_is_itself_the_ping(world: World) -> None:
    record = await world.imagine("one quiet pond")
    await world.settled(record)

    [gallery] = [m for m in record.all_messages() if not m.ephemeral]
    assert gallery.pinged == {world.fake.user.id} and not gallery.history
    assert "sd:cancel" not in " ".join(gallery.custom_ids())


async def test_the_status_offers_cancel_while_running_and_links_to_the_gallery(world: World) -> None:
    hold = world.hold()
    record = await world.imagine("a slow sunrise", count=2)
    await record.wait_for(lambda r: r.original is not None and r.original.content.startswith("🎨"))
    [job] = await world.jobs()
    assert record.original is not None and f"sd:cancel:{job.id}" in record.original.custom_ids()

    hold.set()
    await world.settled(record)
    [gallery] = result_messages(record)
    assert f"https://discord.com/channels/{world.fake.guild.id}/{gallery.channel_id}/{gallery.id}" in status_of(
        record
    )
    assert not record.original.custom_ids()  # nothing left to cancel
    world.fake.assert_clean()


async def test_a_prompt_naming_a_number_changes_a_series_but_never_the_count_of_takes(world: World) -> None:
    takes = await world.imagine("a fox, 2 images", count=4)
    series = await world.imagine("a fox, 2 images", series=4)
    await world.settled(takes, series)

    [four] = result_messages(takes)
    [two] = result_messages(series)
    assert len(four.attachments) == 4 and len(two.attachments) == 2
    assert status_of(series).startswith("✅ Done: a series of 2 related images (the model chose 2 of up to 4).")
    world.fake.assert_clean()
