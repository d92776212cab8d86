"""``/edit``: edit one image, or fuse several references, from a description."""

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.options import choices_for
from bots.discord.runner import reference_from_attachment
from core.catalog import find_model
from core.requests import SEED_RANGE, GenerateRequest

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot

SEED_MAX = SEED_RANGE[1]


def build_edit(bot: "ImageBot") -> app_commands.Command:
    """The command, with model/size/aspect choices for the provider's editing models."""
    choices = choices_for(bot.provider, editing=True)

    @app_commands.command(name="edit", description="Edit an image, or combine several, from a description")
    @app_commands.describe(
        prompt="What to change or make",
        image="The image to edit (PNG or JPEG)",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        model="Which Seedream model",
        size="Resolution tier",
        aspect_ratio="Shape of the result",
        count="How many images (group models; a ceiling)",
        seed="Same seed + same input = same image (models that take a seed)",
        spoiler="Post the results blurred as spoilers",
    )
    @app_commands.choices(model=choices.models, size=choices.sizes, aspect_ratio=choices.ratios)
    async def edit(
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        model: str | None = None,
        size: str | None = None,
        aspect_ratio: str | None = None,
        count: app_commands.Range[int, 1, 15] = 1,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        spoiler: bool = False,
    ) -> None:
        attachments = [a for a in (image, image2, image3, image4) if a is not None]

        async def build() -> GenerateRequest:
            rules = find_model(bot.provider, model, editing=True).references
            uris = [
                await reference_from_attachment(a, rules=rules, field=f"image{'' if i == 0 else i + 1}")
                for i, a in enumerate(attachments)
            ]
            return GenerateRequest.create(
                prompt=prompt,
                model=model,
                size=size,
                aspect_ratio=aspect_ratio,
                count=count,
                seed=seed,
                images=tuple(uris),
            )

        async def work() -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)  # first, before any I/O
            await bot.flow.run(interaction, build, spoiler=spoiler)

        bot.answer(interaction, work(), what="edit")

    return edit


class EditCog(commands.Cog, name="edit"):
    def __init__(self, bot: "ImageBot") -> None:
        self.bot = bot
        self.command = build_edit(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)
