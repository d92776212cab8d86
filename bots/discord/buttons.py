"""Restart-proof buttons: the gallery's job actions and per-image actions, the status's Cancel, the delete
confirmation (layer 4, interface).

Every button is one ``discord.ui.DynamicItem`` (``JobButton``) whose ``custom_id`` carries the action, the job id
and, for per-image actions, the image index (``sd:vary:<job>:<i>``), so any bot process can answer a click on any
message, however old: the state lives in the job store. Parsing the ``custom_id`` is all that happens before the
callback, which hands the click to the bot (``BotServices.press``, answered by ``bots.discord.presses``): it
either opens a form (itself the acknowledgement) or runs the action in a tracked task that defers at once (the
3-second rule).

Gallery layout (Discord allows five rows of five): row 0 holds the job's actions (Reroll, Remix, Details, Delete,
and Cancel while it runs). A single image has its actions on row 1 (Vary subtle/strong, Re-render at 4K, Use as
reference); a gallery of several has one numbered button per image (rows 1–2) that opens that image's actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord

from bots.discord.services import services_of
from core.jobs import JobRecord

Style = discord.ButtonStyle


@dataclass(frozen=True)
class Action:
    """How one action's button looks."""

    label: str
    emoji: str
    style: Style = Style.secondary
    per_image: bool = False


ACTIONS: dict[str, Action] = {
    "reroll": Action("Reroll", "🎲", Style.primary),
    "remix": Action("Remix", "✏️"),
    "details": Action("Details", "ℹ️"),
    "delete": Action("Delete", "🗑️", Style.danger),
    "cancel": Action("Cancel", "⏹️", Style.danger),
    "deleteyes": Action("Delete for good", "🗑️", Style.danger),
    "keep": Action("Keep it", "↩️"),
    "image": Action("", "🔎", per_image=True),  # labelled with the image's number
    "subtle": Action("Vary (subtle)", "🔀", per_image=True),
    "strong": Action("Vary (strong)", "🌀", per_image=True),
    "rerender": Action("Re-render at 4K", "🔍", per_image=True),
    "edit": Action("Use as reference", "🖌️", per_image=True),
}
_TEMPLATE = rf"sd:(?P<action>{'|'.join(ACTIONS)}):(?P<job>[a-z0-9]{{1,40}})(?::(?P<index>\d{{1,2}}))?"


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_TEMPLATE):
    """One action on a job (or on one of its images); a click goes to the bot's ``BotServices.press``."""

    def __init__(self, action: str, job_id: str, index: int | None = None, *, row: int | None = None) -> None:
        look = ACTIONS[action]
        suffix = f":{index or 0}" if look.per_image else ""
        label = str((index or 0) + 1) if action == "image" else look.label
        super().__init__(
            discord.ui.Button(
                label=label, emoji=look.emoji, style=look.style, custom_id=f"sd:{action}:{job_id}{suffix}"
            ),
            row=row,
        )
        self.action, self.job_id, self.index = action, job_id, index or 0

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        # A per-image action without an index (an old button, or a hand-made one) means the first image.
        return cls(match["action"], match["job"], int(match["index"] or 0))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await services_of(interaction).press(interaction, self.action, self.job_id, self.index)


DYNAMIC_ITEMS = (JobButton,)


def gallery_view(
    job_id: str,
    indexes: list[int],
    *,
    single: bool,
    running: bool,
    rerender: bool,
    with_delete: bool = True,
) -> discord.ui.View:
    """The buttons under a gallery message holding the images ``indexes`` (see module docstring)."""
    view = discord.ui.View(timeout=None)
    for action in ("reroll", "remix", "details", *(("delete",) if with_delete else ())):
        view.add_item(JobButton(action, job_id, row=0))
    if running:
        view.add_item(JobButton("cancel", job_id, row=0))
    if single and len(indexes) == 1:
        for item in image_actions(job_id, indexes[0], rerender=rerender, row=1):
            view.add_item(item)
    else:
        for position, index in enumerate(indexes[:10]):
            view.add_item(JobButton("image", job_id, index, row=1 + position // 5))
    return view


def image_actions(job_id: str, index: int, *, rerender: bool, row: int = 0) -> list[JobButton]:
    """One image's actions: vary (subtle, strong), re-render at 4K (where a model can), use as reference."""
    actions = ["subtle", "strong", *(("rerender",) if rerender else ()), "edit"]
    return [JobButton(action, job_id, index, row=row) for action in actions]


def image_view(job_id: str, index: int, *, rerender: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in image_actions(job_id, index, rerender=rerender):
        view.add_item(item)
    return view


def status_view(job_id: str) -> discord.ui.View:
    """Under a running job's status: Cancel."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("cancel", job_id))
    return view


def confirm_delete_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("deleteyes", job_id))
    view.add_item(JobButton("keep", job_id))
    return view


def reopened_view(job: JobRecord, indexes: list[int], *, with_delete: bool, rerender: bool) -> discord.ui.View:
    """The buttons under a job re-opened with ``/job``."""
    single = len(job.images) == 1
    return gallery_view(job.id, indexes, single=single, running=False, rerender=rerender, with_delete=with_delete)
