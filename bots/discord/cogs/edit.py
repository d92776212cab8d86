"""``/edit``: edit one image, or fuse several references, from a description (layer 4, interface).

The result keeps the first image's shape (the closest aspect ratio and size tier the model documents) unless a
size or an aspect ratio is given. WebP and GIF uploads are converted to PNG; a file the model cannot take is
refused by name before any provider call.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.cogs.imagine import Suggestions, generate
from bots.discord.defaults import UserDefaults, model_or_default
from bots.discord.message_edit import references_request
from bots.discord.options import Choice, model_choices, set_model_choices
from bots.discord.services import BotServices
from core.requests import SEED_RANGE, GenerateRequest

SEED_MAX = SEED_RANGE[1]


class EditCog(commands.Cog, name="edit"):
    def __init__(self, services: BotServices) -> None:
        self.services = services
        self.suggest = Suggestions(services, editing=True)
        set_model_choices(self.edit, model_choices(services.provider, editing=True))

    @app_commands.command(name="edit", description="Edit an image, or combine several, from a description")
    @app_commands.describe(
        prompt="What to change or make",
        image="The image to edit (PNG, JPEG; WebP and GIF are converted)",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        model="Which Seedream model",
        size="Resolution tier (default: the first image's)",
        aspect_ratio="Shape of the result (default: the first image's)",
        count="How many independent images (one request each)",
        series="A series of up to this many related images in one request (the model decides how many)",
        seed="Same seed + same input = same image (models that take a seed)",
        spoiler="Post the results blurred as spoilers (default: yours from /settings)",
    )
    async def edit(
        self,
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
        series: app_commands.Range[int, 2, 15] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        spoiler: bool | None = None,
    ) -> None:
        attachments = [a for a in (image, image2, image3, image4) if a is not None]
        provider = self.services.provider

        async def make(defaults: UserDefaults) -> GenerateRequest:
            # The user's default model applies; their default size and shape do not (the image's shape does).
            return await references_request(
                attachments,
                provider=provider,
                prompt=prompt,
                model=model_or_default(defaults, provider, model, editing=True),
                size=size,
                aspect_ratio=aspect_ratio,
                count=count,
                series=series,
                seed=seed,
            )

        self.services.spawn(generate(self.services, interaction, make, spoiler), name=f"edit-{interaction.id}")

    @edit.autocomplete("size")
    async def _sizes(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await self.suggest.sizes(interaction, current)

    @edit.autocomplete("aspect_ratio")
    async def _ratios(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await self.suggest.ratios(interaction, current)

    @edit.autocomplete("count")
    async def _counts(self, interaction: discord.Interaction, current: str) -> list[Choice[int]]:
        return await self.suggest.counts(interaction, current)

    @edit.autocomplete("series")
    async def _series(self, interaction: discord.Interaction, current: str) -> list[Choice[int]]:
        return await self.suggest.series(interaction, current)
