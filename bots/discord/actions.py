"""What the result buttons and the edit modal do; all state comes from the job store (layer 4, interface).

Every handler runs in a task the bot tracks (``BotServices.spawn``), acknowledges first (a deferral), and only
then reads the store. Who may see and manage a job is decided by ``bots.discord.access``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import discord

from bots.discord.access import can_moderate, can_see
from bots.discord.interactions import defer_privately, tell, viewer_of
from bots.discord.rebuild import edit_request, reroll_request
from bots.discord.render import details_embed
from bots.discord.services import BotServices
from core.jobs import JobRecord
from core.requests import GenerateRequest

log = logging.getLogger(__name__)


class ResultActions:
    """Handlers for the buttons under results and the edit modal."""

    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def visible_job(self, interaction: discord.Interaction, job_id: str) -> JobRecord | None:
        """The job if the clicker may see it; otherwise say so (the reply is already deferred)."""
        job = await self.services.find_job(job_id)
        if job is None or not can_see(viewer_of(interaction), job):
            await tell(interaction, f"I can't find a job `{job_id[:40]}` that you can see.")
            return None
        return job

    async def reroll(self, interaction: discord.Interaction, job_id: str) -> None:
        await defer_privately(interaction)
        job = await self.visible_job(interaction, job_id)
        if job is None:
            return

        async def build() -> GenerateRequest:
            return reroll_request(job)

        await self.services.generate(interaction, build, spoiler=_spoiler(job), parent_id=job.id)

    async def submit_edit(self, interaction: discord.Interaction, job_id: str, index: int, prompt: str) -> None:
        await defer_privately(interaction)
        job = await self.visible_job(interaction, job_id)
        if job is None:
            return
        image = next((i for i in job.images if i.index == index), None)
        if image is None or job.extra.get("discord_deleted") or not image.path.exists():
            await tell(interaction, "That image is no longer available, so it can't be edited.")
            return

        async def build() -> GenerateRequest:
            return await asyncio.to_thread(edit_request, job, image, prompt)

        await self.services.generate(interaction, build, spoiler=_spoiler(job), parent_id=job.id)

    async def details(self, interaction: discord.Interaction, job_id: str) -> None:
        await defer_privately(interaction)
        job = await self.visible_job(interaction, job_id)
        if job is not None:
            private = can_moderate(viewer_of(interaction), job)
            await tell(interaction, "", embed=details_embed(job, private=private))

    async def delete(self, interaction: discord.Interaction, job_id: str) -> None:
        await defer_privately(interaction)
        job = await self.visible_job(interaction, job_id)
        if job is None:
            return
        if not can_moderate(viewer_of(interaction), job):
            await tell(
                interaction, "Only the person who asked for these images, or a moderator, can delete them."
            )
            return
        await self._delete_messages(job, interaction.message)
        await asyncio.to_thread(_delete_files, job)
        deleted = {"by": str(interaction.user.id), "at": datetime.now(UTC).isoformat()}
        await self.services.note_on_job(job.id, "discord_deleted", deleted)
        await tell(interaction, f"🗑️ Deleted job `{job.id}`: its messages and image files are gone.")

    async def _delete_messages(self, job: JobRecord, clicked: discord.Message | None) -> None:
        targets = {(int(c), int(m)) for c, m in job.extra.get("discord_messages") or []}
        if clicked is not None and not clicked.flags.ephemeral:
            targets.add((clicked.channel.id, clicked.id))
        for channel_id, message_id in sorted(targets):
            with contextlib.suppress(discord.NotFound):
                await self.services.partial_message(channel_id, message_id).delete()


def _spoiler(job: JobRecord) -> bool:
    return bool(job.extra.get("discord_spoiler"))


def _delete_files(job: JobRecord) -> None:
    for image in job.images:
        for path in (image.path, image.sidecar_path):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
