"""Everything the fake knows, shared by the gateway, the REST routes and the test API."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from .clock import FakeClock, SnowflakeFactory
from .models import DM, FakeChannel, FakeGuild, FakeUser
from .records import (
    ChangeSignal,
    InteractionRecord,
    RequestRecord,
    StoredAttachment,
    StoredMessage,
    SyncCall,
    Violation,
)

Payload = dict[str, Any]

if TYPE_CHECKING:
    from .server import Stall


@dataclass(frozen=True)
class FakeConfig:
    """The platform settings of one fake Discord."""

    application_id: int
    bot: FakeUser
    token: str
    attachment_size_limit: int
    ack_deadline: float
    ack_clock: Literal["real", "fake"]
    token_lifetime: float
    app_permissions: int
    heartbeat_interval_ms: int


class FakeState:
    """Shared store: the configured world plus every record of what the bot did."""

    def __init__(self, *, config: FakeConfig, guilds: list[FakeGuild], clock: FakeClock) -> None:
        self.config = config
        self.guilds = guilds
        self.clock = clock
        self.snowflakes = SnowflakeFactory(clock)
        self.signal = ChangeSignal()
        self.base_url = ""
        self.messages: dict[int, StoredMessage] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.violations: list[Violation] = []
        self.requests: list[RequestRecord] = []
        self.unknown_requests: list[RequestRecord] = []
        self.internal_errors: list[str] = []
        self.global_commands: dict[str, Payload] = {}
        self.guild_commands: dict[int, dict[str, Payload]] = {}
        self.sync_calls: list[SyncCall] = []
        self.dm_channels: dict[int, FakeChannel] = {}
        self._command_ids: dict[tuple[int | None, str], int] = {}
        self.stalls: list[Stall] = []  # requests the test holds (see FakeDiscord.stall)

    # -- lookups ---------------------------------------------------------------------------------

    def guild(self, guild_id: int) -> FakeGuild | None:
        """The configured guild with this id."""
        return next((g for g in self.guilds if g.id == guild_id), None)

    def channel(self, channel_id: int) -> FakeChannel | None:
        """A guild channel or an opened DM channel."""
        for guild in self.guilds:
            for channel in guild.channels:
                if channel.id == channel_id:
                    return channel
        return next((c for c in self.dm_channels.values() if c.id == channel_id), None)

    def user(self, user_id: int) -> FakeUser | None:
        """A known user (any guild member, DM recipient, or the bot)."""
        if user_id == self.config.bot.id:
            return self.config.bot
        for guild in self.guilds:
            for member in guild.members:
                if member.id == user_id:
                    return member
        return next((c.recipient for c in self.dm_channels.values() if c.recipient and c.recipient.id == user_id), None)

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The DM channel between the bot and ``user`` (opened on first use)."""
        if user.id not in self.dm_channels:
            self.dm_channels[user.id] = FakeChannel(name=f"dm-{user.name}", type=DM, recipient=user)
        return self.dm_channels[user.id]

    def user_message(
        self, *, author: FakeUser, channel: FakeChannel, content: str, uploads: list[Any]
    ) -> StoredMessage:
        """Store a message a user posted (``uploads`` are :class:`~.models.Upload`)."""
        message = StoredMessage(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author.user_payload(),
            created_at=self.clock.now(),
            content=content,
        )
        for upload in uploads:
            stored = self.store_attachment(
                channel_id=channel.id,
                filename=upload.filename,
                data=upload.data,
                content_type=upload.media_type,
                uploaded_by="user",
            )
            stored.message_id = message.id
            message.attachments.append(stored)
        self.messages[message.id] = message
        self.changed()
        return message

    def bot_permissions(self, channel: FakeChannel) -> int:
        """What the bot may do in ``channel``."""
        return self.config.app_permissions if channel.bot_permissions is None else channel.bot_permissions

    def interaction_by_token(self, token: str) -> InteractionRecord | None:
        """The interaction whose token this is."""
        return next((r for r in self.interactions.values() if r.token == token), None)

    def messages_in(self, channel_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages of a channel, oldest first."""
        found = [m for m in self.messages.values() if m.channel_id == channel_id]
        return sorted((m for m in found if include_deleted or not m.deleted), key=lambda m: m.id)

    def command_id(self, guild_id: int | None, name: str) -> int:
        """A stable id for the command ``name`` (scoped to a guild or global)."""
        key = (guild_id, name)
        if key not in self._command_ids:
            self._command_ids[key] = self.snowflakes.next()
        return self._command_ids[key]

    def registered_command(self, name: str, guild_id: int | None) -> tuple[Payload, int | None] | None:
        """The synced command ``name`` visible in ``guild_id`` and the guild it is scoped to."""
        if guild_id is not None and name in self.guild_commands.get(guild_id, {}):
            return self.guild_commands[guild_id][name], guild_id
        if name in self.global_commands:
            return self.global_commands[name], None
        return None

    # -- mutations -------------------------------------------------------------------------------

    def changed(self) -> None:
        """Wake every test waiting on the fake's state."""
        self.signal.notify()

    def record_violation(self, kind: str, detail: str, *, path: str = "", interaction_id: int | None = None) -> None:
        """Remember a broken platform rule."""
        self.violations.append(Violation(kind=kind, detail=detail, path=path, interaction_id=interaction_id))
        self.changed()

    def store_attachment(
        self,
        *,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str,
        uploaded_by: Literal["bot", "user"],
        description: str | None = None,
    ) -> StoredAttachment:
        """Keep a file (with its bytes) and serve it at a loopback URL."""
        attachment_id = self.snowflakes.next()
        width, height = _image_size(data)
        attachment = StoredAttachment(
            id=attachment_id,
            filename=filename,
            content_type=content_type,
            data=data,
            channel_id=channel_id,
            url=f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{quote(filename)}",
            uploaded_by=uploaded_by,
            description=description,
            width=width,
            height=height,
        )
        self.attachments[attachment_id] = attachment
        return attachment


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    from PIL import Image

    # Pillow warns about huge images; under ``filterwarnings = error`` that must not fail a test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except (OSError, ValueError, Image.DecompressionBombError):
            return None, None
