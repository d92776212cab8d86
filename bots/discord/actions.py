"""What the buttons and forms that make new images do: reroll, vary, re-render at 4K, use as reference, remix,
and opening one image of a gallery; all state comes from the job store (layer 4, interface).

Every handler runs in a task the bot tracks (``BotServices.spawn``), acknowledges first (a deferral), and only
then reads the store. Who may see a job and build on it is decided by ``bots.discord.access``: a deleted job
(by its requester or a moderator) can no longer be built on, and with ``owner_only_buttons`` only its requester
may.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord

from bots.discord.access import can_build_on, can_see
from bots.discord.attachments import result_files
from bots.discord.buttons import image_view
from bots.discord.flow import Origin
from bots.discord.interactions import NO_MENTIONS, defer_privately, tell, viewer_of
from bots.discord.rebuild import (
    RemixValues,
    edit_request,
    remix_request,
    rerender_model,
    rerender_request,
    reroll_request,
    shown_prompt,
    vary_request,
)
from bots.discord.services import BotServices
from core.jobs import JobRecord
from core.requests import GenerateRequest
from core.results import GeneratedImage

log = logging.getLogger(__name__)

FromImage = Callable[[JobRecord, GeneratedImage], GenerateRequest]
#: What each per-image button makes, and how its result is labelled ({n}: the image's number).
_FROM_IMAGE: dict[str, tuple[FromImage, str]] = {
    "subtle": (lambda job, image: vary_request(job, image, strong=False), "🔀 subtle variation of image {n}"),
    "strong": (lambda job, image: vary_request(job, image, strong=True), "🌀 strong variation of image {n}"),
    "rerender": (rerender_request, "🔍 4K re-render of image {n}"),
}


class ResultActions:
    """Handlers for the buttons and forms that build on a job."""

    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def visible_job(self, interaction: discord.Interaction, job_id: str) -> JobRecord | None:
        """The job if the clicker may see it; otherwise say so (the reply is already deferred)."""
        job = await self.services.find_job(job_id)
        if job is None or not can_see(viewer_of(interaction), job):
            await tell(interaction, f"I can't find a job `{job_id[:40]}` that you can see.")
            return None
        return job

    def refusal_to_build_on(self, interaction: discord.Interaction, job: JobRecord | None, job_id: str) -> str | None:
        """Why the clicker may not make new images from this job, or ``None`` when they may."""
        viewer = viewer_of(interaction)
        if job is None or not can_see(viewer, job):
            return f"I can't find a job `{job_id[:40]}` that you can see."
        if job.extra.get("discord_deleted"):
            return f"Job `{job.id}` was deleted, so nothing more can be made from it."
        if not can_build_on(viewer, job, owner_only=self.services.policy.owner_only_buttons):
            return "Here only the person who asked for these images can use their buttons. Try `/imagine`."
        return None

    async def buildable_job(self, interaction: discord.Interaction, job_id: str) -> JobRecord | None:
        """The job if the clicker may build on it; otherwise say why (the reply is already deferred)."""
        job = await self.services.find_job(job_id)
        refusal = self.refusal_to_build_on(interaction, job, job_id)
        if refusal is not None:
            await tell(interaction, refusal)
            return None
        return job

    async def _image(self, interaction: discord.Interaction, job: JobRecord, index: int) -> GeneratedImage | None:
        image = next((i for i in job.images if i.index == index), None)
        if image is None or not image.path.exists():
            await tell(interaction, "That image is no longer available, so nothing can be made from it.")
            return None
        return image

    async def on_image(self, interaction: discord.Interaction, action: str, job_id: str, index: int) -> None:
        """Reroll the job, open one of its images, or vary / re-render one."""
        await defer_privately(interaction)
        job = await self.buildable_job(interaction, job_id)
        if job is None:
            return
        if action == "reroll":
            await self._generate(interaction, job, lambda: reroll_request(job), label="🎲 reroll", show_prompt=True)
            return
        image = await self._image(interaction, job, index)
        if image is None:
            return
        if action == "image":
            await self._show_image(interaction, job, image)
            return
        make, label = _FROM_IMAGE[action]
        label = label.format(n=image.index + 1)
        await self._generate(interaction, job, lambda: make(job, image), label=label, show_prompt=True, in_thread=True)

    async def submit_edit(
        self,
        interaction: discord.Interaction,
        job_id: str,
        index: int,
        prompt: str,
        *,
        size: str | None = None,
        aspect_ratio: str | None = None,
    ) -> None:
        """"Use as reference": make ``prompt`` from one image, in its shape unless asked otherwise."""
        await defer_privately(interaction)
        job = await self.buildable_job(interaction, job_id)
        image = None if job is None else await self._image(interaction, job, index)
        if job is None or image is None:
            return
        build = lambda: edit_request(job, image, prompt, size=size, aspect_ratio=aspect_ratio)  # noqa: E731
        await self._generate(interaction, job, build, label=f"🖌️ from image {index + 1}", in_thread=True)

    async def submit_remix(self, interaction: discord.Interaction, job_id: str, values: RemixValues) -> None:
        await defer_privately(interaction)
        job = await self.buildable_job(interaction, job_id)
        if job is not None:
            await self._generate(interaction, job, lambda: remix_request(job, values), label="✏️ remix")

    async def _show_image(self, interaction: discord.Interaction, job: JobRecord, image: GeneratedImage) -> None:
        """One image of a gallery, alone, with its actions (to the clicker only)."""
        spoiler = bool(job.extra.get("discord_spoiler"))
        files = await asyncio.to_thread(
            result_files, job.id, [image], limit=interaction.filesize_limit, spoiler=spoiler
        )
        text = f"Image {image.index + 1} of job `{job.id}` · {image.width}×{image.height}" + (
            f" · seed {image.seed}" if image.seed is not None else ""
        )
        view = image_view(job.id, image.index, rerender=rerender_model(job.provider, job.model) is not None)
        await interaction.edit_original_response(
            content=text, attachments=files, view=view, allowed_mentions=NO_MENTIONS
        )

    async def _generate(
        self,
        interaction: discord.Interaction,
        job: JobRecord,
        make: Callable[[], GenerateRequest],
        *,
        label: str,
        show_prompt: bool = False,
        in_thread: bool = False,
    ) -> None:
        """Make a new job from ``job``; ``show_prompt``: show the job's prompt, not the instruction sent."""

        async def build() -> GenerateRequest:
            return await asyncio.to_thread(make) if in_thread else make()

        origin = Origin(parent_id=job.id, label=label, prompt=shown_prompt(job) if show_prompt else None)
        await self.services.generate(interaction, build, spoiler=bool(job.extra.get("discord_spoiler")), origin=origin)
