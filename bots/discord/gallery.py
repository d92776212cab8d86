"""A job's gallery: its images as plain attachments (Discord shows them as a mosaic) under a one-line caption,
ten per message, with the job's buttons (layer 3, delivery and the generation flow).

Images are added one by one as they are saved (each addition an edit of the current message). The message that
completes the job mentions the requester in a way that pings them alone; a gallery that was still growing gets
its final caption and buttons when the job ends (``Delivery`` then pings with a short message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import discord

from bots.discord.interactions import MAX_FILES_PER_MESSAGE, NO_MENTIONS
from bots.discord.outlets import AnyMessage, Outlet, only_user
from bots.discord.wording import JobProgress, amount, caption
from core.errors import FailureKind
from core.results import Generation

if TYPE_CHECKING:
    from bots.discord.delivery import DeliveryContext


def message_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """A link to a message (webhook messages do not always know their server, so it is given)."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


class GalleryButtons(Protocol):
    """Builds the buttons under a gallery message (the interface layer provides them)."""

    def __call__(
        self, job_id: str, indexes: list[int], *, single: bool, running: bool, rerender: bool
    ) -> discord.ui.View: ...


@dataclass
class _Sheet:
    """One gallery message (up to ten images)."""

    message: AnyMessage
    indexes: list[int]
    attachments: list[discord.Attachment]
    outlet_kind: str
    final: bool


class Gallery:
    """The job's result messages (see module docstring)."""

    def __init__(
        self,
        context: DeliveryContext,
        *,
        buttons: GalleryButtons,
        remember: Callable[[AnyMessage], Awaitable[None]],
    ) -> None:
        self._context = context
        self._buttons = buttons
        self._remember = remember
        self.sheets: list[_Sheet] = []
        self.shrunk: list[int] = []  # images re-encoded to fit the upload limit (originals kept)
        self.pinged = False

    @property
    def url(self) -> str | None:
        """A link to the first gallery message."""
        if not self.sheets:
            return None
        message = self.sheets[0].message
        return message_url(self._context.guild_id, message.channel.id, message.id)

    def _caption(self, state: str, *, part: int) -> str:
        context = self._context
        if self.shrunk:
            state = " · ".join(s for s in (state, "shrunk to fit Discord's upload limit (originals kept)") if s)
        if part:
            state = " · ".join(s for s in (f"part {part + 1}", state) if s)
        return caption(
            prompt=context.prompt,
            model=context.model,
            mention=context.requester_mention,
            job_id=context.job_id,
            what=amount(context.count, series=context.series),
            parent_id=context.parent_id,
            label=context.label,
            state=state,
        )

    def _view(self, indexes: list[int], *, running: bool) -> discord.ui.View:
        context = self._context
        single = context.count == 1
        return self._buttons(context.job_id, indexes, single=single, running=running, rerender=context.rerender)

    async def add(self, outlet: Outlet, index: int, file: discord.File, *, progress: JobProgress, last: bool) -> None:
        """Add one saved image (``last``: the job can make no more)."""
        state = "" if last else f"🎨 {progress.ready} of {progress.count}" if not progress.series else "🎨 more coming"
        part = self._part_for(index)
        if part < len(self.sheets):
            sheet = self.sheets[part]
            # Takes finish in any order; the gallery shows them in the order they were asked for.
            placed = sorted([*zip(sheet.indexes, sheet.attachments, strict=True), (index, file)], key=lambda p: p[0])
            indexes = [i for i, _ in placed]
            edited = await outlet.reach(sheet.message).edit(
                content=self._caption(state, part=part),
                attachments=[a for _, a in placed],
                view=self._view(indexes, running=not last),
            )
            sheet.message, sheet.indexes, sheet.attachments = edited, indexes, list(edited.attachments)
            sheet.outlet_kind, sheet.final = outlet.kind, last
            return
        completes = last and not self.sheets  # this message holds the whole job: it is the one to ping with
        message = await outlet.send(
            content=self._caption(state, part=len(self.sheets)),
            files=[file],
            view=self._view([index], running=not last),
            mentions=only_user(self._context.requester_id) if completes else NO_MENTIONS,
        )
        self.pinged = self.pinged or completes
        self.sheets.append(_Sheet(message, [index], list(message.attachments), outlet.kind, final=last))
        await self._remember(message)

    def _part_for(self, index: int) -> int:
        """The message an image goes to: images 1–10 in the first, 11–20 in the second… — or a new message at
        the end when its own cannot be posted yet (an earlier one has no image so far), or is full."""
        part = min(index // MAX_FILES_PER_MESSAGE, len(self.sheets))
        while part < len(self.sheets) and len(self.sheets[part].indexes) >= MAX_FILES_PER_MESSAGE:
            part += 1
        return part

    async def finish(self, outlet: Outlet, generation: Generation) -> None:
        """Give every message still showing progress its final caption and buttons."""
        state = self._final_state(generation)
        for part, sheet in enumerate(self.sheets):
            if sheet.final:
                continue
            edited = await outlet.reach(sheet.message).edit(
                content=self._caption(state, part=part), view=self._view(sheet.indexes, running=False)
            )
            sheet.message, sheet.outlet_kind, sheet.final = edited, outlet.kind, True

    def _final_state(self, generation: Generation) -> str:
        made, context = len(generation.images), self._context
        if generation.error_kind == FailureKind.CANCELLED:
            return f"⏹️ cancelled after {made}"
        if context.series:
            return f"the model made {made}"
        return "" if made == context.count else f"{made} of {context.count} made"
