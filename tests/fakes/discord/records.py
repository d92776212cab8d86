"""What the fake remembers: messages, files, interactions, rule violations, requests.

Tests read these records to assert on what the bot did; nothing here talks to the network.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .clock import iso_timestamp

if TYPE_CHECKING:
    from PIL import Image

Payload = dict[str, Any]

EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15

DEFAULT_WAIT = 10.0
"""Safety-net timeout (seconds) for every ``wait``/``acknowledged`` helper."""


class ChangeSignal:
    """Wakes waiters whenever the fake's state changes, so tests never poll or sleep."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], object], timeout: float = DEFAULT_WAIT) -> None:
        """Return once ``predicate()`` is truthy, re-checking after each change.

        Raises:
            TimeoutError: if it is still false after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


@dataclass(eq=False)
class StoredAttachment:
    """A file held by the fake: uploaded by the bot, or attached by a test user to a command."""

    id: int
    filename: str
    content_type: str
    data: bytes
    channel_id: int
    url: str
    uploaded_by: Literal["bot", "user"]
    description: str | None = None
    message_id: int | None = None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def image(self) -> Image.Image:
        """The bytes opened with Pillow."""
        from PIL import Image

        return Image.open(io.BytesIO(self.data))

    def payload(self) -> Payload:
        """The ``attachment`` object."""
        payload: Payload = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            payload["description"] = self.description
        if self.width is not None:
            payload["width"] = self.width
            payload["height"] = self.height
        return payload


@dataclass(frozen=True)
class MessageVersion:
    """A message as it was before one of its edits."""

    content: str
    embeds: list[Payload]
    components: list[Payload]
    attachments: list[StoredAttachment]
    flags: int
    edited_at: float | None


@dataclass(eq=False)
class StoredMessage:
    """A message the bot created (channel message, interaction response or follow-up)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: Payload
    created_at: float
    type: int = 0
    content: str = ""
    embeds: list[Payload] = field(default_factory=list)
    components: list[Payload] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    edited_at: float | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None
    interaction_metadata: Payload | None = None
    deleted: bool = False
    history: list[MessageVersion] = field(default_factory=list)
    pinged: frozenset[int] = frozenset()
    """Users notified when the message was created (mentions allowed by ``allowed_mentions``; edits never
    notify anyone, as on Discord)."""

    @property
    def ephemeral(self) -> bool:
        """Only the invoking user sees it."""
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the "Bot is thinking..." placeholder of a deferral."""
        return bool(self.flags & LOADING)

    @property
    def from_bot(self) -> bool:
        """Posted by the bot (not by a test user with :meth:`~.fake.FakeDiscord.post_message`)."""
        return bool(self.author.get("bot"))

    @property
    def files(self) -> list[StoredAttachment]:
        """Alias of :attr:`attachments`."""
        return self.attachments

    def remember_version(self) -> None:
        """Push the current state onto :attr:`history` (called before each edit)."""
        self.history.append(
            MessageVersion(
                content=self.content,
                embeds=list(self.embeds),
                components=list(self.components),
                attachments=list(self.attachments),
                flags=self.flags,
                edited_at=self.edited_at,
            )
        )

    def walk_components(self) -> Iterator[Payload]:
        """Every component, nested ones included (rows, containers, sections)."""
        yield from walk_components(self.components)

    def component(self, custom_id: str) -> Payload | None:
        """The interactive component with this ``custom_id``, if any."""
        return next((c for c in self.walk_components() if c.get("custom_id") == custom_id), None)

    def custom_ids(self) -> list[str]:
        """All ``custom_id`` values of the message's components, in order."""
        return [c["custom_id"] for c in self.walk_components() if "custom_id" in c]

    def payload(self) -> Payload:
        """The ``message`` object as Discord returns it."""
        payload: Payload = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author,
            "content": self.content,
            "timestamp": iso_timestamp(self.created_at),
            "edited_timestamp": None if self.edited_at is None else iso_timestamp(self.edited_at),
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": [self._rendered_embed(e) for e in self.embeds],
            "components": self.components,
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
            payload["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            payload["interaction_metadata"] = self.interaction_metadata
        return payload

    def _rendered_embed(self, embed: Payload) -> Payload:
        # Discord swaps ``attachment://name`` for the attachment's CDN URL in what it returns.
        by_name = {a.filename: a for a in self.attachments}
        rendered = {"type": "rich", **embed}
        for key in ("image", "thumbnail"):
            media = embed.get(key)
            url = media.get("url", "") if isinstance(media, dict) else ""
            if url.startswith("attachment://") and url.removeprefix("attachment://") in by_name:
                attachment = by_name[url.removeprefix("attachment://")]
                rendered[key] = {
                    "url": attachment.url,
                    "proxy_url": attachment.url,
                    "width": attachment.width,
                    "height": attachment.height,
                }
        return rendered


def walk_components(components: list[Payload]) -> Iterator[Payload]:
    """Depth-first walk over a component tree (v1 action rows and v2 layouts)."""
    for component in components:
        yield component
        yield from walk_components(component.get("components", []))
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from walk_components([child])


@dataclass(frozen=True)
class Violation:
    """A platform rule the bot broke (the fake answered with the error Discord would)."""

    kind: str
    detail: str
    path: str = ""
    interaction_id: int | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the bot made to the fake."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class SyncCall:
    """One bulk overwrite of application commands (``guild_id`` ``None`` = global)."""

    guild_id: int | None
    commands: list[Payload]


@dataclass(frozen=True)
class CallbackRecord:
    """One ``POST /interactions/{id}/{token}/callback`` attempt.

    ``delay`` is real (monotonic) seconds since the interaction was dispatched; ``fake_delay``
    the same on the fake clock.  ``accepted`` is false when the fake rejected it (late, twice, ...).
    """

    type: int
    data: Payload | None
    status: int
    accepted: bool
    delay: float
    fake_delay: float
    files: list[StoredAttachment] = field(default_factory=list)


class InteractionRecord:
    """One interaction the fake dispatched, and everything the bot did with it.

    Attributes:
        id, token, type: as dispatched (``type`` 2 command, 3 component, 4 autocomplete, 5 modal).
        payload: the exact ``INTERACTION_CREATE`` data sent to the bot.
        responses: every callback attempt, accepted or not.
        original: the current original response message (``None`` before one exists).
        followups: follow-up messages, in order.
        modal: the modal (``{custom_id, title, components}``) if the bot answered with one.
        choices: the autocomplete choices if the bot answered an autocomplete.
        deadline_missed: set when the (real-clock) ack deadline passed with no callback at all.
        shard: the ``(shard_id, shard_count)`` of the session it was delivered on (``(0, 1)`` unsharded).
    """

    def __init__(
        self,
        *,
        payload: Payload,
        user_id: int,
        created_at: float,
        dispatched_at: float,
        signal: ChangeSignal,
        source_message: StoredMessage | None = None,
    ) -> None:
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.user_id = user_id
        self.channel_id = int(payload["channel"]["id"])
        self.guild_id: int | None = int(payload["guild_id"]) if "guild_id" in payload else None
        self.created_at = created_at
        self.dispatched_at = dispatched_at
        self.source_message = source_message
        self.responses: list[CallbackRecord] = []
        self.original: StoredMessage | None = None
        self.followups: list[StoredMessage] = []
        self.modal: Payload | None = None
        self.choices: list[Payload] | None = None
        self.deadline_missed = False
        self.shard: tuple[int, int] | None = None
        self._signal = signal

    def __repr__(self) -> str:
        return f"<InteractionRecord id={self.id} type={self.type} responses={len(self.responses)}>"

    @property
    def ack(self) -> CallbackRecord | None:
        """The accepted acknowledgement, if any."""
        return next((r for r in self.responses if r.accepted), None)

    @property
    def ack_delay(self) -> float | None:
        """Real seconds from dispatch to the accepted acknowledgement."""
        return None if self.ack is None else self.ack.delay

    @property
    def ack_delay_fake(self) -> float | None:
        """Fake-clock seconds from dispatch to the accepted acknowledgement."""
        return None if self.ack is None else self.ack.fake_delay

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is ephemeral (``flags & 64``)."""
        if self.original is not None and self.original.interaction_id == self.id:
            return self.original.ephemeral
        data = self.ack.data if self.ack else None
        return bool(data and int(data.get("flags") or 0) & EPHEMERAL)

    @property
    def data(self) -> Payload:
        """The ``data`` object of the dispatched interaction."""
        data: Payload = self.payload.get("data") or {}
        return data

    def all_messages(self) -> list[StoredMessage]:
        """The original response (if any) then each distinct follow-up."""
        messages: list[StoredMessage] = [] if self.original is None else [self.original]
        messages.extend(m for m in self.followups if m is not self.original)
        return messages

    def files(self) -> list[StoredAttachment]:
        """Every attachment currently on this interaction's messages."""
        return [a for m in self.all_messages() if not m.deleted for a in m.attachments]

    async def acknowledged(self, timeout: float = DEFAULT_WAIT) -> CallbackRecord:
        """Wait for the first callback attempt and return it (check ``.accepted``).

        Raises:
            TimeoutError: if the bot did not answer before the fake's ack deadline passed (real
                clock) or within ``timeout`` seconds.
        """
        await self._signal.wait_until(lambda: self.responses or self.deadline_missed, timeout)
        if not self.responses:
            raise TimeoutError(f"interaction {self.id} was not acknowledged before its deadline")
        return self.responses[0]

    async def wait_for(self, predicate: Callable[[InteractionRecord], object], timeout: float = DEFAULT_WAIT) -> None:
        """Wait until ``predicate(self)`` holds.

        Raises:
            TimeoutError: after ``timeout`` seconds.
        """
        await self._signal.wait_until(lambda: predicate(self), timeout)

    async def wait_for_followups(self, count: int = 1, timeout: float = DEFAULT_WAIT) -> list[StoredMessage]:
        """Wait until at least ``count`` follow-ups exist; return them.

        Raises:
            TimeoutError: after ``timeout`` seconds.
        """
        await self.wait_for(lambda r: len(r.followups) >= count, timeout)
        return self.followups

    async def wait_for_original(self, timeout: float = DEFAULT_WAIT) -> StoredMessage:
        """Wait until the original response exists and is no longer a loading placeholder.

        Raises:
            TimeoutError: after ``timeout`` seconds.
        """
        await self.wait_for(lambda r: r.original is not None and not r.original.loading, timeout)
        assert self.original is not None
        return self.original
