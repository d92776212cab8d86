"""``/models``: the models of the bot's provider and what each can do (layer 4, interface)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.render import models_embed
from bots.discord.services import BotServices
from core.catalog import models_for


class ModelsCog(commands.Cog, name="models"):
    def __init__(self, services: BotServices) -> None:
        self.services = services

    @app_commands.command(name="models", description="The Seedream models this bot can use")
    async def models(self, interaction: discord.Interaction) -> None:
        provider = self.services.provider
        await interaction.response.send_message(
            embed=models_embed(provider, list(models_for(provider))), ephemeral=True
        )
