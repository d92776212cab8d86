"""The gateway websocket: HELLO, IDENTIFY / RESUME, heartbeats, READY + GUILD_CREATE, dispatches.

Frames go out as uncompressed JSON text, which discord.py accepts even though it asks for
``compress=zlib-stream`` (it only decompresses binary frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .state import FakeState

Payload = dict[str, Any]
_log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME = 0, 1, 2, 3, 4, 6
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11
CLOSE_UNKNOWN_OPCODE, CLOSE_AUTH_FAILED, CLOSE_ALREADY_AUTHENTICATED = 4001, 4004, 4005


@dataclass(eq=False)
class GatewayConnection:
    """One websocket the bot opened."""

    ws: web.WebSocketResponse
    session_id: str | None = None
    intents: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Gateway:
    """Serves the gateway; dispatches go to the most recently identified (or resumed) connection.

    Attributes:
        received: every frame the bot sent (IDENTIFY/RESUME tokens masked), in order.
        identify_count / resume_count: how often the bot (re)authenticated.
    """

    def __init__(self, state: FakeState) -> None:
        self._state = state
        self.received: list[Payload] = []
        self.identify_count = 0
        self.resume_count = 0
        self._connections: set[GatewayConnection] = set()
        self._active: GatewayConnection | None = None
        self._sequences: dict[str, int] = {}

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/`` (also the ``resume_gateway_url``)."""
        return gateway_url(self._state.base_url)

    @property
    def connected(self) -> bool:
        """Whether a session is ready to receive dispatches."""
        return self._active is not None and not self._active.ws.closed

    async def wait_connected(self, timeout: float) -> None:
        """Wait until a bot has identified (READY sent).

        Raises:
            TimeoutError: if none did within ``timeout`` seconds.
        """
        await self._state.signal.wait_until(lambda: self.connected, timeout)

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
            if self._active is connection:
                self._active = None
            self._state.changed()
        return ws

    async def dispatch(self, event: str, data: Payload) -> None:
        """Send a DISPATCH (op 0) to the bot.

        Raises:
            RuntimeError: if no bot is connected.
        """
        connection = self._active
        if connection is None or connection.ws.closed or connection.session_id is None:
            raise RuntimeError("no discord.py client is connected to the fake gateway")
        await self._send_dispatch(connection, event, data)

    async def drop(self, code: int = 4000) -> None:
        """Close the bot's connection as Discord does on trouble (4000 makes discord.py RESUME)."""
        if self._active is not None:
            connection, self._active = self._active, None
            await connection.ws.close(code=code)

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
        self.identify_count += 1
        connection.session_id = secrets.token_hex(16)
        connection.intents = int(data.get("intents") or 0)
        self._sequences[connection.session_id] = 0
        bot = state.config.bot
        ready: Payload = {
            "v": 10,
            "user": {**bot.user_payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in state.guilds],
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
        await self._send_dispatch(connection, "READY", ready)
        for guild in state.guilds:
            await self._send_dispatch(connection, "GUILD_CREATE", guild.payload(bot=bot))
        self._active = connection
        state.changed()

    async def _resume(self, connection: GatewayConnection, data: Payload) -> None:
        session_id = data.get("session_id")
        if data.get("token") != self._state.config.token or session_id not in self._sequences:
            await self._send(connection, {"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        self.resume_count += 1
        connection.session_id = session_id
        await self._send_dispatch(connection, "RESUMED", {"_trace": ["fake-discord"]})
        self._active = connection
        self._state.changed()

    async def _members_chunk(self, connection: GatewayConnection, data: Payload) -> None:
        guild_ids = data.get("guild_id")
        for raw_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            guild = None if raw_id is None else self._state.guild(int(raw_id))
            if guild is None:
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


def _masked(frame: Payload) -> Payload:
    data = frame.get("d")
    if isinstance(data, dict) and "token" in data:
        return {**frame, "d": {**data, "token": "***"}}
    return frame
