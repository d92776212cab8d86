"""``/history`` (your recent jobs) and ``/job`` (re-open one with its buttons)."""

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.render import history_embed
from bots.discord.runner import tell

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot

HISTORY_SIZE = 10


class JobsCog(commands.Cog, name="jobs"):
    def __init__(self, bot: "ImageBot") -> None:
        self.bot = bot

    @app_commands.command(name="history", description="Your recent image jobs")
    async def history(self, interaction: discord.Interaction) -> None:
        self.bot.answer(interaction, self._history(interaction), what="history")

    async def _history(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        jobs = await self.bot.service.store.list_jobs(
            user_id=str(interaction.user.id), adapter="discord", limit=HISTORY_SIZE
        )
        await tell(interaction, "", embed=history_embed(jobs, name=interaction.user.display_name))

    @app_commands.command(name="job", description="Re-open a job by its id, with its images and buttons")
    @app_commands.describe(id="The job id (shown under every result and in /history)")
    async def job(self, interaction: discord.Interaction, id: app_commands.Range[str, 1, 40]) -> None:
        self.bot.answer(interaction, self._job(interaction, id.strip().strip("`").lower()), what="job")

    async def _job(self, interaction: discord.Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.actions.reopen(interaction, job_id)
