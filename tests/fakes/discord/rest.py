"""Bot-token REST routes: login, command sync, channels, channel messages, DMs."""

from __future__ import annotations

from typing import Any

import discord
from aiohttp import web

from .bodies import check_file_sizes, json_response, parse_json, read_body
from .bodies import to_int as _int
from .gateway import gateway_url
from .messages import create_message, delete_message, edit_message
from .models import FakeChannel
from .records import EPHEMERAL, StoredMessage, SyncCall
from .rules import (
    MAX_CHOICES,
    ApiError,
    cannot_message_user,
    invalid_form,
    missing_access,
    missing_permissions,
    not_the_author,
    too_long,
    unauthorized,
    unknown_channel,
    unknown_message,
)
from .state import FakeState

Payload = dict[str, Any]

_VIEW = discord.Permissions(view_channel=True).value
_SEND = discord.Permissions(send_messages=True).value
_SEND_IN_THREADS = discord.Permissions(send_messages_in_threads=True).value
_HISTORY = discord.Permissions(read_message_history=True).value
_ATTACH = discord.Permissions(attach_files=True).value
_MANAGE = discord.Permissions(manage_messages=True).value
_MAX_COMMANDS = 100
_MAX_OPTIONS = 25


class BotRoutes:
    """Routes authenticated with ``Authorization: Bot <token>``."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """The aiohttp route table under ``prefix`` (``/api/v10``)."""
        p, app = prefix, prefix + "/applications/{application_id}"
        channel, message = p + "/channels/{channel_id}", p + "/channels/{channel_id}/messages/{message_id}"
        return [
            web.get(p + "/users/@me", self.me),
            web.get(p + "/oauth2/applications/@me", self.application),
            web.get(p + "/applications/@me", self.application),
            web.get(p + "/gateway", self.gateway),
            web.get(p + "/gateway/bot", self.gateway),
            web.get(app + "/commands", self.get_commands),
            web.put(app + "/commands", self.put_commands),
            web.get(app + "/guilds/{guild_id}/commands", self.get_commands),
            web.put(app + "/guilds/{guild_id}/commands", self.put_commands),
            web.get(channel, self.get_channel),
            web.get(channel + "/messages", self.history),
            web.post(channel + "/messages", self.create_message),
            web.post(channel + "/typing", self.no_content),
            web.get(message, self.get_message),
            web.patch(message, self.edit_message),
            web.delete(message, self.delete_message),
            web.put(message + "/reactions/{emoji}/@me", self.no_content),
            web.post(p + "/users/@me/channels", self.open_dm),
            web.get(p + "/users/{user_id}", self.get_user),
            web.get(p + "/guilds/{guild_id}", self.get_guild),
            web.get(p + "/guilds/{guild_id}/channels", self.guild_channels),
            web.get(p + "/guilds/{guild_id}/members/{user_id}", self.get_member),
        ]

    # -- helpers ---------------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self._state.config.token}":
            raise unauthorized()

    def _channel(self, request: web.Request) -> FakeChannel:
        self._authorize(request)
        channel = self._state.channel(_int(request.match_info["channel_id"]))
        if channel is None:
            raise unknown_channel()
        return channel

    def _visible_channel(self, request: web.Request, *, needs: int = 0) -> FakeChannel:
        """The channel, if the bot may see it (and has ``needs`` there); DMs are always visible."""
        channel = self._channel(request)
        if channel.is_dm:
            return channel
        permissions = self._state.bot_permissions(channel)
        if permissions & (_VIEW | needs) != _VIEW | needs:
            raise missing_access(f"bot may not see #{channel.name}")
        return channel

    def _message(self, request: web.Request, *, needs: int = 0) -> tuple[FakeChannel, StoredMessage]:
        channel = self._visible_channel(request, needs=needs)
        message = self._state.messages.get(_int(request.match_info["message_id"]))
        if message is None or message.deleted or message.channel_id != channel.id or message.ephemeral:
            raise unknown_message()
        return channel, message

    def _is_bots(self, message: StoredMessage) -> bool:
        return message.author.get("id") == str(self._state.config.bot.id)

    # -- identity --------------------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.Response:
        """``GET /users/@me``: the bot user (login)."""
        self._authorize(request)
        user = self._state.config.bot.user_payload()
        return json_response({**user, "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})

    async def application(self, request: web.Request) -> web.Response:
        """``GET /oauth2/applications/@me``: the application."""
        self._authorize(request)
        config = self._state.config
        owner = self._state.guilds[0].members[0] if self._state.guilds and self._state.guilds[0].members else config.bot
        return json_response(
            {
                "id": str(config.application_id),
                "name": config.bot.name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": owner.user_payload(),
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "bot": config.bot.user_payload(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "approximate_guild_count": len(self._state.guilds),
            }
        )

    async def gateway(self, request: web.Request) -> web.Response:
        """``GET /gateway[/bot]`` (discord.py only asks when sharding)."""
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": gateway_url(self._state.base_url), "shards": 1, "session_start_limit": limit})

    # -- commands --------------------------------------------------------------------------------

    async def get_commands(self, request: web.Request) -> web.Response:
        """The registered global or guild commands."""
        self._authorize(request)
        guild_id = _guild_scope(request)
        registry = self._state.global_commands if guild_id is None else self._state.guild_commands.get(guild_id, {})
        return json_response(list(registry.values()))

    async def put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite (``tree.sync()``): recorded in ``sync_calls``."""
        self._authorize(request)
        state, guild_id = self._state, _guild_scope(request)
        if guild_id is not None and state.guild(guild_id) is None:
            raise ApiError(404, 10004, "Unknown Guild")
        commands = parse_json(await request.read())
        if not isinstance(commands, list):
            raise invalid_form({"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Must be an array"}]})
        _check_commands(commands)
        version = str(state.snowflakes.next())
        stored: dict[str, Payload] = {}
        for command in commands:
            name = command["name"]
            stored[name] = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": str(state.command_id(guild_id, name)),
                "application_id": str(state.config.application_id),
                "version": version,
            }
            if guild_id is not None:
                stored[name]["guild_id"] = str(guild_id)
        if guild_id is None:
            state.global_commands = stored
        else:
            state.guild_commands[guild_id] = stored
        state.sync_calls.append(SyncCall(guild_id=guild_id, commands=commands))
        state.changed()
        return json_response(list(stored.values()))

    # -- channels and messages -------------------------------------------------------------------

    async def get_channel(self, request: web.Request) -> web.Response:
        """``GET /channels/{id}``."""
        channel = self._visible_channel(request)
        return json_response(channel.payload())

    async def history(self, request: web.Request) -> web.Response:
        """``GET /channels/{id}/messages``: newest first, ``limit`` honoured."""
        channel = self._visible_channel(request, needs=_HISTORY)
        limit = min(int(request.query.get("limit", "50")), 100)
        messages = [m for m in self._state.messages_in(channel.id) if not m.ephemeral]
        return json_response([m.payload() for m in reversed(messages)][:limit])

    async def create_message(self, request: web.Request) -> web.Response:
        """``POST /channels/{id}/messages`` with the bot token (never expires)."""
        channel = self._visible_channel(request)
        body = await read_body(request)
        permissions = self._state.bot_permissions(channel)
        if channel.is_dm and channel.recipient is not None and not channel.recipient.accepts_dms:
            raise cannot_message_user(f"{channel.recipient.name} does not accept direct messages")
        send = _SEND_IN_THREADS if channel.is_thread else _SEND
        if not channel.is_dm and not permissions & send:
            needed = "Send Messages in Threads" if channel.is_thread else "Send Messages"
            raise missing_permissions(f"bot lacks {needed} in #{channel.name}")
        if body.files and not channel.is_dm and not permissions & _ATTACH:
            raise missing_permissions(f"bot may not attach files in #{channel.name}")
        check_file_sizes(body, self._state.config.attachment_size_limit)
        flags = int(body.payload.get("flags") or 0)
        if flags & EPHEMERAL:  # only interaction responses can be ephemeral; Discord drops the bit
            body.payload["flags"] = flags & ~EPHEMERAL
        message = create_message(self._state, body, channel_id=channel.id, guild_id=channel.guild_id)
        return json_response(message.payload())

    async def get_message(self, request: web.Request) -> web.Response:
        """``GET /channels/{id}/messages/{id}`` (needs View Channel and Read Message History)."""
        _, message = self._message(request, needs=_HISTORY)
        return json_response(message.payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        """``PATCH /channels/{id}/messages/{id}``: the bot's own messages only."""
        _, message = self._message(request)
        if not self._is_bots(message):
            raise not_the_author()
        body = await read_body(request)
        check_file_sizes(body, self._state.config.attachment_size_limit)
        edit_message(self._state, message, body)
        return json_response(message.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        """``DELETE /channels/{id}/messages/{id}``: its own, or anyone's with Manage Messages."""
        channel, message = self._message(request)
        others = not self._is_bots(message) and not channel.is_dm
        if others and not self._state.bot_permissions(channel) & _MANAGE:
            raise missing_permissions(f"bot may not delete others' messages in #{channel.name}")
        delete_message(self._state, message)
        return web.Response(status=204)

    async def no_content(self, request: web.Request) -> web.Response:
        """Typing indicator, reactions: accepted, nothing stored."""
        self._visible_channel(request)
        return web.Response(status=204)

    async def open_dm(self, request: web.Request) -> web.Response:
        """``POST /users/@me/channels``: the DM channel with ``recipient_id``."""
        self._authorize(request)
        payload = parse_json(await request.read())
        user = self._state.user(_int(str(payload.get("recipient_id", ""))))
        if user is None:
            raise ApiError(400, 50007, "Cannot send messages to this user")
        return json_response(self._state.dm_channel(user).payload())

    # -- users and guilds ------------------------------------------------------------------------

    async def get_user(self, request: web.Request) -> web.Response:
        """``GET /users/{id}``."""
        self._authorize(request)
        user = self._state.user(_int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user.user_payload())

    async def get_guild(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}``."""
        self._authorize(request)
        guild = self._state.guild(_int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        payload = guild.payload(bot=self._state.config.bot)
        for key in (
            "members",
            "channels",
            "threads",
            "voice_states",
            "presences",
            "joined_at",
            "large",
            "member_count",
        ):
            payload.pop(key)
        return json_response(payload)

    async def guild_channels(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}/channels``."""
        self._authorize(request)
        guild = self._state.guild(_int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return json_response([c.payload(position=i) for i, c in enumerate(guild.channels)])

    async def get_member(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}/members/{user_id}``."""
        self._authorize(request)
        guild = self._state.guild(_int(request.match_info["guild_id"]))
        user_id = _int(request.match_info["user_id"])
        members = [] if guild is None else [self._state.config.bot, *guild.members]
        member = next((m for m in members if m.id == user_id), None)
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(member.member_payload())


def _check_commands(commands: list[Any]) -> None:
    errors: Payload = {}
    if len(commands) > _MAX_COMMANDS:
        errors["_errors"] = too_long(_MAX_COMMANDS)["_errors"]
    for i, command in enumerate(commands):
        problems: Payload = {}
        name = command.get("name") if isinstance(command, dict) else None
        chat_input = isinstance(command, dict) and command.get("type", 1) == 1
        # Slash command names are lowercase words; context-menu names may have capitals and spaces.
        if not isinstance(name, str) or not 1 <= len(name) <= 32 or (chat_input and name != name.lower()):
            problems["name"] = too_long(32)
        if chat_input:
            if not 1 <= len(command.get("description") or "") <= 100:
                problems["description"] = too_long(100)
            problems.update(_option_errors(command.get("options") or []))
        if problems:
            errors[str(i)] = problems
    if errors:
        raise invalid_form(errors, violation="invalid_commands")


def _option_errors(options: list[Payload]) -> Payload:
    errors: Payload = {}
    if len(options) > _MAX_OPTIONS:
        errors["options"] = too_long(_MAX_OPTIONS)
    for i, option in enumerate(options):
        if len(option.get("choices") or []) > MAX_CHOICES:
            errors.setdefault("options", {})[str(i)] = {"choices": too_long(MAX_CHOICES)}
        nested = _option_errors(option.get("options") or [])
        if nested:
            errors.setdefault("options", {}).setdefault(str(i), {}).update(nested)
    return errors


def _guild_scope(request: web.Request) -> int | None:
    return _int(request.match_info["guild_id"]) if "guild_id" in request.match_info else None
