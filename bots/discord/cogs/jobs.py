"""``/history`` (your recent jobs) and ``/job`` (re-open one with its buttons; the id suggested from your recent
jobs) (layer 4, interface).

``/job`` reads the job through ``BotServices.find_job``, the one way the interface reads a job by id.
"""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.access import can_moderate
from bots.discord.actions import ResultActions
from bots.discord.attachments import result_files
from bots.discord.buttons import reopened_view
from bots.discord.interactions import MAX_FILES_PER_MESSAGE, NO_MENTIONS, defer_privately, tell, viewer_of
from bots.discord.options import Choice
from bots.discord.rebuild import rerender_model
from bots.discord.render import details_embed, history_embed
from bots.discord.services import BotServices
from bots.discord.wording import truncate
from core.jobs import JobRecord

HISTORY_SIZE = 10
SUGGESTED_JOBS = 25


class JobsCog(commands.Cog, name="jobs"):
    def __init__(self, services: BotServices) -> None:
        self.services = services

    @app_commands.command(name="history", description="Your recent image jobs")
    async def history(self, interaction: discord.Interaction) -> None:
        self.services.spawn(self._history(interaction), name=f"history-{interaction.id}")

    async def _history(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        jobs = await self.services.recent_jobs(user_id=interaction.user.id, limit=HISTORY_SIZE)
        await tell(interaction, "", embed=history_embed(jobs, name=interaction.user.display_name))

    @app_commands.command(name="job", description="Re-open a job by its id, with its images and buttons")
    @app_commands.describe(id="The job id (shown under every result and in /history; yours are suggested)")
    async def job(self, interaction: discord.Interaction, id: app_commands.Range[str, 1, 40]) -> None:
        job_id = id.strip().strip("`").lower()
        self.services.spawn(self._job(interaction, job_id), name=f"job-{interaction.id}")

    @job.autocomplete("id")
    async def _job_ids(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        jobs = await self.services.recent_jobs(user_id=interaction.user.id, limit=SUGGESTED_JOBS)
        typed = current.strip().lower()
        return [
            Choice(name=truncate(f"{job.id} · {job.status} · {job.prompt}", 100), value=job.id)
            for job in jobs
            if typed in job.id or typed in job.prompt.lower()
        ]

    async def _job(self, interaction: discord.Interaction, job_id: str) -> None:
        """The job's details, then its images with their buttons (visible to the asker only)."""
        await defer_privately(interaction)
        job = await ResultActions(self.services).visible_job(interaction, job_id)
        if job is None:
            return
        moderator = can_moderate(viewer_of(interaction), job)
        await tell(interaction, "", embed=details_embed(job, private=moderator))
        if not job.extra.get("discord_deleted"):
            await _post_images(interaction, job, with_delete=moderator)


async def _post_images(interaction: discord.Interaction, job: JobRecord, *, with_delete: bool) -> None:
    images = [i for i in job.images if i.path.exists()]
    spoiler = bool(job.extra.get("discord_spoiler"))
    rerender = rerender_model(job.provider, job.model) is not None
    for start in range(0, len(images), MAX_FILES_PER_MESSAGE):
        chunk = images[start : start + MAX_FILES_PER_MESSAGE]
        files = await asyncio.to_thread(
            result_files, job.id, chunk, limit=interaction.filesize_limit, spoiler=spoiler
        )
        view = reopened_view(job, [i.index for i in chunk], with_delete=with_delete, rerender=rerender)
        await interaction.followup.send(files=files, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)
