"""``/imagine``: images from a description."""

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.options import choices_for
from core.requests import SEED_RANGE, GenerateRequest

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot

SEED_MAX = SEED_RANGE[1]


def build_imagine(bot: "ImageBot") -> app_commands.Command:
    """The command, with model/size/aspect choices from the catalog for the bot's provider."""
    choices = choices_for(bot.provider, editing=False)

    @app_commands.command(name="imagine", description="Make images from a description")
    @app_commands.describe(
        prompt="What to draw",
        model="Which Seedream model (default: the provider's default)",
        size="Resolution tier",
        aspect_ratio="Shape of the image",
        count="How many images (group models; a ceiling the model may stay under)",
        seed="Same seed + same prompt = same image (models that take a seed)",
        watermark="Add the provider's 'AI generated' mark",
        spoiler="Post the results blurred as spoilers",
    )
    @app_commands.choices(model=choices.models, size=choices.sizes, aspect_ratio=choices.ratios)
    async def imagine(
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        model: str | None = None,
        size: str | None = None,
        aspect_ratio: str | None = None,
        count: app_commands.Range[int, 1, 15] = 1,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        watermark: bool = False,
        spoiler: bool = False,
    ) -> None:
        async def build() -> GenerateRequest:
            return GenerateRequest.create(
                prompt=prompt,
                model=model,
                size=size,
                aspect_ratio=aspect_ratio,
                count=count,
                seed=seed,
                watermark=watermark,
            )

        async def work() -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)  # first, before any I/O
            await bot.flow.run(interaction, build, spoiler=spoiler)

        bot.answer(interaction, work(), what="imagine")

    return imagine


class ImagineCog(commands.Cog, name="imagine"):
    def __init__(self, bot: "ImageBot") -> None:
        self.bot = bot
        self.command = build_imagine(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)
