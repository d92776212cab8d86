"""Restart-proof buttons under results: reroll, edit-from-this, details, delete (layer 4, interface).

Each is a ``discord.ui.DynamicItem`` whose ``custom_id`` carries the job id (and the image index), so any
bot process can answer a click on any message, however old: the state lives in the job store. Parsing the
``custom_id`` is all that happens before the callback, which hands the click to ``ResultActions`` in a tracked
task that defers at once (the 3-second rule), or opens the edit modal (itself the acknowledgement).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

import discord

from bots.discord.actions import ResultActions
from bots.discord.services import services_of

_JOB = r"(?P<job>[a-z0-9]{1,40})"
REROLL, EDIT, DETAILS, DELETE = "reroll", "edit", "details", "delete"
EDIT_MODAL_PREFIX = "sd:editprompt:"

Handler = Callable[[ResultActions], Coroutine[Any, Any, None]]


def _answer(interaction: discord.Interaction[Any], what: str, handler: Handler) -> None:
    services = services_of(interaction)
    services.spawn(handler(ResultActions(services)), name=f"{what}-{interaction.id}")


class RerollButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sd:{REROLL}:{_JOB}"):
    """Run the job again with the same parameters (a new seed where the model takes one)."""

    def __init__(self, job_id: str, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label="Reroll",
                emoji="🎲",
                style=discord.ButtonStyle.primary,
                custom_id=f"sd:{REROLL}:{job_id}",
            ),
            row=row,
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RerollButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        _answer(interaction, REROLL, lambda actions: actions.reroll(interaction, self.job_id))


class EditButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sd:{EDIT}:{_JOB}:(?P<index>\d{{1,2}})"
):
    """Ask for a prompt and edit this image (it becomes the reference)."""

    def __init__(self, job_id: str, index: int, *, label: str = "Edit", row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="🖌️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"sd:{EDIT}:{job_id}:{index}",
            ),
            row=row,
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> EditButton:
        return cls(match["job"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # The modal is the acknowledgement: nothing may come before it.
        await interaction.response.send_modal(EditPromptModal(self.job_id, self.index))


class DetailsButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sd:{DETAILS}:{_JOB}"):
    """Show every parameter of the job, to the clicker only."""

    def __init__(self, job_id: str, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label="Details",
                emoji="ℹ️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"sd:{DETAILS}:{job_id}",
            ),
            row=row,
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DetailsButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        _answer(interaction, DETAILS, lambda actions: actions.details(interaction, self.job_id))


class DeleteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sd:{DELETE}:{_JOB}"):
    """Delete the job's messages and files (its requester or a member who may manage messages)."""

    def __init__(self, job_id: str, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label="Delete", emoji="🗑️", style=discord.ButtonStyle.danger, custom_id=f"sd:{DELETE}:{job_id}"
            ),
            row=row,
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DeleteButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        _answer(interaction, DELETE, lambda actions: actions.delete(interaction, self.job_id))


DYNAMIC_ITEMS = (RerollButton, EditButton, DetailsButton, DeleteButton)


def result_view(job_id: str, indexes: list[int], *, count: int, with_delete: bool = True) -> discord.ui.View:
    """The buttons under a result message holding the images ``indexes`` of a job that asked for ``count``.

    Row 0: reroll, details, delete (and "Edit" for a single image); rows 1–2: one "Edit n" per image.
    """
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(job_id, row=0))
    single = len(indexes) == 1 and count == 1
    if single:
        view.add_item(EditButton(job_id, indexes[0], row=0))
    view.add_item(DetailsButton(job_id, row=0))
    if with_delete:
        view.add_item(DeleteButton(job_id, row=0))
    if not single:
        for position, index in enumerate(indexes[:10]):
            view.add_item(EditButton(job_id, index, label=f"Edit {index + 1}", row=1 + position // 5))
    return view


class EditPromptModal(discord.ui.Modal):
    """Asks for the edit prompt. Its submit is answered from the raw data (``answer_edit_modal``, called by the
    bot for every modal submit), so a modal opened before a restart still works after it."""

    prompt: discord.ui.TextInput[EditPromptModal] = discord.ui.TextInput(
        label="What should change?",
        custom_id="prompt",
        style=discord.TextStyle.paragraph,
        max_length=2000,
        placeholder="e.g. make it night time, add snow",
    )

    def __init__(self, job_id: str, index: int) -> None:
        super().__init__(
            title=f"Edit image {index + 1}", timeout=15 * 60, custom_id=f"{EDIT_MODAL_PREFIX}{job_id}:{index}"
        )


def answer_edit_modal(interaction: discord.Interaction[Any]) -> bool:
    """Answer an edit modal's submit (whichever process opened it); ``False`` if it is not one."""
    data: dict[str, Any] = dict(interaction.data or {})
    parsed = parse_edit_modal(str(data.get("custom_id", "")))
    if parsed is None:
        return False
    job_id, index = parsed
    prompt = (submitted_text(data, "prompt") or "").strip()
    _answer(interaction, EDIT, lambda actions: actions.submit_edit(interaction, job_id, index, prompt))
    return True


def parse_edit_modal(custom_id: str) -> tuple[str, int] | None:
    """(job id, image index) from an edit modal's ``custom_id``."""
    match = re.fullmatch(rf"{re.escape(EDIT_MODAL_PREFIX)}{_JOB}:(?P<index>\d{{1,2}})", custom_id)
    return (match["job"], int(match["index"])) if match else None


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
