"""Where a job's messages go: through the interaction (its webhook, for 15 minutes) or the channel (the bot's
token, for ever) (layer 3, delivery and the generation flow).

An ``Outlet`` shows the job's status, sends new messages and edits the gallery messages it can reach. The
interaction outlet edits the ephemeral deferred reply; the channel outlet keeps a public status message, and can
take over gallery messages first posted through the interaction (the bot's own messages, edited with its token).
"""

from __future__ import annotations

from typing import Protocol

import discord

from bots.discord.interactions import NO_MENTIONS
from bots.discord.wording import MAX_CONTENT, truncate

AnyMessage = discord.Message | discord.WebhookMessage | discord.PartialMessage
Attachments = list[discord.Attachment | discord.File]


def only_user(user_id: int) -> discord.AllowedMentions:
    """Mentions that may ping this one user and nobody else."""
    return discord.AllowedMentions(users=[discord.Object(id=user_id)], roles=False, everyone=False)


class Outlet(Protocol):
    kind: str

    async def status(self, content: str, *, view: discord.ui.View | None) -> None: ...

    async def send(
        self,
        *,
        content: str,
        files: list[discord.File],
        view: discord.ui.View | None,
        mentions: discord.AllowedMentions = NO_MENTIONS,
    ) -> AnyMessage: ...

    def reach(self, message: AnyMessage) -> AnyMessage:
        """A handle on ``message`` that this outlet can edit."""
        ...


class InteractionOutlet:
    """Through the interaction webhook: the (ephemeral) original response and public follow-ups."""

    kind = "interaction"

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction

    async def status(self, content: str, *, view: discord.ui.View | None) -> None:
        await self.interaction.edit_original_response(content=content, view=view, allowed_mentions=NO_MENTIONS)

    async def send(
        self,
        *,
        content: str,
        files: list[discord.File],
        view: discord.ui.View | None,
        mentions: discord.AllowedMentions = NO_MENTIONS,
    ) -> AnyMessage:
        return await self.interaction.followup.send(
            content=content, files=files, view=view or discord.utils.MISSING, wait=True, allowed_mentions=mentions
        )

    def reach(self, message: AnyMessage) -> AnyMessage:
        return message


class ChannelOutlet:
    """Through the bot token: a public status message (the requester named, not pinged) and channel messages."""

    kind = "channel"

    def __init__(self, channel: discord.abc.Messageable, *, mention: str) -> None:
        self.channel = channel
        self.mention = mention
        self.status_message: discord.Message | None = None

    async def status(self, content: str, *, view: discord.ui.View | None) -> None:
        text = truncate(f"{self.mention} {content}", MAX_CONTENT)
        if self.status_message is None:
            self.status_message = await self.channel.send(text, view=view, allowed_mentions=NO_MENTIONS)
        else:
            self.status_message = await self.status_message.edit(content=text, view=view)

    async def send(
        self,
        *,
        content: str,
        files: list[discord.File],
        view: discord.ui.View | None,
        mentions: discord.AllowedMentions = NO_MENTIONS,
    ) -> AnyMessage:
        return await self.channel.send(content=content, files=files, view=view, allowed_mentions=mentions)

    def reach(self, message: AnyMessage) -> AnyMessage:
        if isinstance(message, discord.Message) and not isinstance(message, discord.WebhookMessage):
            return message
        # A gallery first posted through the interaction: the bot wrote it, so its token may edit it.
        getter = getattr(self.channel, "get_partial_message", None)
        return getter(message.id) if getter is not None else message
