"""The fake Discord itself, exercised through a tiny real discord.py bot."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import pytest
from PIL import Image

with warnings.catch_warnings():
    # discord.py imports ``audioop`` (deprecated since Python 3.11); under ``filterwarnings = error``
    # that import would fail collection.  Remove once pyproject ignores that one warning.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands
    from discord.ext import commands

    from tests.fakes.discord import FakeClock, FakeDiscord, FakeUser, InteractionRecord, Upload, running_client

SIZE_LIMIT = 64 * 1024
Mode = Literal["normal", "many", "huge", "twice", "wait-then-edit", "wait-then-defer"]


def png(color: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (8, 8)) -> bytes:
    """A small PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


class AgainView(discord.ui.View):
    """Buttons under a drawing: one answers ephemerally, one opens an "edit" modal."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Again", custom_id="draw:again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button[AgainView]) -> None:
        await interaction.response.send_message("again!", ephemeral=True)

    @discord.ui.button(label="Edit", custom_id="draw:edit")
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button[AgainView]) -> None:
        await interaction.response.send_modal(EditModal())


class EditModal(discord.ui.Modal, title="Edit prompt"):
    prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(label="Prompt", custom_id="prompt", max_length=50)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"edited: {self.prompt.value}")


class ProbeBot(commands.Bot):
    """Records what happened inside each command so tests can assert on the bot's side too."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1
        )
        self.ready_fired = asyncio.Event()
        self.gate = asyncio.Event()
        self.outcomes: dict[int, asyncio.Future[BaseException | None]] = {}
        self.seen: dict[int, discord.Interaction] = {}

    def outcome(self, interaction_id: int) -> asyncio.Future[BaseException | None]:
        """How the command for this interaction ended (``None`` = no error)."""
        return self.outcomes.setdefault(interaction_id, asyncio.get_running_loop().create_future())

    async def setup_hook(self) -> None:
        self.tree.add_command(draw)
        self.add_view(AgainView())
        await self.tree.sync()

    async def on_ready(self) -> None:
        self.ready_fired.set()


@app_commands.command(name="draw", description="Draw something")
async def draw(
    interaction: discord.Interaction[ProbeBot],
    prompt: str,
    mode: Mode = "normal",
    image: discord.Attachment | None = None,
) -> None:
    bot = interaction.client
    bot.seen[interaction.id] = interaction
    try:
        await run_mode(interaction, prompt, mode, image)
    except Exception as exc:
        bot.outcome(interaction.id).set_result(exc)
    else:
        bot.outcome(interaction.id).set_result(None)


async def run_mode(
    interaction: discord.Interaction[ProbeBot], prompt: str, mode: Mode, image: discord.Attachment | None
) -> None:
    if mode == "wait-then-defer":
        await interaction.client.gate.wait()
    await interaction.response.defer(thinking=True)
    if mode == "twice":
        await discord.InteractionResponse(interaction).defer()
    elif mode == "wait-then-edit":
        await interaction.client.gate.wait()
        await interaction.edit_original_response(content="finally done")
    elif mode == "many":
        files = [discord.File(io.BytesIO(png()), filename=f"{i}.png") for i in range(11)]
        await interaction.followup.send(files=files)
    elif mode == "huge":
        await interaction.followup.send(file=discord.File(io.BytesIO(b"\0" * (SIZE_LIMIT + 1)), filename="huge.png"))
    else:
        data = await image.read() if image is not None else png()
        embed = discord.Embed(title=prompt, description="seed 42").set_image(url="attachment://draw.png")
        await interaction.followup.send(
            embed=embed, file=discord.File(io.BytesIO(data), filename="draw.png"), view=AgainView(), wait=True
        )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(attachment_size_limit=SIZE_LIMIT) as fake:
        fake.point_discord_py_here()
        yield fake


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[ProbeBot]:
    async with running_client(ProbeBot(), fake) as bot:
        yield bot


async def draw_and_finish(
    fake: FakeDiscord, bot: ProbeBot, **options: Any
) -> tuple[InteractionRecord, BaseException | None]:
    dm = options.pop("dm", False)
    record = await fake.slash("draw", {"prompt": "a red square", **options}, dm=dm)
    outcome = await asyncio.wait_for(bot.outcome(record.id), timeout=10)
    return record, outcome


async def test_bot_logs_in_gets_ready_and_its_command_sync_is_recorded(fake: FakeDiscord, bot: ProbeBot) -> None:
    assert bot.ready_fired.is_set()
    assert bot.user is not None and bot.user.id == fake.bot_user.id
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None and guild.get_channel(fake.channel.id) is not None
    assert [(call.guild_id, [c["name"] for c in call.commands]) for call in fake.sync_calls] == [(None, ["draw"])]
    assert [c["name"] for c in fake.commands()] == ["draw"]
    fake.assert_clean()


async def test_deferred_slash_command_stores_the_followup_file_bytes_and_embed(
    fake: FakeDiscord, bot: ProbeBot
) -> None:
    record, outcome = await draw_and_finish(fake, bot)

    assert outcome is None
    ack = await record.acknowledged()
    assert ack.accepted and ack.type == 5
    assert record.ack_delay is not None and record.ack_delay < 3
    [message] = record.all_messages()
    assert message is record.original and not message.loading  # the first follow-up replaced "thinking..."
    [stored] = message.attachments
    assert stored.data == png() and stored.image().size == (8, 8)
    assert fake.files() == [stored]
    assert message.embeds[0]["image"]["url"] == "attachment://draw.png"
    assert message.custom_ids() == ["draw:again", "draw:edit"]
    assert fake.messages(fake.channel) == [message]
    fake.assert_clean()


async def test_interaction_carries_the_fake_clock_time_and_upload_limit(fake: FakeDiscord, bot: ProbeBot) -> None:
    record, _ = await draw_and_finish(fake, bot)

    interaction = bot.seen[record.id]
    assert interaction.created_at.timestamp() == pytest.approx(fake.clock.now(), abs=0.001)
    assert interaction.filesize_limit == SIZE_LIMIT
    assert interaction.guild is not None and interaction.guild.id == fake.guild.id


async def test_bot_downloads_an_attachment_option_from_the_fake(fake: FakeDiscord, bot: ProbeBot) -> None:
    upload = Upload(png((0, 0, 255), (4, 4)), "input.png")

    record, outcome = await draw_and_finish(fake, bot, image=upload)

    assert outcome is None
    assert record.data["resolved"]["attachments"]
    assert record.files()[0].data == upload.data


async def test_second_acknowledgement_is_refused_with_40060(fake: FakeDiscord, bot: ProbeBot) -> None:
    _, outcome = await draw_and_finish(fake, bot, mode="twice")

    assert isinstance(outcome, discord.HTTPException)
    assert (outcome.status, outcome.code) == (400, 40060)
    assert [v.kind for v in fake.violations] == ["double_ack"]


async def test_webhook_edit_after_fifteen_fake_minutes_gets_50027(fake: FakeDiscord, bot: ProbeBot) -> None:
    record = await fake.slash("draw", {"prompt": "slow", "mode": "wait-then-edit"})
    await record.acknowledged()

    fake.clock.advance(15 * 60)
    bot.gate.set()
    outcome = await asyncio.wait_for(bot.outcome(record.id), timeout=10)

    assert isinstance(outcome, discord.HTTPException)
    assert (outcome.status, outcome.code) == (401, 50027)
    assert [v.kind for v in fake.violations] == ["expired_token"]
    assert record.original is not None and record.original.loading  # the edit never landed


async def test_file_over_the_announced_limit_gets_413(fake: FakeDiscord, bot: ProbeBot) -> None:
    _, outcome = await draw_and_finish(fake, bot, mode="huge")

    assert isinstance(outcome, discord.HTTPException)
    assert (outcome.status, outcome.code) == (413, 40005)
    assert [v.kind for v in fake.violations] == ["file_too_large"]
    assert fake.files() == []


async def test_eleven_files_in_one_message_get_50035(fake: FakeDiscord, bot: ProbeBot) -> None:
    _, outcome = await draw_and_finish(fake, bot, mode="many")

    assert isinstance(outcome, discord.HTTPException)
    assert (outcome.status, outcome.code) == (400, 50035)
    assert "attachments" in outcome.text
    assert [v.kind for v in fake.violations] == ["invalid_form_body"]


async def test_dm_interaction_has_no_guild_and_answers_in_the_dm_channel(fake: FakeDiscord, bot: ProbeBot) -> None:
    record, outcome = await draw_and_finish(fake, bot, dm=True)

    assert outcome is None
    interaction = bot.seen[record.id]
    assert interaction.guild is None and isinstance(interaction.channel, discord.DMChannel)
    assert interaction.user.id == fake.user.id
    [message] = record.all_messages()
    assert message.channel_id == fake.dm_channel().id and message.guild_id is None
    fake.assert_clean()


async def test_button_click_and_modal_submit_reach_the_view_and_modal(fake: FakeDiscord, bot: ProbeBot) -> None:
    record, _ = await draw_and_finish(fake, bot)
    drawing = await record.wait_for_original()

    again = await fake.click("draw:again", message=drawing)
    assert (await again.wait_for_original()).content == "again!"
    assert again.ephemeral

    edit = await fake.click("draw:edit", message=drawing)
    await edit.wait_for(lambda r: r.modal is not None)
    submitted = await fake.submit_modal(edit, {"prompt": "a blue square"})
    assert (await submitted.wait_for_original()).content == "edited: a blue square"
    fake.assert_clean()


async def test_acknowledging_after_the_deadline_gets_10062(fake: FakeDiscord) -> None:
    async with FakeDiscord(ack_clock="fake") as strict:
        strict.point_discord_py_here()
        async with running_client(ProbeBot(), strict) as bot:
            record = await strict.slash("draw", {"prompt": "late", "mode": "wait-then-defer"})
            strict.clock.advance(3.5)
            bot.gate.set()
            outcome = await asyncio.wait_for(bot.outcome(record.id), timeout=10)

    assert isinstance(outcome, discord.NotFound) and outcome.code == 10062
    assert [v.kind for v in strict.violations] == ["late_ack"]
    assert record.responses[0].fake_delay == pytest.approx(3.5)


async def test_unacknowledged_interaction_is_reported_when_the_real_deadline_passes() -> None:
    async with FakeDiscord(ack_deadline=0.05) as fake:
        fake.point_discord_py_here()
        async with running_client(ProbeBot(), fake) as bot:
            record = await fake.slash("draw", {"prompt": "never", "mode": "wait-then-defer"})
            await fake.wait_until(lambda: fake.violations)
            bot.gate.set()
            await asyncio.wait_for(bot.outcome(record.id), timeout=10)

    assert [v.kind for v in fake.violations] == ["missing_ack", "late_ack"]


async def test_bot_token_channel_messages_are_stored_with_edit_history(fake: FakeDiscord, bot: ProbeBot) -> None:
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)

    sent = await channel.send("working...", file=discord.File(io.BytesIO(png()), filename="a.png"))
    await sent.edit(content="done")
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)

    [stored] = fake.messages(fake.channel)
    assert stored.content == "done" and [v.content for v in stored.history] == ["working..."]
    assert stored.attachments[0].data == png()
    assert too_long.value.code == 50035
    assert [v.kind for v in fake.violations] == ["invalid_form_body"]


async def test_replies_are_exact_json_and_unknown_routes_are_recorded(fake: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(fake.api_base + "/users/@me") as me:
            assert me.headers["Content-Type"] == "application/json"
            assert (await me.json())["id"] == str(fake.bot_user.id)
        async with session.get(fake.api_base + "/guilds/1/bans") as unknown:
            assert unknown.status == 404
            assert unknown.headers["Content-Type"] == "application/json"

    assert [(r.method, r.path) for r in fake.unknown_requests] == [("GET", "/api/v10/guilds/1/bans")]
    with pytest.raises(AssertionError, match="unknown route"):
        fake.assert_clean()


async def test_slash_refuses_a_value_outside_the_synced_choices(fake: FakeDiscord, bot: ProbeBot) -> None:
    with pytest.raises(ValueError, match="choices"):
        await fake.slash("draw", {"prompt": "x", "mode": "nonsense"})


# -- a guild-scoped command group with components ------------------------------------------------------


class PickView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.select(custom_id="pick", options=[discord.SelectOption(label=v, value=v) for v in ("a", "b")])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[PickView]) -> None:
        await interaction.response.edit_message(content=f"picked {select.values[0]}")

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, button: discord.ui.Button[PickView]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="updated later")


images = app_commands.Group(name="img", description="Images")


@images.command(name="gen", description="Generate")
async def gen(interaction: discord.Interaction, n: app_commands.Range[int, 1, 4], who: discord.Member) -> None:
    await interaction.response.send_message(f"{n} for {who.name}", view=PickView())


@images.command(name="private", description="Ephemeral deferral then follow-ups")
async def private(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.followup.send("first", ephemeral=False)
    await interaction.followup.send("second", ephemeral=False)


async def colour_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=c, value=c) for c in ("red", "green", "grey") if c.startswith(current)]


@images.command(name="colour", description="Autocompleted")
@app_commands.autocomplete(colour=colour_choices)
async def colour(interaction: discord.Interaction, colour: str) -> None:
    await interaction.response.send_message(colour)


class GuildBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1
        )
        self.guild_object = discord.Object(guild_id)

    async def setup_hook(self) -> None:
        self.tree.add_command(images, guild=self.guild_object)
        await self.tree.sync(guild=self.guild_object)


@pytest.fixture
async def guild_bot(fake: FakeDiscord) -> AsyncIterator[GuildBot]:
    fake.guild.members.append(FakeUser("bob"))
    async with running_client(GuildBot(fake.guild.id), fake) as bot:
        yield bot


async def test_guild_scoped_subcommand_gets_typed_options_and_a_resolved_member(
    fake: FakeDiscord, guild_bot: GuildBot
) -> None:
    assert [call.guild_id for call in fake.sync_calls] == [fake.guild.id]

    record = await fake.slash("img gen", {"n": 3, "who": fake.guild.member("bob")})

    assert (await record.wait_for_original()).content == "3 for bob"
    assert record.data["guild_id"] == str(fake.guild.id)
    with pytest.raises(ValueError, match="max_value"):
        await fake.slash("img gen", {"n": 9, "who": fake.user})
    fake.assert_clean()


async def test_select_edits_in_place_and_a_deferred_update_edits_the_same_message(
    fake: FakeDiscord, guild_bot: GuildBot
) -> None:
    record = await fake.slash("img gen", {"n": 1, "who": fake.user})
    message = await record.wait_for_original()

    picked = await fake.click("pick", message=message, values=["b"])
    assert (await picked.acknowledged()).type == 7
    later = await fake.click("later", message=message)
    await later.wait_for(lambda r: message.content == "updated later")

    assert [v.content for v in message.history] == ["1 for alice", "picked b"]
    assert later.original is message and fake.messages() == [message]
    fake.assert_clean()


async def test_first_followup_after_an_ephemeral_deferral_stays_ephemeral(
    fake: FakeDiscord, guild_bot: GuildBot
) -> None:
    record = await fake.slash("img private")
    first, second = await record.wait_for_followups(2)

    assert first is record.original and first.ephemeral  # it replaced the "thinking..." placeholder
    assert not second.ephemeral
    assert [m.content for m in record.all_messages()] == ["first", "second"]


async def test_autocomplete_choices_are_recorded(fake: FakeDiscord, guild_bot: GuildBot) -> None:
    record = await fake.autocomplete("img colour", {"colour": "gr"}, focused="colour")
    await record.acknowledged()

    assert record.choices == [{"name": "green", "value": "green"}, {"name": "grey", "value": "grey"}]


async def test_dropped_gateway_connection_resumes_and_interactions_still_arrive(
    fake: FakeDiscord, guild_bot: GuildBot
) -> None:
    await fake.gateway.drop()
    await fake.wait_until(lambda: fake.gateway.resume_count == 1 and fake.gateway.connected)

    record = await fake.slash("img gen", {"n": 2, "who": fake.user})

    assert (await record.wait_for_original()).content == "2 for alice"
    assert fake.gateway.identify_count == 1


async def test_a_sleep_on_the_fake_clock_wakes_only_when_the_clock_passes_its_deadline() -> None:
    clock = FakeClock(start=1_000)
    nap = asyncio.create_task(clock.sleep(60))
    await asyncio.sleep(0)

    clock.advance(59)
    await asyncio.sleep(0)
    assert not nap.done()  # a second of fake time short: real time passing changes nothing

    clock.advance(1)
    await asyncio.wait_for(nap, timeout=10)
    await asyncio.wait_for(clock.sleep(0), timeout=10)  # nothing to wait for
