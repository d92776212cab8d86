"""Building on a result: use as reference and /edit keep the shape, vary, re-render at 4K, remix, reroll, the
message menu, and who may press what."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from tests.bots.conftest import World, decoded_size, png, result_messages, status_of, world_of
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, InteractionRecord, StoredMessage, Upload


async def made(world: World, prompt: str, **options: object) -> tuple[InteractionRecord, StoredMessage, str]:
    record = await world.imagine(prompt, **options)
    await world.settled(record)
    [message] = result_messages(record)
    job = next(j for j in await world.jobs() if j.prompt == prompt)
    return record, message, job.id


async def pressed(world: World, custom_id: str, message: StoredMessage, **kwargs: object) -> InteractionRecord:
    click = await world.fake.click(custom_id, message=message, **kwargs)  # type: ignore[arg-type]
    await world.settled(click)
    return click


def only_image(record: InteractionRecord) -> tuple[int, int]:
    [message] = result_messages(record)
    [file] = message.attachments
    return decoded_size(file.data)


async def test_using_a_16_9_result_as_reference_returns_a_16_9_image(world: World) -> None:
    _, message, job_id = await made(world, "a harbour at dusk", size="2K", aspect_ratio="16:9")

    click = await world.fake.click(f"sd:edit:{job_id}:0", message=message)
    await click.wait_for(lambda r: r.modal is not None)
    submit = await world.fake.submit_modal(click, {"prompt": "add snow"})
    await world.settled(submit)

    # The source's tier and shape (Seedream 4.0's 2K 16:9 per the Ark document), not the model's square default.
    assert only_image(submit) == (2560, 1440)
    edited = next(j for j in await world.jobs() if j.prompt == "add snow")
    assert (edited.parameters["size"], edited.parameters["aspect_ratio"]) == ("2560x1440", "16:9")
    world.fake.assert_clean()


async def test_edit_of_a_1024_by_768_png_keeps_4_3(world: World) -> None:
    record = await world.fake.slash(
        "edit", {"prompt": "make it autumn"}, attachments={"image": Upload(png((1024, 768)), "garden.png")}
    )
    await world.settled(record)

    assert only_image(record) == (1152, 864)  # 4:3 at the nearest tier (1K)
    world.fake.assert_clean()


async def test_a_size_or_ratio_given_in_the_form_wins_over_the_sources(world: World) -> None:
    _, message, job_id = await made(world, "a tall tower", aspect_ratio="9:16")

    click = await world.fake.click(f"sd:edit:{job_id}:0", message=message)
    await click.wait_for(lambda r: r.modal is not None)
    submit = await world.fake.submit_modal(click, {"prompt": "wider", "aspect_ratio": "16:9"})
    await world.settled(submit)

    assert only_image(submit) == (1280, 720)  # the ratio asked for, at the source's tier
    world.fake.assert_clean()


async def test_vary_subtle_uses_seededit_and_strong_the_jobs_model_both_in_the_sources_shape(world: World) -> None:
    _, message, job_id = await made(world, "a red bicycle", aspect_ratio="3:2")

    subtle = await pressed(world, f"sd:subtle:{job_id}:0", message)
    strong = await pressed(world, f"sd:strong:{job_id}:0", message)

    assert {j.model for j in await world.jobs() if j.parent_id == job_id} == {"seededit-3.0", "seedream-4.0"}
    assert only_image(subtle) == only_image(strong) == (1248, 832)
    for record in (subtle, strong):
        assert f"(from `{job_id}`)" in result_messages(record)[0].content
    world.fake.assert_clean()


async def test_re_render_at_4k_asks_for_the_4k_tier_in_the_sources_shape(world: World) -> None:
    _, message, job_id = await made(world, "a mountain lake", aspect_ratio="16:9")

    record = await pressed(world, f"sd:rerender:{job_id}:0", message)

    assert only_image(record) == (5504, 3040)
    [job] = [j for j in await world.jobs() if j.parent_id == job_id]
    assert job.parameters["references"] and job.parameters["size"] == "5504x3040"
    world.fake.assert_clean()


async def test_models_without_4k_get_no_re_render_button(tmp_path: Path) -> None:
    async with world_of(tmp_path, service_settings={"provider": "sandbox-visual"}) as world:
        _, message, job_id = await made(world, "a small boat", size="1.3K")

    assert f"sd:rerender:{job_id}:0" not in message.custom_ids()
    assert f"sd:subtle:{job_id}:0" in message.custom_ids()


async def test_remix_opens_a_form_prefilled_with_the_prompt_and_options_and_runs_the_changes(world: World) -> None:
    _, message, job_id = await made(world, "a paper crane", count=2, aspect_ratio="4:3")

    click = await world.fake.click(f"sd:remix:{job_id}", message=message)
    await click.wait_for(lambda r: r.modal is not None)
    assert click.modal is not None
    prefilled = {c["custom_id"]: c.get("value") for row in click.modal["components"] for c in _inputs(row)}
    assert prefilled == {
        "prompt": "a paper crane", "model": "seedream-4.0", "size": "1K", "aspect_ratio": "4:3", "images": "2"
    }
    submit = await world.fake.submit_modal(
        click, {**prefilled, "prompt": "a paper crane on water", "images": "3", "aspect_ratio": "16:9"}
    )
    await world.settled(submit)

    remixed = next(j for j in await world.jobs() if j.parent_id == job_id)
    assert remixed.prompt == "a paper crane on water" and remixed.parameters["count"] == 3
    [gallery] = result_messages(submit)
    assert [decoded_size(a.data) for a in gallery.attachments] == [(1280, 720)] * 3
    world.fake.assert_clean()


def _inputs(row: dict[str, object]) -> list[dict[str, object]]:
    children = row.get("components") or [row.get("component")]
    return [c for c in children if isinstance(c, dict) and c.get("type") == 4]


async def test_a_remix_form_with_a_bad_images_field_says_what_it_takes(world: World) -> None:
    _, message, job_id = await made(world, "a lantern")
    click = await world.fake.click(f"sd:remix:{job_id}", message=message)
    await click.wait_for(lambda r: r.modal is not None)

    submit = await world.fake.submit_modal(click, {"prompt": "a lantern", "images": "lots"})
    await world.settled(submit)

    assert status_of(submit).startswith("That can't be made as asked. Invalid images: 'lots'")
    assert '"series 4"' in status_of(submit)


async def test_reroll_in_the_sandbox_draws_a_new_picture_on_a_model_without_seeds(world: World) -> None:
    record, message, job_id = await made(world, "a green door")

    reroll = await pressed(world, f"sd:reroll:{job_id}", message)

    [first], [second] = result_messages(record)[0].attachments, result_messages(reroll)[0].attachments
    assert decoded_size(first.data) == decoded_size(second.data) and first.data != second.data
    world.fake.assert_clean()


async def test_edit_with_seedream_on_a_message_uses_its_images_converting_webp(world: World) -> None:
    webp = io.BytesIO()
    Image.new("RGB", (900, 1200), (10, 120, 60)).save(webp, "WEBP")
    posted = world.fake.post_message(
        "my two characters",
        attachments=[Upload(webp.getvalue(), "hero.webp"), Upload(png((640, 640)), "friend.png")],
    )

    menu = await world.fake.message_command("Edit with Seedream", posted)
    await menu.wait_for(lambda r: r.modal is not None)
    submit = await world.fake.submit_modal(menu, {"prompt": "the two of them on a beach"})
    await world.settled(submit)

    [job] = await world.jobs()
    first, second = job.request["images"]
    assert first.startswith("data:image/png;base64,") and second.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(first.split(",", 1)[1]))) as converted:
        assert converted.size == (900, 1200)
    assert only_image(submit) == (864, 1152)  # the first image's shape (3:4)
    world.fake.assert_clean()


async def test_a_reference_of_the_wrong_shape_is_refused_by_its_file_name_before_any_call(world: World) -> None:
    record = await world.fake.slash(
        "edit", {"prompt": "fix it"}, attachments={"image": Upload(png((600, 100)), "banner.png")}
    )
    await world.settled(record)

    text = status_of(record)
    assert text.startswith("That can't be made as asked. Invalid image: 'banner.png' (it is 600x100).")
    assert "base64" not in text and world.emulator.requests.total() == 0


async def test_nothing_can_be_made_from_a_deleted_job(world: World) -> None:
    _, message, job_id = await made(world, "a secret map")
    before = await world.fake.slash("job", {"id": job_id})  # an ephemeral copy with the buttons, kept by alice
    await world.settled(before)
    [copy] = before.followups

    asked = await pressed(world, f"sd:delete:{job_id}", message)
    assert asked.original is not None
    confirmed = await world.fake.click(f"sd:deleteyes:{job_id}", message=asked.original)
    await confirmed.wait_for(lambda r: r.original is not None and r.original.content.startswith("🗑️"))
    await world.idle()
    jobs_before = len(await world.jobs())

    reroll = await pressed(world, f"sd:reroll:{job_id}", copy)
    vary = await pressed(world, f"sd:subtle:{job_id}:0", copy)
    remix = await world.fake.click(f"sd:remix:{job_id}", message=copy)
    await remix.acknowledged()
    after = await world.fake.slash("job", {"id": job_id})
    await world.settled(after)

    for refused in (reroll, vary):
        assert status_of(refused) == f"Job `{job_id}` was deleted, so nothing more can be made from it."
    assert remix.modal is None and remix.original is not None and "was deleted" in remix.original.content
    assert len(await world.jobs()) == jobs_before
    assert not after.followups and after.original is not None  # details only: no images, no buttons
    world.fake.assert_clean()


async def test_owner_only_buttons_keep_other_members_from_building_on_a_job(tmp_path: Path) -> None:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    fake = FakeDiscord(guilds=[FakeGuild(members=[alice, bob])])
    async with world_of(tmp_path, fake=fake, owner_only_buttons=True) as world:
        _, message, job_id = await made(world, "alice's owl", user=alice)
        theirs = await pressed(world, f"sd:reroll:{job_id}", message, user=bob)
        details = await pressed(world, f"sd:details:{job_id}", message, user=bob)
        mine = await pressed(world, f"sd:reroll:{job_id}", message, user=alice)

    assert status_of(theirs).startswith("Here only the person who asked for these images can use their buttons")
    assert details.original is not None and details.original.embeds  # looking is still allowed
    assert len(result_messages(mine)) == 1 and not result_messages(theirs)


async def test_a_variation_of_a_variation_carries_the_prompt_people_typed(world: World) -> None:
    _, message, job_id = await made(world, "a copper kettle")
    first = await pressed(world, f"sd:subtle:{job_id}:0", message)
    [child] = [j for j in await world.jobs() if j.parent_id == job_id]
    second = await pressed(world, f"sd:strong:{child.id}:0", result_messages(first)[0])
    [grandchild] = [j for j in await world.jobs() if j.parent_id == child.id]

    assert grandchild.prompt.endswith(": a copper kettle") and grandchild.prompt.count("variation") == 1
    caption = result_messages(second)[0].content
    assert caption.startswith("**a copper kettle** · 🌀 strong variation of image 1 · seedream-4.0 · ")
    assert status_of(second).splitlines()[1] == "*a copper kettle*"
