"""What the result buttons and the edit modal do; all state comes from the job store.

Every handler runs in a task tracked by the bot (``ImageBot.answer``) and acknowledges first (a deferral, or
the modal itself), and only then reads the store.
Visibility: a user sees their own jobs anywhere, and other people's jobs made in the same server. Private
details and deletion are for the requester, or a member who may manage messages in that server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bots.discord.buttons import EditPromptModal, result_view
from bots.discord.delivery import MAX_FILES_PER_MESSAGE, NO_MENTIONS
from bots.discord.render import details_embed, fit_image, result_filename
from bots.discord.runner import tell
from core.catalog import find_model
from core.errors import JobNotFoundError
from core.jobs import JobRecord, JobStore
from core.requests import GenerateRequest
from core.results import GeneratedImage

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot

log = logging.getLogger(__name__)


def is_owner(interaction: discord.Interaction, job: JobRecord) -> bool:
    return job.requester.user_id == str(interaction.user.id)


def can_see(interaction: discord.Interaction, job: JobRecord) -> bool:
    same_server = job.requester.guild_id is not None and job.requester.guild_id == str(interaction.guild_id)
    return job.requester.adapter == "discord" and (is_owner(interaction, job) or same_server)


def can_moderate(interaction: discord.Interaction, job: JobRecord) -> bool:
    """The requester, or someone who may manage messages where the job was made."""
    if is_owner(interaction, job):
        return True
    same_server = job.requester.guild_id is not None and job.requester.guild_id == str(interaction.guild_id)
    return same_server and interaction.permissions.manage_messages


def reroll_request(job: JobRecord) -> GenerateRequest:
    """The job's request again (same provider and model), with a fresh seed where the model takes one."""
    request = GenerateRequest.create(**job.request)
    update: dict[str, object] = {"provider": job.provider, "model": job.model}
    if find_model(job.provider, job.model).seed:
        update["seed"] = None
    return request.model_copy(update=update)


def edit_request(job: JobRecord, image: GeneratedImage, prompt: str) -> GenerateRequest:
    """A single-reference edit of one of the job's images (its model if it takes references, else the default
    editing model of the provider)."""
    spec = find_model(job.provider, job.model)
    model = spec.key if spec.max_references >= 1 else None
    rules = find_model(job.provider, model, editing=True).references
    data = image.path.read_bytes()
    fmt = image.format
    if len(data) > rules.max_bytes or fmt not in rules.formats:
        fitted = fit_image(data, limit=rules.max_bytes, width=image.width, height=image.height, fmt=fmt)
        data, fmt = fitted.data, fitted.format
    uri = f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"
    return GenerateRequest.create(
        prompt=prompt,
        provider=job.provider,
        model=model,
        images=(uri,),
        watermark=bool(job.request.get("watermark", False)),
    )


class ResultActions:
    """Handlers for the buttons under results, the edit modal and ``/job``."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @property
    def store(self) -> JobStore:
        return self.bot.service.store

    async def _visible_job(self, interaction: discord.Interaction, job_id: str) -> JobRecord | None:
        try:
            job = await self.store.get(job_id)
        except JobNotFoundError:
            job = None
        if job is None or not can_see(interaction, job):
            await tell(interaction, f"I can't find a job `{job_id[:40]}` that you can see.")
            return None
        return job

    async def reroll(self, interaction: discord.Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._visible_job(interaction, job_id)
        if job is None:
            return

        async def build() -> GenerateRequest:
            return reroll_request(job)

        spoiler = bool(job.extra.get("discord_spoiler"))
        await self.bot.flow.run(interaction, build, spoiler=spoiler, parent_id=job.id)

    async def open_edit_modal(self, interaction: discord.Interaction, job_id: str, index: int) -> None:
        # The modal is the acknowledgement: nothing may come before it.
        await interaction.response.send_modal(EditPromptModal(job_id, index))

    async def submit_edit(
        self, interaction: discord.Interaction, job_id: str, index: int, prompt: str
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._visible_job(interaction, job_id)
        if job is None:
            return
        image = next((i for i in job.images if i.index == index), None)
        if image is None or job.extra.get("discord_deleted") or not image.path.exists():
            await tell(interaction, "That image is no longer available, so it can't be edited.")
            return

        async def build() -> GenerateRequest:
            return await asyncio.to_thread(edit_request, job, image, prompt)

        spoiler = bool(job.extra.get("discord_spoiler"))
        await self.bot.flow.run(interaction, build, spoiler=spoiler, parent_id=job.id)

    async def details(self, interaction: discord.Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._visible_job(interaction, job_id)
        if job is not None:
            await tell(interaction, "", embed=details_embed(job, private=can_moderate(interaction, job)))

    async def delete(self, interaction: discord.Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._visible_job(interaction, job_id)
        if job is None:
            return
        if not can_moderate(interaction, job):
            await tell(
                interaction, "Only the person who asked for these images, or a moderator, can delete them."
            )
            return
        await self._delete_messages(job, interaction.message)
        await asyncio.to_thread(_delete_files, job)
        await self.store.set_extra(
            job.id, "discord_deleted", {"by": str(interaction.user.id), "at": datetime.now(UTC).isoformat()}
        )
        await tell(interaction, f"🗑️ Deleted job `{job.id}`: its messages and image files are gone.")

    async def _delete_messages(self, job: JobRecord, clicked: discord.Message | None) -> None:
        targets = {(int(c), int(m)) for c, m in job.extra.get("discord_messages") or []}
        if clicked is not None and not clicked.flags.ephemeral:
            targets.add((clicked.channel.id, clicked.id))
        for channel_id, message_id in sorted(targets):
            partial = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
            with contextlib.suppress(discord.NotFound):
                await partial.delete()

    async def reopen(self, interaction: discord.Interaction, job_id: str) -> None:
        """``/job``: the job's details, then its images with their buttons (visible to the asker only)."""
        job = await self._visible_job(interaction, job_id)
        if job is None:
            return
        moderator = can_moderate(interaction, job)
        await tell(interaction, "", embed=details_embed(job, private=moderator))
        if job.extra.get("discord_deleted"):
            return
        images = [i for i in job.images if i.path.exists()]
        for start in range(0, len(images), MAX_FILES_PER_MESSAGE):
            chunk = images[start : start + MAX_FILES_PER_MESSAGE]
            files = await asyncio.to_thread(_files_for, job, chunk, interaction.filesize_limit)
            view = result_view(
                job.id,
                [i.index for i in chunk],
                count=int(job.parameters.get("count") or 1),
                with_delete=moderator,
            )
            await interaction.followup.send(
                files=files, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
            )


def _files_for(job: JobRecord, images: list[GeneratedImage], limit: int) -> list[discord.File]:
    spoiler = bool(job.extra.get("discord_spoiler"))
    files = []
    for image in images:
        fitted = fit_image(
            image.path.read_bytes(), limit=limit, width=image.width, height=image.height, fmt=image.format
        )
        name = result_filename(job.id, image.index, fitted.format, spoiler=spoiler)
        files.append(discord.File(io.BytesIO(fitted.data), filename=name))
    return files


def _delete_files(job: JobRecord) -> None:
    for image in job.images:
        for path in (image.path, image.sidecar_path):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
