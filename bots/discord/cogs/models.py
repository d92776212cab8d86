"""``/models``: the models of the bot's provider and what each can do."""

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.render import models_embed
from core.catalog import models_for

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot


class ModelsCog(commands.Cog, name="models"):
    def __init__(self, bot: "ImageBot") -> None:
        self.bot = bot

    @app_commands.command(name="models", description="The Seedream models this bot can use")
    async def models(self, interaction: discord.Interaction) -> None:
        provider = self.bot.provider
        await interaction.response.send_message(
            embed=models_embed(provider, list(models_for(provider))), ephemeral=True
        )
