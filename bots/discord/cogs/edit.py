"""``/edit``: edit one image, or fuse several references, from a description (layer 4, interface)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.attachments import reference_from_attachment
from bots.discord.flow import RequestBuilder
from bots.discord.interactions import defer_privately
from bots.discord.options import choices_for, set_choices
from bots.discord.services import BotServices
from core.catalog import find_model
from core.requests import SEED_RANGE, GenerateRequest

SEED_MAX = SEED_RANGE[1]


class EditCog(commands.Cog, name="edit"):
    def __init__(self, services: BotServices) -> None:
        self.services = services
        set_choices(self.edit, choices_for(services.provider, editing=True))

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
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        spoiler: bool = False,
    ) -> None:
        attachments = [a for a in (image, image2, image3, image4) if a is not None]
        provider = self.services.provider

        async def build() -> GenerateRequest:
            rules = find_model(provider, model, editing=True).references
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

        self.services.spawn(self._generate(interaction, build, spoiler), name=f"edit-{interaction.id}")

    async def _generate(self, interaction: discord.Interaction, build: RequestBuilder, spoiler: bool) -> None:
        await defer_privately(interaction)  # first, before any I/O
        await self.services.generate(interaction, build, spoiler=spoiler)
