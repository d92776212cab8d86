"""``FakeDiscord``: the test-facing API of the fake (start/stop, user actions, inspection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

import yarl

from .clock import FakeClock
from .gateway import Gateway
from .inspection import FakeInspection
from .models import BOT_PERMISSIONS, FakeChannel, FakeGuild, FakeUser, Upload
from .payloads import (
    AUTOCOMPLETE,
    COMMAND,
    COMPONENT,
    MODAL_SUBMIT,
    command_data,
    component_data,
    envelope,
    message_command_data,
    modal_submit_data,
)
from .records import (
    DEFAULT_WAIT,
    InteractionRecord,
    StoredMessage,
)
from .rules import ACK_DEADLINE, DEFAULT_ATTACHMENT_SIZE_LIMIT, TOKEN_LIFETIME
from .server import API_PREFIX, FakeServer, Stall
from .state import FakeConfig, FakeState

Payload = dict[str, Any]


class FakeDiscord(FakeInspection):
    """A fake Discord (REST + gateway) on 127.0.0.1 that real discord.py connects to.

    Use as ``async with FakeDiscord(...) as fake:``, then point the client at :attr:`api_base` and
    :attr:`gateway_url` (the Seedream bot takes them as its ``api_base`` / ``gateway_url`` settings, in-process
    or as ``SEEDREAM_DISCORD_*`` variables for a subprocess). A plain discord.py client has no such option:
    :meth:`point_discord_py_here` moves every discord.py client in the process instead.

    Args:
        guilds: the world (default: one guild with ``#general`` and member ``alice``).
        attachment_size_limit: per-file upload limit in bytes, announced in every interaction.
        ack_deadline: seconds an interaction may wait for its acknowledgement.
        ack_clock: measure that deadline on the real monotonic clock or on :attr:`clock`.
        token_lifetime: fake-clock seconds an interaction token stays valid.
        clock: a shared :class:`FakeClock` (default: a fresh one frozen at the real time now).
        token: the bot token the fake accepts.
        bot: the bot's user (its id is also the application id, as on Discord).
        app_permissions: what the bot may do (per channel: ``FakeChannel.bot_permissions``).
        port: ``0`` picks a free port.
    """

    def __init__(
        self,
        *,
        guilds: Iterable[FakeGuild] | None = None,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
        ack_deadline: float = ACK_DEADLINE,
        ack_clock: Literal["real", "fake"] = "real",
        token_lifetime: float = TOKEN_LIFETIME,
        clock: FakeClock | None = None,
        token: str = "fake-bot-token",
        bot: FakeUser | None = None,
        app_permissions: int = BOT_PERMISSIONS,
        heartbeat_interval_ms: int = 41_250,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock or FakeClock()
        self.bot_user = bot or FakeUser("Seedream Studio", bot=True)
        config = FakeConfig(
            application_id=self.bot_user.id,
            bot=self.bot_user,
            token=token,
            attachment_size_limit=attachment_size_limit,
            ack_deadline=ack_deadline,
            ack_clock=ack_clock,
            token_lifetime=token_lifetime,
            app_permissions=app_permissions,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        self.guilds: list[FakeGuild] = list(guilds) if guilds is not None else [FakeGuild()]
        self._state = FakeState(config=config, guilds=self.guilds, clock=self.clock)
        self._server = FakeServer(self._state, host=host, port=port)
        self._timers: list[asyncio.TimerHandle] = []
        self._saved_discord_py: tuple[str, yarl.URL] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on the loopback port."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop serving, cancel deadline timers, and restore discord.py if it was pointed here."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for stall in self._state.stalls:
            stall.release()
        await self._server.stop()
        self.restore_discord_py()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (attachments are served under it too)."""
        return self._server.base_url

    @property
    def api_base(self) -> str:
        """The REST base: ``http://127.0.0.1:PORT/api/v10`` (what ``discord.http.Route.BASE`` is to Discord)."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """The gateway: ``ws://127.0.0.1:PORT/`` (also announced at ``GET /gateway/bot``)."""
        return self.base_url.replace("http://", "ws://", 1) + "/"

    def point_discord_py_here(self) -> Callable[[], None]:
        """Make every discord.py client in this process talk to the fake (by overwriting discord.py's
        class-level defaults); returns the undo. For clients that cannot be pointed one by one."""
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        if self._saved_discord_py is None:
            self._saved_discord_py = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        return self.restore_discord_py

    def restore_discord_py(self) -> None:
        """Undo :meth:`point_discord_py_here` (idempotent)."""
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        if self._saved_discord_py is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_discord_py
            self._saved_discord_py = None

    # -- the world -------------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The bot token the fake accepts."""
        return self._state.config.token

    @property
    def application_id(self) -> int:
        """The application id (= the bot user's id)."""
        return self._state.config.application_id

    @property
    def guild(self) -> FakeGuild:
        """The first guild."""
        return self.guilds[0]

    @property
    def channel(self) -> FakeChannel:
        """The first channel of the first guild."""
        return self.guild.channels[0]

    @property
    def user(self) -> FakeUser:
        """The first member of the first guild."""
        return self.guild.members[0]

    def dm_channel(self, user: FakeUser | None = None) -> FakeChannel:
        """The DM channel between the bot and ``user`` (default :attr:`user`)."""
        return self._state.dm_channel(user or self.user)

    @property
    def gateway(self) -> Gateway:
        """The gateway: ``received`` frames, ``drop()`` to force a RESUME, ``identify_count``."""
        assert self._server.gateway is not None, "the fake is not started"
        return self._server.gateway

    # -- user actions ----------------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser | None = None,
        channel: FakeChannel | None = None,
        guild: FakeGuild | None = None,
        dm: bool = False,
        attachments: Mapping[str, Upload] | None = None,
        locale: str | None = None,
        command_guild_id: int | None = None,
        validate: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> InteractionRecord:
        """A user runs ``/name`` (``"group sub"`` for subcommands) and the bot gets INTERACTION_CREATE.

        ``attachments`` maps attachment option names to :class:`Upload` (they may also be given
        in ``options``).  Waits up to ``timeout`` for a connected bot.

        Raises:
            ValueError: for input the Discord client would refuse (see :mod:`.payloads`).
            TimeoutError: if no bot connects in time.
        """
        user, channel = self._place(user=user, channel=channel, guild=guild, dm=dm)
        payload = envelope(self._state, type=COMMAND, user=user, channel=channel, locale=locale)
        payload["data"] = command_data(
            self._state,
            name=name,
            options={**(options or {}), **(attachments or {})},
            channel=channel,
            command_guild_id=command_guild_id,
            validate=validate,
        )
        return await self._dispatch(payload, user=user, timeout=timeout)

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        user: FakeUser | None = None,
        channel: FakeChannel | None = None,
        guild: FakeGuild | None = None,
        dm: bool = False,
        timeout: float = DEFAULT_WAIT,
    ) -> InteractionRecord:
        """A user types into option ``focused``; the bot's choices land in ``record.choices``."""
        user, channel = self._place(user=user, channel=channel, guild=guild, dm=dm)
        payload = envelope(self._state, type=AUTOCOMPLETE, user=user, channel=channel, locale=None)
        payload["data"] = command_data(
            self._state,
            name=name,
            options=options,
            channel=channel,
            command_guild_id=None,
            validate=True,
            focused=focused,
        )
        return await self._dispatch(payload, user=user, timeout=timeout)

    async def click(
        self,
        custom_id: str,
        *,
        message: StoredMessage | int,
        user: FakeUser | None = None,
        values: list[str] | None = None,
        timeout: float = DEFAULT_WAIT,
    ) -> InteractionRecord:
        """A user clicks a button (or picks ``values`` in a select) on a stored bot message.

        The default user is whoever triggered the message's interaction, else :attr:`user`.

        Raises:
            LookupError: the message has no such component.
            ValueError: deleted message, disabled component, someone else's ephemeral message.
        """
        stored = message if isinstance(message, StoredMessage) else self.message(message)
        if stored.deleted:
            raise ValueError(f"message {stored.id} was deleted")
        owner = self._state.interactions.get(stored.interaction_id or -1)
        user = user or (self._state.user(owner.user_id) if owner else None) or self.user
        if stored.ephemeral and owner is not None and owner.user_id != user.id:
            raise ValueError("only the invoking user can see (and click) an ephemeral message")
        channel = self._state.channel(stored.channel_id)
        assert channel is not None
        payload = envelope(self._state, type=COMPONENT, user=user, channel=channel, locale=None)
        payload["message"] = stored.payload()
        payload["data"] = component_data(stored, custom_id, values)
        return await self._dispatch(payload, user=user, timeout=timeout, source=stored)

    async def submit_modal(
        self,
        opened_by: InteractionRecord,
        values: Mapping[str, str | list[str]],
        *,
        user: FakeUser | None = None,
        validate: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> InteractionRecord:
        """The user fills in and submits the modal the bot answered ``opened_by`` with.

        Raises:
            ValueError: the bot sent no modal there, or the values break its inputs' rules.
        """
        if opened_by.modal is None:
            raise ValueError(f"the bot did not answer interaction {opened_by.id} with a modal")
        user = user or self._state.user(opened_by.user_id) or self.user
        channel = self._state.channel(opened_by.channel_id)
        assert channel is not None
        payload = envelope(self._state, type=MODAL_SUBMIT, user=user, channel=channel, locale=None)
        payload["data"] = modal_submit_data(opened_by.modal, values, validate=validate)
        source = opened_by.source_message
        if source is not None:
            payload["message"] = source.payload()
        return await self._dispatch(payload, user=user, timeout=timeout, source=source)

    async def message_command(
        self,
        name: str,
        message: StoredMessage | int,
        *,
        user: FakeUser | None = None,
        timeout: float = DEFAULT_WAIT,
    ) -> InteractionRecord:
        """A user runs the message context-menu command ``name`` (Apps → name) on ``message``.

        Raises:
            ValueError: no such message command is registered, or the message was deleted.
        """
        target = message if isinstance(message, StoredMessage) else self.message(message)
        if target.deleted:
            raise ValueError(f"message {target.id} was deleted")
        channel = self._state.channel(target.channel_id)
        assert channel is not None
        user = user or (channel.recipient if channel.is_dm else None) or self.user
        payload = envelope(self._state, type=COMMAND, user=user, channel=channel, locale=None)
        payload["data"] = message_command_data(self._state, name=name, target=target, channel=channel)
        return await self._dispatch(payload, user=user, timeout=timeout)

    def post_message(
        self,
        content: str = "",
        *,
        user: FakeUser | None = None,
        channel: FakeChannel | None = None,
        attachments: Iterable[Upload] = (),
    ) -> StoredMessage:
        """A user posts a message (with files) in a channel; the bot can fetch it and run commands on it."""
        return self._state.user_message(
            author=user or self.user, channel=channel or self.channel, content=content, uploads=list(attachments)
        )

    def stall(self, method: str, pattern: str, *, times: int = 1) -> Stall:
        """Hold the next ``times`` requests whose method is ``method`` and whose path matches the regular
        expression ``pattern`` until the returned :class:`Stall` is released; they are then judged as they
        arrive (an interaction token that expired meanwhile is refused)."""
        stall = Stall(method, pattern, times=times)
        self._state.stalls.append(stall)
        return stall

    async def dispatch(self, event: str, data: Payload) -> None:
        """Send any raw gateway event to the bot."""
        await self.gateway.dispatch(event, data)

    async def wait_until_connected(self, timeout: float = DEFAULT_WAIT) -> None:
        """Wait until a bot has identified on the gateway.

        Raises:
            TimeoutError: after ``timeout`` seconds.
        """
        await self.gateway.wait_connected(timeout)

    def _place(
        self, *, user: FakeUser | None, channel: FakeChannel | None, guild: FakeGuild | None, dm: bool
    ) -> tuple[FakeUser, FakeChannel]:
        if channel is not None and channel.guild_id is not None:
            guild = self._state.guild(channel.guild_id)
        guild = guild or self.guild
        user = user or (guild.members[0] if guild.members else self.user)
        if dm or (channel is not None and channel.is_dm):
            return user, channel or self._state.dm_channel(user)
        if user not in guild.members:
            raise ValueError(f"{user.name} is not a member of {guild.name}")
        return user, channel or guild.channels[0]

    async def _dispatch(
        self, payload: Payload, *, user: FakeUser, timeout: float, source: StoredMessage | None = None
    ) -> InteractionRecord:
        guild_id = payload.get("guild_id")
        # Delivered on the shard of its guild (DMs: shard 0), which must be connected first.
        await self.gateway.wait_connected(timeout, guild_id=None if guild_id is None else int(guild_id))
        record = InteractionRecord(
            payload=payload,
            user_id=user.id,
            created_at=self.clock.now(),
            dispatched_at=time.monotonic(),
            signal=self._state.signal,
            source_message=source,
        )
        self._state.interactions[record.id] = record
        if self._state.config.ack_clock == "real":
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(self._state.config.ack_deadline, self._deadline_passed, record))
        record.shard = await self.gateway.dispatch("INTERACTION_CREATE", payload)
        self._state.changed()
        return record

    def _deadline_passed(self, record: InteractionRecord) -> None:
        if not record.responses:
            record.deadline_missed = True
            self._state.record_violation(
                "missing_ack",
                f"no acknowledgement within {self._state.config.ack_deadline}s",
                interaction_id=record.id,
            )
