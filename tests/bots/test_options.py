"""Options that know the model: autocomplete for size, aspect ratio, count, series and /job ids; /settings."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import World, decoded_size, result_messages, status_of, world_of
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, InteractionRecord


async def suggested(world: World, command: str, focused: str, **options: object) -> InteractionRecord:
    record = await world.fake.autocomplete(command, {"prompt": "x", focused: "", **options}, focused=focused)
    await record.wait_for(lambda r: r.choices is not None)
    return record


def values(record: InteractionRecord) -> list[object]:
    return [c["value"] for c in record.choices or []]


async def test_size_suggestions_for_seedream_5_pro_offer_no_4k_and_mark_the_default(world: World) -> None:
    pro = await suggested(world, "imagine", "size", model="seedream-5.0-pro")
    four = await suggested(world, "imagine", "size", model="seedream-4.0")

    assert values(pro) == ["1K", "1.5K", "2K"]
    assert [c["name"] for c in pro.choices or []][-1] == "2K — 2048×2048 at 1:1 (default)"
    assert "4K" in values(four)
    world.fake.assert_clean()


async def test_ratio_suggestions_show_the_size_each_ratio_gives_at_the_chosen_tier(world: World) -> None:
    record = await suggested(world, "imagine", "aspect_ratio", model="seedream-4.0", size="4K")

    names = {c["value"]: c["name"] for c in record.choices or []}
    assert names["16:9"] == "16:9 — 5504×3040 at 4K" and names["1:1"].endswith("(default)")


async def test_series_is_suggested_only_for_models_that_make_series(world: World) -> None:
    pro = await suggested(world, "imagine", "series", model="seedream-5.0-pro")
    four = await suggested(world, "imagine", "series", model="seedream-4.0")

    assert values(pro) == [] and values(four) == list(range(2, 16))


async def test_count_suggestions_stop_at_what_is_left_of_todays_quota(tmp_path: Path) -> None:
    async with world_of(tmp_path, user_daily_images=5) as world:
        made = await world.imagine("three pears", count=3)
        await world.settled(made)
        record = await suggested(world, "imagine", "count")

    assert values(record) == [1, 2]
    assert (record.choices or [])[1]["name"] == "2 independent images (one request each)"


async def test_job_ids_are_suggested_from_my_own_recent_jobs(tmp_path: Path) -> None:
    alice, bob = FakeUser("alice"), FakeUser("bob")
    async with world_of(tmp_path, fake=FakeDiscord(guilds=[FakeGuild(members=[alice, bob])])) as world:
        mine = await world.imagine("a blue vase", user=alice)
        theirs = await world.imagine("a red vase", user=bob)
        await world.settled(mine, theirs)
        record = await world.fake.autocomplete("job", {"id": "vase"}, focused="id", user=alice)
        await record.wait_for(lambda r: r.choices is not None)
        [job] = [j for j in await world.jobs() if j.prompt == "a blue vase"]

    assert values(record) == [job.id] and "a blue vase" in (record.choices or [])[0]["name"]


async def test_settings_become_the_defaults_of_imagine_and_of_its_suggestions(world: World) -> None:
    saved = await world.fake.slash("settings", {"model": "seedream-5.0-pro", "aspect_ratio": "16:9"})
    await world.settled(saved)
    record = await world.fake.slash("imagine", {"prompt": "a harbour"})
    await world.settled(record)
    sizes = await suggested(world, "imagine", "size")

    [job] = await world.jobs()
    assert job.model == "seedream-5.0-pro"
    assert decoded_size(result_messages(record)[0].attachments[0].data) == (2816, 1584)  # 16:9 at its 2K
    assert "4K" not in values(sizes)  # suggestions follow the default model
    assert saved.original is not None
    fields = {f["name"]: f["value"] for f in saved.original.embeds[0]["fields"]}
    assert fields["Model"] == "seedream-5.0-pro" and fields["Aspect ratio"] == "16:9"
    world.fake.assert_clean()


async def test_a_default_the_chosen_model_refuses_is_left_out_not_turned_into_an_error(world: World) -> None:
    saved = await world.fake.slash("settings", {"model": "seedream-4.0", "size": "4K"})
    await world.settled(saved)
    record = await world.fake.slash("imagine", {"prompt": "a kite", "model": "seedream-5.0-pro"})
    await world.settled(record)

    [job] = await world.jobs()
    assert job.model == "seedream-5.0-pro" and job.parameters["size"] == "2K"
    assert status_of(record).startswith("✅ Done")


async def test_settings_the_model_would_refuse_are_not_saved(world: World) -> None:
    refused = await world.fake.slash("settings", {"model": "seedream-5.0-pro", "size": "4K"})
    await world.settled(refused)
    shown = await world.fake.slash("settings")
    await world.settled(shown)

    assert status_of(refused).startswith("That can't be made as asked. Invalid size: '4K'")
    assert status_of(refused).endswith("Your settings were not changed.")
    assert shown.original is not None
    assert {f["name"]: f["value"] for f in shown.original.embeds[0]["fields"]}["Model"] == "the provider's default"


async def test_settings_reset_forgets_the_defaults(world: World) -> None:
    for options in ({"model": "seedream-5.0-pro", "spoiler": True}, {"reset": True}):
        record = await world.fake.slash("settings", options)
        await world.settled(record)
    made = await world.imagine("a plain cup")
    await world.settled(made)

    [job] = await world.jobs()
    assert job.model == "seedream-4.0" and not result_messages(made)[0].attachments[0].filename.startswith("SPOILER")
