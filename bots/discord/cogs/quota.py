"""``/quota``: how many images you (and this server) have left today."""

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.render import quota_embed
from bots.discord.runner import place_of, tell

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot


class QuotaCog(commands.Cog, name="quota"):
    def __init__(self, bot: "ImageBot") -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="How many images you and this server have left today")
    async def quota(self, interaction: discord.Interaction) -> None:
        self.bot.answer(interaction, self._quota(interaction), what="quota")

    async def _quota(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        status = await self.bot.gate.status(place_of(interaction))
        await tell(interaction, "", embed=quota_embed(status, name=interaction.user.display_name))
