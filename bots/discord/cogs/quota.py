"""``/quota``: how many images you (and this server) have left today (layer 4, interface)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.interactions import defer_privately, tell
from bots.discord.render import quota_embed
from bots.discord.services import BotServices


class QuotaCog(commands.Cog, name="quota"):
    def __init__(self, services: BotServices) -> None:
        self.services = services

    @app_commands.command(name="quota", description="How many images you and this server have left today")
    async def quota(self, interaction: discord.Interaction) -> None:
        self.services.spawn(self._quota(interaction), name=f"quota-{interaction.id}")

    async def _quota(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        status = await self.services.quota_status(await self.services.place_of(interaction))
        await tell(interaction, "", embed=quota_embed(status, name=interaction.user.display_name))
