"""/imagine end to end: the real bot, the fake Discord, the sandbox emulator."""

from __future__ import annotations

from tests.bots.conftest import World, decoded_size, field, result_messages, status_of


async def test_imagine_posts_a_decodable_image_of_the_asked_size_with_its_embed(world: World) -> None:
    record = await world.imagine("a lighthouse at dawn", aspect_ratio="16:9")

    ack = await record.acknowledged()
    await world.settled(record)

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
    assert {f"sd:reroll:{job.id}", f"sd:details:{job.id}", f"sd:delete:{job.id}", f"sd:edit:{job.id}:0"} <= set(
        message.custom_ids())
    assert status_of(record).startswith("✅ Done: 1 image")
    world.fake.assert_clean()
