"""The optional mod-log channel: every job announced when it starts (who, where, what prompt) and completed with
a link to its images when it ends (layer 3, delivery and the generation flow).

It is posted with the bot token and mentions nobody. A mod log the bot cannot post in is logged as a warning
and never stops a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from bots.discord.interactions import NO_MENTIONS
from bots.discord.policy import Place
from bots.discord.wording import MAX_CONTENT, outcome_text, truncate
from core.results import Generation

log = logging.getLogger(__name__)

MessageableOf = Callable[[int], discord.abc.Messageable]


class ModLog:
    """Posts to one channel, if configured (``channel_id`` ``None``: does nothing)."""

    def __init__(self, channel_id: int | None, *, channel_of: MessageableOf) -> None:
        self._channel_id = channel_id
        self._channel_of = channel_of

    async def opened(
        self, *, job_id: str, user: discord.abc.User, place: Place, prompt: str, model: str, what: str
    ) -> discord.Message | None:
        """Announce a job that was accepted; returns the entry to complete later."""
        if self._channel_id is None:
            return None
        where = f"<#{place.channel_id}>" if not place.is_dm else "a DM"
        if place.is_dm and place.guild_id is not None:
            where += f" (as a member of server {place.guild_id})"
        text = (
            f"🖼️ Job `{job_id}` · <@{user.id}> ({truncate(user.display_name, 80)}) in {where} · {model} · {what}\n"
            f"> {truncate(prompt.replace(chr(10), ' '), 1500)}"
        )
        try:
            channel = self._channel_of(self._channel_id)
            return await channel.send(truncate(text, MAX_CONTENT), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("mod log %s refused job %s: %s %s", self._channel_id, job_id, exc.status, exc.text)
            return None

    async def closed(
        self, entry: discord.Message | None, generation: Generation, *, asked: int, series: bool, link: str | None
    ) -> None:
        """Add the outcome (and the link to the images) to a job's entry."""
        if entry is None:
            return
        outcome = outcome_text(generation, asked=asked, series=series).splitlines()[0]
        text = f"{entry.content}\n→ {truncate(outcome, 300)}" + (f" {link}" if link else "")
        try:
            await entry.edit(content=truncate(text, MAX_CONTENT), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("mod log: job %s could not be completed: %s %s", generation.job_id, exc.status, exc.text)
