"""``/imagine``: images from a description (layer 4, interface)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.flow import RequestBuilder
from bots.discord.interactions import defer_privately
from bots.discord.options import choices_for, set_choices
from bots.discord.services import BotServices
from core.requests import SEED_RANGE, GenerateRequest

SEED_MAX = SEED_RANGE[1]


class ImagineCog(commands.Cog, name="imagine"):
    def __init__(self, services: BotServices) -> None:
        self.services = services
        set_choices(self.imagine, choices_for(services.provider, editing=False))

    @app_commands.command(name="imagine", description="Make images from a description")
    @app_commands.describe(
        prompt="What to draw",
        model="Which Seedream model (default: the provider's default)",
        size="Resolution tier",
        aspect_ratio="Shape of the image",
        count="How many independent images (one request each)",
        series="A series of up to this many related images in one request (the model decides how many)",
        seed="Same seed + same prompt = same image (models that take a seed)",
        watermark="Add the provider's 'AI generated' mark",
        spoiler="Post the results blurred as spoilers",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        model: str | None = None,
        size: str | None = None,
        aspect_ratio: str | None = None,
        count: app_commands.Range[int, 1, 15] = 1,
        series: app_commands.Range[int, 2, 15] | None = None,
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
                series=series,
                seed=seed,
                watermark=watermark,
            )

        self.services.spawn(self._generate(interaction, build, spoiler), name=f"imagine-{interaction.id}")

    async def _generate(self, interaction: discord.Interaction, build: RequestBuilder, spoiler: bool) -> None:
        await defer_privately(interaction)  # first, before any I/O
        await self.services.generate(interaction, build, spoiler=spoiler)
