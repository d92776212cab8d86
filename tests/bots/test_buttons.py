"""The buttons under results: reroll (also after a restart), edit-from-this, details, delete."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import (
    World,
    decoded_size,
    new_emulator,
    open_service,
    result_messages,
    run_bot,
    status_of,
    world_of,
)
from tests.fakes.discord import MEMBER_PERMISSIONS, FakeDiscord, FakeGuild, FakeUser, InteractionRecord

MANAGE_MESSAGES = 1 << 13


async def first_result(world: World, prompt: str, **options: object) -> tuple[InteractionRecord, str]:
    record = await world.imagine(prompt, **options)
    await world.settled(record)
    [job] = await world.jobs()
    return record, job.id


async def test_reroll_clicked_after_a_restart_runs_the_same_parameters_with_a_new_seed(
    tmp_path: Path,
) -> None:
    emulator = new_emulator()
    async with FakeDiscord() as fake:
        async with open_service(tmp_path / "data", emulator) as service, run_bot(fake, service) as bot:
            record = await fake.slash(
                "imagine", {"prompt": "a red kite", "model": "seedream-3.0", "seed": 42}
            )
            await record.wait_for(lambda r: len(r.files()) == 1)
            await bot.wait_idle()
            [message] = result_messages(record)
            [job] = await service.store.list_jobs()

        # A new process: a new service over the same data directory, a new bot, the old message.
        async with open_service(tmp_path / "data", emulator) as service, run_bot(fake, service) as bot:
            click = await fake.click(f"sd:reroll:{job.id}", message=message)
            await click.wait_for(lambda r: len(r.files()) == 1)
            await bot.wait_idle()
            rerolled = next(j for j in await service.store.list_jobs() if j.id != job.id)

    assert rerolled.parent_id == job.id and rerolled.prompt == "a red kite"
    assert rerolled.model == job.model == "seedream-3.0"
    assert rerolled.parameters["size"] == job.parameters["size"] and job.parameters["seed"] == 42
    assert rerolled.parameters["seed"] != 42
    [new_message] = result_messages(click)
    assert f"`{rerolled.id}` (from `{job.id}`)" in new_message.content
    assert decoded_size(new_message.attachments[0].data) == (1024, 1024)
    assert len(fake.sync_calls) == 1  # the restart did not register the commands again
    fake.assert_clean()


async def test_use_as_reference_from_a_gallery_opens_that_image_then_asks_for_a_prompt(world: World) -> None:
    record, job_id = await first_result(world, "two boats", count=2)
    [message] = result_messages(record)

    opened = await world.fake.click(f"sd:image:{job_id}:1", message=message)
    await world.settled(opened)
    assert opened.ephemeral and opened.original is not None
    [alone] = opened.original.attachments
    assert alone.filename == f"seedream-{job_id}-02.jpg"
    click = await world.fake.click(f"sd:edit:{job_id}:1", message=opened.original)
    await click.wait_for(lambda r: r.modal is not None)
    submit = await world.fake.submit_modal(click, {"prompt": "make it night"})
    await world.settled(submit)

    edited = next(j for j in await world.jobs() if j.id != job_id)
    assert edited.parent_id == job_id and edited.prompt == "make it night"
    assert len(edited.parameters["references"]) == 1
    assert len(result_messages(submit)) == 1
    world.fake.assert_clean()


async def test_an_edit_prompt_opened_before_a_restart_still_works_after_it(tmp_path: Path) -> None:
    emulator = new_emulator()
    async with FakeDiscord() as fake:
        async with open_service(tmp_path / "data", emulator) as service, run_bot(fake, service) as bot:
            record = await fake.slash("imagine", {"prompt": "a lone tree", "size": "1K"})
            await record.wait_for(lambda r: len(r.files()) == 1)
            await bot.wait_idle()
            [job] = await service.store.list_jobs()
            click = await fake.click(f"sd:edit:{job.id}:0", message=result_messages(record)[0])
            await click.wait_for(lambda r: r.modal is not None)

        async with open_service(tmp_path / "data", emulator) as service, run_bot(fake, service) as bot:
            submit = await fake.submit_modal(click, {"prompt": "in autumn"})
            await submit.wait_for(lambda r: len(r.files()) == 1)
            await bot.wait_idle()
    fake.assert_clean()


def _two_members() -> tuple[FakeGuild, FakeUser, FakeUser]:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    return FakeGuild(members=[alice, bob]), alice, bob


async def test_details_are_ephemeral_and_private_ones_only_for_the_requester(tmp_path: Path) -> None:
    guild, alice, bob = _two_members()
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild])) as world:
        record, job_id = await first_result(world, "a quiet harbour", user=alice)
        [message] = result_messages(record)
        mine = await world.fake.click(f"sd:details:{job_id}", message=message, user=alice)
        theirs = await world.fake.click(f"sd:details:{job_id}", message=message, user=bob)
        await world.settled(mine, theirs)

    for click in (mine, theirs):
        assert click.ephemeral and click.original is not None
        names = [f["name"] for f in click.original.embeds[0]["fields"]]
        assert {"Model", "Size", "Seed", "Provider", "Status"} <= set(names)
    assert "Usage" in [f["name"] for f in mine.original.embeds[0]["fields"]]
    assert not {"Usage", "Asked in"} & {f["name"] for f in theirs.original.embeds[0]["fields"]}
    world.fake.assert_clean()


async def test_delete_is_for_the_requester_or_a_moderator_asks_first_and_removes_messages_and_files(
    tmp_path: Path,
) -> None:
    guild, alice, bob = _two_members()
    mod = FakeUser("mod", permissions=MEMBER_PERMISSIONS | MANAGE_MESSAGES)
    guild.members.append(mod)
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[guild])) as world:
        record, job_id = await first_result(world, "a secret map", user=alice)
        [message] = result_messages(record)
        [job] = await world.jobs()

        denied = await world.fake.click(f"sd:delete:{job_id}", message=message, user=bob)
        await world.settled(denied)
        assert "Only the person who asked for these images, or a moderator" in status_of(denied)
        assert not message.deleted and job.images[0].path.exists()

        asked = await world.fake.click(f"sd:delete:{job_id}", message=message, user=mod)
        await world.settled(asked)
        assert asked.original is not None and not message.deleted  # nothing happens before the confirmation
        assert status_of(asked).startswith(f"Delete job `{job_id}`?")
        confirmed = await world.fake.click(f"sd:deleteyes:{job_id}", message=asked.original, user=mod)
        await confirmed.wait_for(lambda r: r.original is not None and r.original.content.startswith("🗑️"))
        await world.idle()
        [after] = await world.jobs()

    assert message.deleted and asked.ephemeral
    assert not job.images[0].path.exists() and not job.images[0].sidecar_path.exists()
    assert after.extra["discord_deleted"]["by"] == str(mod.id)
    assert status_of(confirmed).startswith(f"🗑️ Deleted job `{job_id}`: 1 message(s) and 1 image file(s) removed")
    world.fake.assert_clean()
