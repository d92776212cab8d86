"""Answering a press of a job button (layer 4, interface): a form opens at once (the form is the
acknowledgement, so nothing may come before it), anything else runs in a tracked task that defers first.

``ImageBot.press`` (``BotServices``) calls ``answer_press``; the buttons themselves (``bots.discord.buttons``) only
parse their ``custom_id``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from bots.discord.actions import ResultActions
from bots.discord.forms import EditPromptModal, RemixModal
from bots.discord.interactions import NO_MENTIONS
from bots.discord.manage import JobManagement
from bots.discord.services import BotServices

FORM_LOOKUP_SECONDS = 1.5  # a form must open within Discord's 3 s: the job is read within this, or not at all
MANAGEMENT = ("details", "delete", "deleteyes", "keep", "cancel")


async def answer_press(
    services: BotServices, interaction: discord.Interaction[Any], action: str, job_id: str, index: int
) -> None:
    """Answer one press (see module docstring)."""
    name = f"{action}-{interaction.id}"
    if action == "edit":
        await interaction.response.send_modal(EditPromptModal(job_id, index))
    elif action == "remix":
        await _open_remix(services, interaction, job_id)
    elif action in MANAGEMENT:
        services.spawn(getattr(JobManagement(services), action)(interaction, job_id), name=name)
    else:
        services.spawn(ResultActions(services).on_image(interaction, action, job_id, index), name=name)


async def _open_remix(services: BotServices, interaction: discord.Interaction[Any], job_id: str) -> None:
    """The remix form, prefilled from the job (read from the store before Discord's deadline)."""
    try:
        job = await asyncio.wait_for(services.find_job(job_id), FORM_LOOKUP_SECONDS)
    except TimeoutError:
        job, refusal = None, "I couldn't read that job in time. Please press Remix again."
    else:
        refusal = ResultActions(services).refusal_to_build_on(interaction, job, job_id)
    if job is None or refusal is not None:
        await interaction.response.send_message(refusal, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    await interaction.response.send_modal(RemixModal(job))
