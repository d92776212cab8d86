"""The fake Discord's platform rules beyond the basics: message context menus and users' messages, permissions per
channel (View Channel, threads, Manage Messages), DMs a user refused, who a message pings, autocomplete limits,
and the transcript of a session. Exercised through a tiny real discord.py bot."""

from __future__ import annotations

import io
import warnings
from collections.abc import AsyncIterator

import pytest
from PIL import Image

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands
    from discord.ext import commands

    from tests.fakes.discord import (
        BOT_PERMISSIONS,
        MEMBER_PERMISSIONS,
        FakeChannel,
        FakeDiscord,
        FakeGuild,
        FakeUser,
        Upload,
        running_client,
    )
    from tests.fakes.discord.models import PUBLIC_THREAD

VIEW, SEND, HISTORY, MANAGE, SEND_IN_THREADS = 1 << 10, 1 << 11, 1 << 16, 1 << 13, 1 << 38


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (0, 90, 200)).save(out, "PNG")
    return out.getvalue()


async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
    names = ", ".join(a.filename for a in message.attachments) or "nothing"
    await interaction.response.send_message(f"{message.author.name} posted {names}", ephemeral=True)


async def tint(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name="x" * (101 if current == "long" else 5), value="ok")]


@app_commands.command(name="paint", description="Autocompleted, sometimes badly")
@app_commands.autocomplete(colour=tint)
async def paint(interaction: discord.Interaction, colour: str) -> None:
    await interaction.response.send_message(colour)


class MenuBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1
        )

    async def setup_hook(self) -> None:
        self.tree.add_command(app_commands.ContextMenu(name="Describe this", callback=describe))
        self.tree.add_command(paint)
        await self.tree.sync()


@pytest.fixture
async def world() -> AsyncIterator[tuple[FakeDiscord, MenuBot]]:
    general = FakeChannel("general")
    hidden = FakeChannel("hidden", bot_permissions=BOT_PERMISSIONS & ~VIEW)
    thread = FakeChannel("ideas", type=PUBLIC_THREAD, parent=general, bot_permissions=BOT_PERMISSIONS)
    guild = FakeGuild(channels=[general, hidden, thread], members=[FakeUser("alice"), FakeUser("bob")])
    async with FakeDiscord(guilds=[guild]) as fake:
        fake.point_discord_py_here()
        async with running_client(MenuBot(), fake) as bot:
            yield fake, bot


def channel_of(bot: MenuBot, fake: FakeDiscord, name: str) -> discord.abc.Messageable:
    channel = bot.get_partial_messageable(fake.guild.channel(name).id, guild_id=fake.guild.id)
    return channel


async def test_a_message_command_reaches_the_context_menu_with_the_resolved_message(
    world: tuple[FakeDiscord, MenuBot],
) -> None:
    fake, _ = world
    posted = fake.post_message("look", attachments=[Upload(png(), "cat.png"), Upload(png(), "dog.png")])

    record = await fake.message_command("Describe this", posted)

    assert (await record.wait_for_original()).content == "alice posted cat.png, dog.png"
    assert sorted(c["type"] for c in fake.commands()) == [1, 3] and not posted.from_bot
    with pytest.raises(ValueError, match="no message command 'Nope'"):
        await fake.message_command("Nope", posted)
    fake.assert_clean()


async def test_fetching_a_message_needs_view_channel_and_read_message_history(
    world: tuple[FakeDiscord, MenuBot],
) -> None:
    fake, bot = world
    posted = fake.post_message("hi", attachments=[Upload(png(), "a.png")])
    fetched = await channel_of(bot, fake, "general").fetch_message(posted.id)
    fake.channel.bot_permissions = BOT_PERMISSIONS & ~HISTORY

    with pytest.raises(discord.Forbidden) as refused:
        await channel_of(bot, fake, "general").fetch_message(posted.id)

    assert [a.filename for a in fetched.attachments] == ["a.png"]
    assert refused.value.code == 50001 and [v.kind for v in fake.violations] == ["missing_access"]


async def test_a_channel_the_bot_cannot_see_refuses_sending_and_deleting_with_50001(
    world: tuple[FakeDiscord, MenuBot],
) -> None:
    fake, bot = world
    hidden = fake.guild.channel("hidden")
    hidden.bot_permissions = BOT_PERMISSIONS
    sent = await channel_of(bot, fake, "hidden").send("visible for now")
    hidden.bot_permissions = BOT_PERMISSIONS & ~VIEW

    with pytest.raises(discord.Forbidden) as send:
        await channel_of(bot, fake, "hidden").send("again")
    with pytest.raises(discord.Forbidden) as delete:
        await sent.delete()

    assert send.value.code == delete.value.code == 50001
    assert not fake.message(sent.id).deleted


async def test_a_thread_needs_send_messages_in_threads(world: tuple[FakeDiscord, MenuBot]) -> None:
    fake, bot = world
    thread = fake.guild.channel("ideas")

    with pytest.raises(discord.Forbidden) as refused:
        await channel_of(bot, fake, "ideas").send("hello")
    thread.bot_permissions = BOT_PERMISSIONS | SEND_IN_THREADS
    await channel_of(bot, fake, "ideas").send("hello")

    assert refused.value.code == 50013 and "Send Messages in Threads" in fake.violations[0].detail
    assert [m.content for m in fake.messages(thread)] == ["hello"]


async def test_the_bot_edits_only_its_own_messages_and_deletes_others_only_with_manage_messages(
    world: tuple[FakeDiscord, MenuBot],
) -> None:
    fake, bot = world
    posted = fake.post_message("mine, says alice")
    theirs = channel_of(bot, fake, "general").get_partial_message(posted.id)  # type: ignore[attr-defined]

    with pytest.raises(discord.Forbidden) as edit:
        await theirs.edit(content="changed")
    fake.channel.bot_permissions = BOT_PERMISSIONS & ~MANAGE
    with pytest.raises(discord.Forbidden) as delete:
        await theirs.delete()
    fake.channel.bot_permissions = BOT_PERMISSIONS
    await theirs.delete()

    assert (edit.value.code, delete.value.code) == (50005, 50013) and posted.deleted


async def test_a_user_who_closed_dms_refuses_the_bots_message_with_50007(world: tuple[FakeDiscord, MenuBot]) -> None:
    fake, bot = world
    bob = fake.guild.member("bob")
    bob.accepts_dms = False
    user = await bot.fetch_user(bob.id)

    with pytest.raises(discord.Forbidden) as refused:
        await user.send("hi")
    await (await bot.fetch_user(fake.user.id)).send("hi alice")

    assert refused.value.code == 50007
    assert [m.content for m in fake.messages(fake.dm_channel())] == ["hi alice"]


async def test_only_the_mentions_allowed_ping_and_only_when_the_message_is_created(
    world: tuple[FakeDiscord, MenuBot],
) -> None:
    fake, bot = world
    alice, bob = fake.guild.members
    text = f"<@{alice.id}> and <@{bob.id}>"
    general = channel_of(bot, fake, "general")

    everyone = await general.send(text)
    only_bob = await general.send(text, allowed_mentions=discord.AllowedMentions(users=[discord.Object(bob.id)]))
    nobody = await general.send("quiet", allowed_mentions=discord.AllowedMentions.none())
    await nobody.edit(content=text, allowed_mentions=discord.AllowedMentions.all())

    assert fake.message(everyone.id).pinged == {alice.id, bob.id}
    assert fake.message(only_bob.id).pinged == {bob.id}
    assert fake.message(nobody.id).pinged == frozenset()  # an edit notifies nobody


async def test_interactions_carry_a_members_permissions_in_that_channel(world: tuple[FakeDiscord, MenuBot]) -> None:
    fake, _ = world
    bob = fake.guild.member("bob")
    fake.channel.member_permissions[bob.id] = MEMBER_PERMISSIONS | MANAGE

    mine = await fake.autocomplete("paint", {"colour": ""}, focused="colour", user=fake.user)
    theirs = await fake.autocomplete("paint", {"colour": ""}, focused="colour", user=bob)

    assert int(mine.payload["member"]["permissions"]) & MANAGE == 0
    assert int(theirs.payload["member"]["permissions"]) & MANAGE == MANAGE
    assert theirs.payload["channel"]["permissions"] == theirs.payload["member"]["permissions"]


async def test_an_autocomplete_choice_name_over_100_characters_is_refused(world: tuple[FakeDiscord, MenuBot]) -> None:
    fake, _ = world

    record = await fake.autocomplete("paint", {"colour": "long"}, focused="colour")
    await record.acknowledged()

    assert not record.responses[0].accepted and record.choices is None
    assert [v.kind for v in fake.violations] == ["invalid_form_body"]


async def test_the_transcript_reads_like_the_session(world: tuple[FakeDiscord, MenuBot]) -> None:
    fake, _ = world
    posted = fake.post_message("look", attachments=[Upload(png((16, 9)), "cat.png")])
    record = await fake.message_command("Describe this", posted)
    await record.wait_for_original()

    lines = fake.transcript(fake.channel).splitlines()

    assert "  alice [#general] message" in lines[0] and lines[1:3] == ["  │ look", "  │ 📎 cat.png 16×9 · 0 KB"]
    assert lines[4] == f"alice [#general] › Apps → Describe this (on message {posted.id})"
    assert "(only alice sees this)" in lines[5] and lines[6] == "  │ alice posted cat.png"
