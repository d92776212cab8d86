"""The gateway websocket: HELLO, IDENTIFY / RESUME, heartbeats, READY + GUILD_CREATE, dispatches.

Frames go out as uncompressed JSON text, which discord.py accepts even though it asks for
``compress=zlib-stream`` (it only decompresses binary frames).

Sharding as on Discord: an IDENTIFY may carry ``shard: [shard_id, shard_count]`` (refused with close code 4010
"Invalid shard" when the id is not one of ``0..count-1``); that session then gets only the guilds, guild events
and interactions of guilds with ``(guild_id >> 22) % shard_count == shard_id``, and shard 0 also gets DMs. A
session without ``shard`` is shard ``[0, 1]``: everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from .state import FakeState

Payload = dict[str, Any]
_log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME = 0, 1, 2, 3, 4, 6
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11
CLOSE_UNKNOWN_OPCODE, CLOSE_AUTH_FAILED, CLOSE_ALREADY_AUTHENTICATED = 4001, 4004, 4005
CLOSE_INVALID_SHARD = 4010

Shard = tuple[int, int]  # (shard_id, shard_count)
UNSHARDED: Shard = (0, 1)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's rule); DMs (no guild) go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


@dataclass(eq=False)
class GatewayConnection:
    """One websocket the bot opened."""

    ws: web.WebSocketResponse
    session_id: str | None = None
    intents: int = 0
    shard: Shard = UNSHARDED
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def receives(self, guild_id: int | None) -> bool:
        """Whether events of this guild (``None``: a DM) are sent on this session."""
        shard_id, count = self.shard
        return shard_of(guild_id, count) == shard_id


class Gateway:
    """Serves the gateway; a dispatch goes to the most recently identified (or resumed) connection of the shard
    its guild belongs to.

    Attributes:
        received: every frame the bot sent (IDENTIFY/RESUME tokens masked), in order.
        identify_count / resume_count: how often the bot (re)authenticated.
        refused_shards: the ``shard`` values of IDENTIFYs closed with 4010, in order.
    """

    def __init__(self, state: FakeState) -> None:
        self._state = state
        self.received: list[Payload] = []
        self.identify_count = 0
        self.resume_count = 0
        self.refused_shards: list[Any] = []
        self._connections: set[GatewayConnection] = set()
        self._live: list[GatewayConnection] = []  # sessions receiving dispatches, the most recent last
        self._sequences: dict[str, int] = {}
        self._session_shards: dict[str, Shard] = {}

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/`` (also the ``resume_gateway_url``)."""
        return gateway_url(self._state.base_url)

    @property
    def connected(self) -> bool:
        """Whether a session is ready to receive dispatches."""
        return any(not c.ws.closed for c in self._live)

    @property
    def shards(self) -> list[Shard]:
        """The ``(shard_id, shard_count)`` of every session ready to receive dispatches (unsharded: ``(0, 1)``)."""
        return sorted({c.shard for c in self._live if not c.ws.closed})

    def route(self, guild_id: int | None) -> GatewayConnection | None:
        """The session that gets the events of this guild (``None``: a DM), if one is connected."""
        return next((c for c in reversed(self._live) if not c.ws.closed and c.receives(guild_id)), None)

    async def wait_connected(self, timeout: float, *, guild_id: int | None | Literal["any"] = "any") -> None:
        """Wait until a bot has identified (READY sent) — on the shard of ``guild_id`` when one is given
        (``None``: the shard that gets DMs).

        Raises:
            TimeoutError: if none did within ``timeout`` seconds.
        """
        if guild_id == "any":
            await self._state.signal.wait_until(lambda: self.connected, timeout)
        else:
            await self._state.signal.wait_until(lambda: self.route(guild_id) is not None, timeout)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The websocket endpoint (``GET /?v=10&encoding=json``)."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        connection = GatewayConnection(ws)
        self._connections.add(connection)
        try:
            interval = self._state.config.heartbeat_interval_ms
            await self._send(connection, {"op": HELLO, "d": {"heartbeat_interval": interval}, "s": None, "t": None})
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._on_frame(connection, json.loads(message.data))
        finally:
            self._connections.discard(connection)
            self._forget(connection)
            self._state.changed()
        return ws

    async def dispatch(self, event: str, data: Payload) -> Shard:
        """Send a DISPATCH (op 0) to the bot, on the shard of ``data["guild_id"]`` (shard 0 without one);
        returns that shard.

        Raises:
            RuntimeError: if no bot is connected on that shard.
        """
        raw = data.get("guild_id")
        guild_id = None if raw is None else int(raw)
        connection = self.route(guild_id)
        if connection is None or connection.session_id is None:
            where = "" if not self._live else f" for guild {guild_id} (connected shards: {self.shards})"
            raise RuntimeError(f"no discord.py client is connected to the fake gateway{where}")
        await self._send_dispatch(connection, event, data)
        return connection.shard

    async def drop(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        """Close a session as Discord does on trouble (4000 makes discord.py RESUME): the most recent one, or
        the most recent one of ``shard_id``."""
        found = [c for c in self._live if shard_id is None or c.shard[0] == shard_id]
        if found:
            connection = found[-1]
            self._forget(connection)
            await connection.ws.close(code=code)

    def _forget(self, connection: GatewayConnection) -> None:
        if connection in self._live:
            self._live.remove(connection)

    def _go_live(self, connection: GatewayConnection) -> None:
        self._forget(connection)
        self._live.append(connection)
        self._state.changed()

    async def close(self) -> None:
        """Close every connection (server shutdown)."""
        for connection in list(self._connections):
            await connection.ws.close(code=1001)

    async def _on_frame(self, connection: GatewayConnection, frame: Payload) -> None:
        op, data = frame.get("op"), frame.get("d")
        self.received.append(_masked(frame))
        if op == HEARTBEAT:
            await self._send(connection, {"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(connection, data or {})
        elif op == RESUME:
            await self._resume(connection, data or {})
        elif op == REQUEST_MEMBERS:
            await self._members_chunk(connection, data or {})
        elif op not in (PRESENCE, VOICE_STATE):
            _log.warning("fake gateway: unknown opcode %s", op)
            await connection.ws.close(code=CLOSE_UNKNOWN_OPCODE, message=b"Unknown opcode.")

    async def _identify(self, connection: GatewayConnection, data: Payload) -> None:
        state = self._state
        if data.get("token") != state.config.token:
            await connection.ws.close(code=CLOSE_AUTH_FAILED, message=b"Authentication failed.")
            return
        if connection.session_id is not None:
            await connection.ws.close(code=CLOSE_ALREADY_AUTHENTICATED, message=b"Already authenticated.")
            return
        shard = _shard(data.get("shard"))
        if shard is None:
            self.refused_shards.append(data.get("shard"))
            await connection.ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return
        self.identify_count += 1
        connection.session_id = secrets.token_hex(16)
        connection.intents = int(data.get("intents") or 0)
        connection.shard = shard
        self._sequences[connection.session_id] = 0
        self._session_shards[connection.session_id] = shard
        bot = state.config.bot
        guilds = [g for g in state.guilds if connection.receives(g.id)]
        ready: Payload = {
            "v": 10,
            "user": {**bot.user_payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": connection.session_id,
            "resume_gateway_url": self.url,
            "session_type": "normal",
            "application": {"id": str(state.config.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fake-discord"],
        }
        if "shard" in data:
            ready["shard"] = list(shard)
        await self._send_dispatch(connection, "READY", ready)
        for guild in guilds:
            await self._send_dispatch(connection, "GUILD_CREATE", guild.payload(bot=bot))
        self._go_live(connection)

    async def _resume(self, connection: GatewayConnection, data: Payload) -> None:
        session_id = data.get("session_id")
        if data.get("token") != self._state.config.token or session_id not in self._sequences:
            await self._send(connection, {"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        self.resume_count += 1
        connection.session_id = session_id
        connection.shard = self._session_shards[session_id]
        await self._send_dispatch(connection, "RESUMED", {"_trace": ["fake-discord"]})
        self._go_live(connection)

    async def _members_chunk(self, connection: GatewayConnection, data: Payload) -> None:
        guild_ids = data.get("guild_id")
        for raw_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            guild = None if raw_id is None else self._state.guild(int(raw_id))
            if guild is None or not connection.receives(guild.id):  # Discord ignores other shards' guilds
                continue
            members = [self._state.config.bot, *guild.members]
            chunk: Payload = {
                "guild_id": str(guild.id),
                "members": [m.member_payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            await self._send_dispatch(connection, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_dispatch(self, connection: GatewayConnection, event: str, data: Payload) -> None:
        assert connection.session_id is not None
        self._sequences[connection.session_id] += 1
        sequence = self._sequences[connection.session_id]
        await self._send(connection, {"op": DISPATCH, "t": event, "s": sequence, "d": data})

    async def _send(self, connection: GatewayConnection, frame: Payload) -> None:
        async with connection.lock:
            with contextlib.suppress(ConnectionResetError):
                await connection.ws.send_str(json.dumps(frame))


def gateway_url(base_url: str) -> str:
    """The websocket URL served next to the REST API at ``base_url``."""
    return base_url.replace("http://", "ws://", 1) + "/"


def _shard(value: Any) -> Shard | None:
    """The ``shard`` of an IDENTIFY (absent: unsharded), or ``None`` when Discord would refuse it."""
    if value is None:
        return UNSHARDED
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(type(v) is int for v in value):
        return None
    shard_id, count = value
    return (shard_id, count) if count >= 1 and 0 <= shard_id < count else None


def _masked(frame: Payload) -> Payload:
    data = frame.get("d")
    if isinstance(data, dict) and "token" in data:
        return {**frame, "d": {**data, "token": "***"}}
    return frame
