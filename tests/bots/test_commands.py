"""/edit, /models, /history, /job, /quota, and when the commands are registered."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import (
    World,
    new_emulator,
    open_service,
    png,
    result_messages,
    run_bot,
    status_of,
    world_of,
)
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, Upload


async def test_edit_sends_the_attached_images_as_references(world: World) -> None:
    record = await world.fake.slash(
        "edit",
        {"prompt": "put them side by side", "size": "1K"},
        attachments={
            "image": Upload(png((64, 48)), "left.png"),
            "image2": Upload(png((48, 64), (0, 90, 200)), "right.png"),
        },
    )
    await world.settled(record)

    [job] = await world.jobs()
    assert len(job.parameters["references"]) == 2
    assert all(ref.startswith("data:image/png;base64,") for ref in job.request["images"])
    assert len(result_messages(record)) == 1
    world.fake.assert_clean()


async def test_edit_refuses_a_bad_attachment_before_any_provider_call(world: World) -> None:
    not_an_image = await world.fake.slash(
        "edit", {"prompt": "fix it"}, attachments={"image": Upload(b"just text", "notes.txt")}
    )
    too_small = await world.fake.slash(
        "edit", {"prompt": "fix it"}, attachments={"image": Upload(png((8, 8)), "tiny.png")}
    )
    await world.settled(not_an_image, too_small)

    assert status_of(not_an_image).startswith("That can't be made as asked. Invalid image: 'notes.txt'")
    assert "(it is text/plain). Allowed: JPEG/PNG images (WebP and GIF are converted to PNG)." in status_of(
        not_an_image
    )
    assert "it is 8x8" in status_of(too_small)
    assert not_an_image.ephemeral and too_small.ephemeral
    assert world.emulator.requests.total() == 0 and await world.jobs() == []
    world.fake.assert_clean()


async def test_an_invalid_option_combination_is_explained_without_a_job(world: World) -> None:
    record = await world.fake.slash("imagine", {"prompt": "a kite", "model": "seedream-3.0", "series": 3})
    await world.settled(record)

    assert status_of(record).startswith("That can't be made as asked. Invalid series: 3")
    assert await world.jobs() == []


async def test_models_lists_the_providers_models(world: World) -> None:
    record = await world.fake.slash("models")
    await world.settled(record)

    assert record.ephemeral and record.original is not None
    names = [f["name"] for f in record.original.embeds[0]["fields"]]
    assert any(n.startswith("seedream-4.0") for n in names) and any(
        n.startswith("seededit-3.0") for n in names
    )


async def test_history_lists_my_jobs_and_job_reopens_one_with_its_buttons(tmp_path: Path) -> None:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[FakeGuild(members=[alice, bob])])) as world:
        made = await world.imagine("a green door", user=alice)
        await world.settled(made)
        [job] = await world.jobs()

        history = await world.fake.slash("history", user=alice)
        mine = await world.fake.slash("job", {"id": job.id}, user=alice)
        theirs = await world.fake.slash("job", {"id": job.id}, user=bob)
        unknown = await world.fake.slash("job", {"id": "nosuchjob"}, user=bob)
        await world.settled(history, mine, theirs, unknown)
        await mine.wait_for_followups(1)
        await theirs.wait_for_followups(1)

    assert history.original is not None and job.id in history.original.embeds[0]["description"]
    for record in (mine, theirs):
        [reopened] = record.followups
        assert reopened.ephemeral and len(reopened.attachments) == 1
        assert f"sd:reroll:{job.id}" in reopened.custom_ids()
    assert f"sd:delete:{job.id}" in mine.followups[0].custom_ids()
    assert f"sd:delete:{job.id}" not in theirs.followups[0].custom_ids()
    assert "I can't find a job `nosuchjob`" in status_of(unknown)
    world.fake.assert_clean()


async def test_someone_elses_direct_message_job_stays_private(tmp_path: Path) -> None:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[FakeGuild(members=[alice, bob])])) as world:
        made = await world.imagine("a diary page", user=alice, dm=True)
        await world.settled(made)
        [job] = await world.jobs()
        peek = await world.fake.slash("job", {"id": job.id}, user=bob)
        await world.settled(peek)

    assert status_of(peek).startswith(f"I can't find a job `{job.id}`")
    assert not peek.followups


async def test_quota_shows_what_is_left_today(tmp_path: Path) -> None:
    async with world_of(tmp_path, user_daily_images=5, guild_daily_images=100) as world:
        made = await world.imagine("three pears", count=3)
        await world.settled(made)
        record = await world.fake.slash("quota")
        await world.settled(record)

    assert record.ephemeral and record.original is not None
    fields = {f["name"]: f["value"] for f in record.original.embeds[0]["fields"]}
    assert fields["You today"] == "3 of 5 images" and fields["This server today"] == "3 of 100 images"


async def test_commands_are_registered_only_when_their_schema_changes(tmp_path: Path) -> None:
    emulator = new_emulator()
    synced = []
    async with FakeDiscord() as fake:
        for provider, force in (
            ("sandbox", False),
            ("sandbox", False),
            ("sandbox", True),
            ("sandbox-visual", False),
        ):
            async with (
                open_service(tmp_path / "data", emulator, provider=provider) as service,
                run_bot(fake, service, force_sync=force) as bot,
            ):
                synced.append(bot.synced_on_start)

    # First start, a restart (unchanged), --sync, then a changed schema (another provider's models).
    assert synced == [True, False, True, True] and len(fake.sync_calls) == 3
    assert {c["name"] for c in fake.commands()} == {
        "imagine", "edit", "models", "history", "job", "quota", "settings", "Edit with Seedream"
    }
    imagine = next(c for c in fake.commands() if c["name"] == "imagine")
    model = next(o for o in imagine["options"] if o["name"] == "model")
    assert [c["value"] for c in model["choices"]] == ["seedream-3.0"]  # the Visual catalog
    fake.assert_clean()
