"""Read-only views over what the bot did, mixed into :class:`~.fake.FakeDiscord`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .models import FakeChannel, FakeGuild
from .records import (
    DEFAULT_WAIT,
    InteractionRecord,
    RequestRecord,
    StoredAttachment,
    StoredMessage,
    SyncCall,
    Violation,
)
from .state import FakeState

Payload = dict[str, Any]


class FakeInspection:
    """Records of the fake: violations, requests, commands, messages, files, interactions."""

    _state: FakeState

    @property
    def violations(self) -> list[Violation]:
        """Every platform rule the bot broke, in order."""
        return self._state.violations

    @property
    def unknown_requests(self) -> list[RequestRecord]:
        """Requests to routes the fake does not implement (answered 404)."""
        return self._state.unknown_requests

    @property
    def requests(self) -> list[RequestRecord]:
        """Every HTTP request the bot made."""
        return self._state.requests

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs in the fake itself."""
        return self._state.internal_errors

    @property
    def sync_calls(self) -> list[SyncCall]:
        """Every bulk command overwrite (``tree.sync()``)."""
        return self._state.sync_calls

    @property
    def interactions(self) -> list[InteractionRecord]:
        """Every interaction dispatched, in order."""
        return list(self._state.interactions.values())

    def commands(self, guild: FakeGuild | None = None) -> list[Payload]:
        """The registered global commands (or those of ``guild``)."""
        registry = self._state.global_commands if guild is None else self._state.guild_commands.get(guild.id, {})
        return list(registry.values())

    def messages(
        self, channel: FakeChannel | int | None = None, *, include_deleted: bool = False
    ) -> list[StoredMessage]:
        """Stored messages (all, or of one channel), oldest first: the bot's (ephemeral ones included) and
        those test users posted (``StoredMessage.from_bot`` tells them apart)."""
        if channel is None:
            found = sorted(self._state.messages.values(), key=lambda m: m.id)
            return [m for m in found if include_deleted or not m.deleted]
        channel_id = channel if isinstance(channel, int) else channel.id
        return self._state.messages_in(channel_id, include_deleted=include_deleted)

    def transcript(self, *channels: FakeChannel) -> str:
        """The session as a person reads it: user actions and bot messages (final state), oldest first."""
        from .transcript import render_transcript

        return render_transcript(self._state, channel_ids=[c.id for c in channels] if channels else None)

    def message(self, message_id: int) -> StoredMessage:
        """A stored message by id.

        Raises:
            KeyError: if the bot never created it.
        """
        return self._state.messages[message_id]

    def files(self) -> list[StoredAttachment]:
        """Every file the bot uploaded (bytes kept), in upload order."""
        return sorted((a for a in self._state.attachments.values() if a.uploaded_by == "bot"), key=lambda a: a.id)

    async def wait_until(self, predicate: Callable[[], object], timeout: float = DEFAULT_WAIT) -> None:
        """Wait until ``predicate()`` holds; re-checked after every change the fake sees.

        Raises:
            TimeoutError: after ``timeout`` seconds.
        """
        await self._state.signal.wait_until(predicate, timeout)

    def assert_clean(self, *, allow: Iterable[str] = ()) -> None:
        """Assert no violations (except kinds in ``allow``), no unknown routes, no fake bugs.

        Raises:
            AssertionError: listing what went wrong.
        """
        allowed = set(allow)
        problems = [f"violation {v.kind}: {v.detail} ({v.path})" for v in self.violations if v.kind not in allowed]
        problems += [f"unknown route {r.method} {r.path}" for r in self.unknown_requests]
        problems += [f"fake internal error:\n{e}" for e in self.internal_errors]
        if problems:
            raise AssertionError("fake Discord saw problems:\n" + "\n".join(problems))
