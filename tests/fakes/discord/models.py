"""The world the fake Discord serves: users, channels, guilds, and test uploads.

These are plain dataclasses a test builds (``FakeGuild(channels=[FakeChannel("art")])``); each
knows how to render itself as the JSON payload discord.py expects.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from typing import Any

import discord

from .clock import iso_timestamp, static_snowflake, static_snowflake_on_shard

Payload = dict[str, Any]

# Channel types (subset of discord.ChannelType).
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11

MEMBER_PERMISSIONS: int = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
    use_external_emojis=True,
    use_application_commands=True,
).value
"""What an ordinary member may do (sent as ``member.permissions``)."""

BOT_PERMISSIONS: int = MEMBER_PERMISSIONS | discord.Permissions(manage_messages=True).value
"""Default ``app_permissions``: what the bot may do in a channel."""

_FIXTURE_TIME = 1_700_000_000.0


@dataclass(eq=False)
class FakeUser:
    """A Discord user; also used as a guild member."""

    name: str = "alice"
    id: int = field(default_factory=static_snowflake)
    global_name: str | None = None
    bot: bool = False
    permissions: int = MEMBER_PERMISSIONS
    role_ids: list[int] = field(default_factory=list)
    locale: str = "en-US"
    accepts_dms: bool = True  # False: the user closed DMs from server members (sending gets 50007)

    def user_payload(self) -> Payload:
        """The ``user`` object."""
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }

    def member_payload(self, *, with_permissions: bool = False) -> Payload:
        """The guild ``member`` object (with ``permissions`` as sent inside interactions)."""
        payload: Payload = {
            "user": self.user_payload(),
            "nick": None,
            "avatar": None,
            "roles": [str(r) for r in self.role_ids],
            "joined_at": iso_timestamp(_FIXTURE_TIME),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_permissions:
            payload["permissions"] = str(self.permissions)
        return payload


@dataclass(eq=False)
class FakeChannel:
    """A guild text channel (``type=0``), a public thread (``type=11``, ``parent`` set) or a DM channel
    (``type=1``, ``recipient`` set).

    ``bot_permissions`` overrides the fake-wide ``app_permissions`` for this channel (e.g. a
    channel where the bot may not attach files); ``member_permissions`` overrides a member's
    ``permissions`` here, by user id (a channel where a member may manage messages, or not see it).
    """

    name: str = "general"
    id: int = field(default_factory=static_snowflake)
    type: int = GUILD_TEXT
    nsfw: bool = False
    topic: str | None = None
    bot_permissions: int | None = None
    guild_id: int | None = None
    recipient: FakeUser | None = None
    parent: FakeChannel | None = None
    member_permissions: dict[int, int] = field(default_factory=dict)
    thread_owner_id: int | None = None  # who started a thread (default: the guild's first member)

    @property
    def is_dm(self) -> bool:
        """Whether this is a direct-message channel."""
        return self.type == DM

    @property
    def is_thread(self) -> bool:
        """Whether this is a thread (sending in it needs *Send Messages in Threads*)."""
        return self.type == PUBLIC_THREAD

    def permissions_of(self, user: FakeUser) -> int:
        """What ``user`` may do here (sent as ``member.permissions`` in interactions)."""
        return self.member_permissions.get(user.id, user.permissions)

    def payload(self, *, position: int = 0) -> Payload:
        """The ``channel`` object (full for guild channels, DM shape for DMs)."""
        if self.is_dm:
            recipients = [self.recipient.user_payload()] if self.recipient else []
            return {"id": str(self.id), "type": DM, "last_message_id": None, "flags": 0, "recipients": recipients}
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": position,
            "topic": self.topic,
            "nsfw": self.nsfw,
            "parent_id": str(self.parent.id) if self.parent else None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "flags": 0,
            **(self._thread_fields() if self.is_thread else {}),
        }

    def _thread_fields(self) -> Payload:
        return {
            "owner_id": str(self.thread_owner_id or self.id),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso_timestamp(_FIXTURE_TIME),
                "locked": False,
            },
        }


@dataclass(eq=False)
class FakeRole:
    """A guild role (the ``@everyone`` role is implicit)."""

    name: str
    id: int = field(default_factory=static_snowflake)
    permissions: int = 0

    def payload(self, *, position: int) -> Payload:
        """The ``role`` object."""
        return role_payload(role_id=self.id, name=self.name, permissions=self.permissions, position=position)


def role_payload(*, role_id: int, name: str, permissions: int, position: int) -> Payload:
    """A ``role`` object."""
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _default_channels() -> list[FakeChannel]:
    return [FakeChannel("general")]


def _default_members() -> list[FakeUser]:
    return [FakeUser("alice")]


@dataclass(eq=False)
class FakeGuild:
    """A guild with its channels (threads included: type 11 with a ``parent``), members (besides the bot) and
    roles."""

    name: str = "Test Guild"
    id: int = field(default_factory=static_snowflake)
    channels: list[FakeChannel] = field(default_factory=_default_channels)
    members: list[FakeUser] = field(default_factory=_default_members)
    roles: list[FakeRole] = field(default_factory=list)
    premium_tier: int = 0
    locale: str = "en-US"

    @classmethod
    def on_shard(cls, shard_id: int, shard_count: int, **fields: Any) -> FakeGuild:
        """A guild whose id puts it on ``shard_id`` of ``shard_count`` (Discord: ``(id >> 22) % count``)."""
        return cls(id=static_snowflake_on_shard(shard_id, shard_count), **fields)

    def __post_init__(self) -> None:
        for channel in self.channels:
            channel.guild_id = self.id
            if channel.is_thread and channel.thread_owner_id is None and self.members:
                channel.thread_owner_id = self.members[0].id

    def channel(self, name: str) -> FakeChannel:
        """The channel called ``name``.

        Raises:
            KeyError: if there is none.
        """
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    def member(self, name: str) -> FakeUser:
        """The member called ``name``.

        Raises:
            KeyError: if there is none.
        """
        for member in self.members:
            if member.name == name:
                return member
        raise KeyError(name)

    def payload(self, *, bot: FakeUser) -> Payload:
        """The full ``GUILD_CREATE`` object (the bot itself is among the members)."""
        members = [bot, *self.members]
        everyone = role_payload(role_id=self.id, name="@everyone", permissions=MEMBER_PERMISSIONS, position=0)
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.members[0].id if self.members else bot.id),
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "features": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "application_id": None,
            "premium_progress_bar_enabled": False,
            "joined_at": iso_timestamp(_FIXTURE_TIME),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": [m.member_payload() for m in members],
            "channels": [c.payload(position=i) for i, c in enumerate(self.channels) if not c.is_thread],
            "roles": [everyone, *(r.payload(position=i + 1) for i, r in enumerate(self.roles))],
            "emojis": [],
            "stickers": [],
            "threads": [c.payload() for c in self.channels if c.is_thread],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass(frozen=True)
class Upload:
    """A file a test user attaches to a slash command (``attachment`` option)."""

    data: bytes
    filename: str
    content_type: str | None = None

    @property
    def media_type(self) -> str:
        """The declared content type, or one guessed from the file name."""
        return self.content_type or guess_content_type(self.filename)


def guess_content_type(filename: str) -> str:
    """Content type from a file name, as Discord sniffs it (``application/octet-stream`` if unknown)."""
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
