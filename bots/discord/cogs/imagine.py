"""``/imagine``: make images from a description (layer 4, interface).

``count`` is independent images (one request each: ``count:4`` gives four pictures), ``series`` one request for
related images (the model decides how many, up to the number). Size, aspect ratio, count and series suggest only
what the chosen model accepts; options left out come from the user's ``/settings``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.defaults import UserDefaults, apply_defaults
from bots.discord.interactions import defer_privately
from bots.discord.options import (
    Choice,
    chosen_model,
    count_suggestions,
    model_choices,
    ratio_suggestions,
    series_suggestions,
    set_model_choices,
    size_suggestions,
)
from bots.discord.services import BotServices
from core.catalog import ModelSpec
from core.requests import SEED_RANGE, GenerateRequest

SEED_MAX = SEED_RANGE[1]
#: Builds the request from the user's defaults (after the acknowledgement, so it may do I/O).
Make = Callable[[UserDefaults], Awaitable[GenerateRequest]]


class Suggestions:
    """Autocomplete shared by the commands that make images (``/imagine``, ``/edit``, ``/settings``)."""

    def __init__(self, services: BotServices, *, editing: bool) -> None:
        self.services = services
        self.editing = editing

    async def model(self, interaction: discord.Interaction) -> ModelSpec:
        """The model the user picked in this command, else their default, else the provider's."""
        defaults = await self.services.user_defaults(interaction.user.id)
        picked = getattr(interaction.namespace, "model", None)
        return chosen_model(self.services.provider, picked, defaults.model, editing=self.editing)

    async def sizes(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return size_suggestions(await self.model(interaction), current)

    async def ratios(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        size = getattr(interaction.namespace, "size", None)
        return ratio_suggestions(await self.model(interaction), current, size=size)

    async def counts(self, interaction: discord.Interaction, current: str) -> list[Choice[int]]:
        status = await self.services.quota_status(await self.services.place_of(interaction))
        left = status.user_limit - status.user_used if status.user_limit else None
        return count_suggestions(str(current), left=left)

    async def series(self, interaction: discord.Interaction, current: str) -> list[Choice[int]]:
        return series_suggestions(await self.model(interaction), str(current))


class ImagineCog(commands.Cog, name="imagine"):
    def __init__(self, services: BotServices) -> None:
        self.services = services
        self.suggest = Suggestions(services, editing=False)
        set_model_choices(self.imagine, model_choices(services.provider, editing=False))

    @app_commands.command(name="imagine", description="Make images from a description")
    @app_commands.describe(
        prompt="What to draw",
        model="Which Seedream model (default: yours from /settings, else the provider's)",
        size="Resolution tier (suggestions fit the model)",
        aspect_ratio="Shape of the image",
        count="How many independent images (one request each)",
        series="A series of up to this many related images in one request (the model decides how many)",
        seed="Same seed + same prompt = same image (models that take a seed)",
        watermark="Add the provider's 'AI generated' mark",
        spoiler="Post the results blurred as spoilers (default: yours from /settings)",
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
        spoiler: bool | None = None,
    ) -> None:
        provider = self.services.provider

        async def make(defaults: UserDefaults) -> GenerateRequest:
            chosen = apply_defaults(defaults, provider, model=model, size=size, aspect_ratio=aspect_ratio)
            return GenerateRequest.create(
                prompt=prompt,
                model=chosen[0],
                size=chosen[1],
                aspect_ratio=chosen[2],
                count=count,
                series=series,
                seed=seed,
                watermark=watermark,
            )

        self.services.spawn(generate(self.services, interaction, make, spoiler), name=f"imagine-{interaction.id}")

    @imagine.autocomplete("size")
    async def _sizes(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await self.suggest.sizes(interaction, current)

    @imagine.autocomplete("aspect_ratio")
    async def _ratios(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await self.suggest.ratios(interaction, current)

    @imagine.autocomplete("count")
    async def _counts(self, interaction: discord.Interaction, current: str) -> list[Choice[int]]:
        return await self.suggest.counts(interaction, current)

    @imagine.autocomplete("series")
    async def _series(self, interaction: discord.Interaction, current: str) -> list[Choice[int]]:
        return await self.suggest.series(interaction, current)


async def generate(services: BotServices, interaction: discord.Interaction, make: Make, spoiler: bool | None) -> None:
    """Acknowledge first (before any I/O), then read the user's defaults and run the generation."""
    await defer_privately(interaction)
    defaults = await services.user_defaults(interaction.user.id)

    async def build() -> GenerateRequest:
        return await make(defaults)

    await services.generate(interaction, build, spoiler=defaults.spoiler if spoiler is None else spoiler)
