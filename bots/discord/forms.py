"""The forms (modals): "Use as reference" (an edit prompt), Remix (prefilled with the job's prompt and options),
and "Edit with Seedream" on any message (layer 4, interface).

A form's ``custom_id`` carries what it is about (``sd:editprompt:<job>:<i>``, ``sd:remixform:<job>``,
``sd:msgedit:<channel>:<message>``), and its submit is answered from the raw data (``answer_form``, called by the
bot for every modal submit), so a form opened before a restart still works after it.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bots.discord.actions import ResultActions
from bots.discord.message_edit import MessageEdit
from bots.discord.rebuild import RemixValues, remix_values
from bots.discord.services import BotServices
from core.jobs import JobRecord

_JOB = r"(?P<job>[a-z0-9]{1,40})"
EDIT_PREFIX, REMIX_PREFIX, MESSAGE_PREFIX = "sd:editprompt:", "sd:remixform:", "sd:msgedit:"
_KEEP = "keep the source's"
Text = discord.ui.TextInput["discord.ui.Modal"]


def _input(custom_id: str, label: str, *, default: str = "", placeholder: str = "", long: bool = False,
           required: bool = False, max_length: int = 100) -> Text:
    return discord.ui.TextInput(
        label=label,
        custom_id=custom_id,
        default=default or None,
        placeholder=placeholder or None,
        style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
        required=required,
        max_length=max_length,
    )


class EditPromptModal(discord.ui.Modal):
    """"Use as reference": what to make from one image (its shape is kept unless size or ratio are given)."""

    def __init__(self, job_id: str, index: int) -> None:
        super().__init__(
            title=f"Use image {index + 1} as reference", timeout=15 * 60, custom_id=f"{EDIT_PREFIX}{job_id}:{index}"
        )
        self.add_item(_input("prompt", "What should change, or what to make", long=True, required=True,
                             max_length=2000, placeholder="e.g. make it night time, add snow"))
        self.add_item(_input("size", "Size (optional)", placeholder=f"{_KEEP} (e.g. 2K)"))
        self.add_item(_input("aspect_ratio", "Aspect ratio (optional)", placeholder=f"{_KEEP} (e.g. 16:9)"))


class RemixModal(discord.ui.Modal):
    """Remix: the job's prompt and options, prefilled, to change and run again."""

    def __init__(self, job: JobRecord) -> None:
        super().__init__(title="Remix", timeout=15 * 60, custom_id=f"{REMIX_PREFIX}{job.id}")
        values = remix_values(job)
        self.add_item(_input("prompt", "Prompt", default=values.prompt[:2000], long=True, required=True,
                             max_length=2000))
        self.add_item(_input("model", "Model", default=values.model))
        self.add_item(_input("size", "Size (tier or WxH)", default=values.size, placeholder="the model's default"))
        self.add_item(_input("aspect_ratio", "Aspect ratio", default=values.aspect_ratio, placeholder="e.g. 16:9"))
        self.add_item(_input("images", "Images", default=values.images, placeholder='4, or "series 4"'))


class MessageEditModal(discord.ui.Modal):
    """"Edit with Seedream" on a message: what to make from its images."""

    def __init__(self, channel_id: int, message_id: int, *, images: int) -> None:
        super().__init__(
            title=f"Edit {images} image{'s' if images != 1 else ''} with Seedream",
            timeout=15 * 60,
            custom_id=f"{MESSAGE_PREFIX}{channel_id}:{message_id}",
        )
        self.add_item(_input("prompt", "What to make from them", long=True, required=True, max_length=2000,
                             placeholder="e.g. put these two characters in one scene"))
        self.add_item(_input("size", "Size (optional)", placeholder=f"{_KEEP} (e.g. 2K)"))
        self.add_item(_input("aspect_ratio", "Aspect ratio (optional)", placeholder=f"{_KEEP} (e.g. 16:9)"))


def answer_form(services: BotServices, interaction: discord.Interaction[Any]) -> bool:
    """Answer a submitted form (whichever process opened it) in a tracked task; ``False`` if it is not ours."""
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = str(data.get("custom_id", ""))
    text = {key: (submitted_text(data, key) or "").strip() for key in ("prompt", "size", "aspect_ratio")}
    size, ratio = text["size"] or None, text["aspect_ratio"] or None
    actions = ResultActions(services)
    if match := re.fullmatch(rf"{EDIT_PREFIX}{_JOB}:(?P<index>\d{{1,2}})", custom_id):
        work = actions.submit_edit(interaction, match["job"], int(match["index"]), text["prompt"],
                                   size=size, aspect_ratio=ratio)
    elif match := re.fullmatch(rf"{REMIX_PREFIX}{_JOB}", custom_id):
        values = RemixValues(**{k: submitted_text(data, k) or "" for k in
                                ("prompt", "model", "size", "aspect_ratio", "images")})
        work = actions.submit_remix(interaction, match["job"], values)
    elif match := re.fullmatch(rf"{MESSAGE_PREFIX}(?P<channel>\d{{1,20}}):(?P<message>\d{{1,20}})", custom_id):
        work = MessageEdit(services).submit(interaction, int(match["channel"]), int(match["message"]),
                                            text["prompt"], size=size, aspect_ratio=ratio)
    else:
        return False
    services.spawn(work, name=f"form-{interaction.id}")
    return True


def submitted_text(data: dict[str, Any], custom_id: str) -> str | None:
    """The value of text input ``custom_id`` in a modal submit's raw ``data`` (action rows or labels)."""
    stack = list(data.get("components") or [])
    while stack:
        component = stack.pop()
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        stack.extend(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            stack.append(component["component"])
    return None
