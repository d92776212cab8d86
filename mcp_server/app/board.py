"""What the gallery follows: which job a tool call started (by ticket), and each job's live changes.

A gallery learns a job id only when the call that started it returns, which for a long job is the end. So each
``generate_image`` / ``edit_image`` call of a client with the Apps extension binds its job to tickets the app can
know before that: ``request:<id>`` (the host's tools/call id, which it passes the app as ``toolInfo.id``; only
within the same client session) and the app's own ``_meta["seedream/ticket"]`` (random, so global).

For each bound job the board counts the job's events (``version``), remembers its queue position (only events
carry it) and wakes the ``job_status`` calls waiting for a version above the one they have.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from contextlib import ExitStack
from dataclasses import dataclass, field

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context

from core.events import Event, Finished, Queued, Started
from mcp_server.progress import JobWatch

TICKET_META_KEY = "seedream/ticket"
REQUEST_PREFIX = "request:"
_KEEP = 512  # finished jobs and tickets remembered (a gallery may ask about a job again after it ends)


@dataclass
class LiveJob:
    """One job's change counter, queue position and the signal for the next change."""

    version: int = 0
    queue_position: int | None = None
    finished: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_event(self, event: Event) -> None:
        if isinstance(event, Queued):
            self.queue_position = event.position
        elif isinstance(event, Started):
            self.queue_position = None
        self.finished = isinstance(event, Finished)
        self.version += 1
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class JobBoard:
    """Tickets → job ids, and the live state of the jobs they name."""

    def __init__(self) -> None:
        self._tickets: OrderedDict[str, str] = OrderedDict()
        self._requests: weakref.WeakKeyDictionary[object, OrderedDict[str, str]] = weakref.WeakKeyDictionary()
        self._bound: dict[str, asyncio.Event] = {}
        self._live: OrderedDict[str, LiveJob] = OrderedDict()

    def follow(self, watch: JobWatch, job_id: str, *, session: object, request_id: str | None,
               ticket: str | None) -> None:
        """Bind the job to its tickets and count its events until it finishes.

        Call it right after the job starts and before awaiting anything, so no event is missed.
        """
        live = self.live(job_id)
        stack = ExitStack()

        async def on_event(event: Event) -> None:
            await live.on_event(event)
            if isinstance(event, Finished):
                stack.close()

        stack.enter_context(watch.listening(on_event))
        if request_id is not None:
            requests = self._requests.setdefault(session, OrderedDict())
            requests[request_id] = job_id
            _trim(requests)
            self._signal(self._request_key(session, request_id))
        if ticket:
            self._tickets[ticket] = job_id
            _trim(self._tickets)
            self._signal(ticket)

    def follow_call(self, ctx: Context, watch: JobWatch, job_id: str) -> None:
        """``follow`` the job a generate_image / edit_image call just started, if its client has MCP Apps."""
        if not client_supports_apps(ctx):
            return
        ticket = (ctx.request_context.meta or {}).get(TICKET_META_KEY)
        request_id = ctx.request_context.request_id
        self.follow(watch, job_id, session=ctx.session, request_id=None if request_id is None else str(request_id),
                    ticket=ticket if isinstance(ticket, str) and ticket else None)

    def live(self, job_id: str) -> LiveJob:
        """The job's live state (created empty for a job the board has not followed)."""
        live = self._live.get(job_id)
        if live is None:
            live = self._live[job_id] = LiveJob()
            _trim(self._live)
        return live

    def is_followed(self, job_id: str) -> bool:
        return job_id in self._live

    async def job_for(self, ticket: str, *, session: object, timeout: float) -> str | None:
        """The job bound to ``ticket``, waiting up to ``timeout`` seconds for the call to start it."""
        found = self._lookup(ticket, session)
        if found is not None:
            return found
        key = self._request_key(session, ticket.removeprefix(REQUEST_PREFIX)) \
            if ticket.startswith(REQUEST_PREFIX) else ticket
        event = self._bound.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return None
        finally:
            if self._bound.get(key) is event and not event.is_set():
                del self._bound[key]
        return self._lookup(ticket, session)

    async def wait_for_change(self, job_id: str, *, after: int, timeout: float) -> None:
        """Return once the job's version is above ``after`` (at once if it is), or after ``timeout``."""
        live = self.live(job_id)
        if live.version > after or live.finished:
            return
        try:
            await asyncio.wait_for(live.changed.wait(), timeout)
        except TimeoutError:
            pass

    def _lookup(self, ticket: str, session: object) -> str | None:
        if ticket.startswith(REQUEST_PREFIX):
            return self._requests.get(session, {}).get(ticket.removeprefix(REQUEST_PREFIX))
        return self._tickets.get(ticket)

    def _signal(self, key: str) -> None:
        event = self._bound.pop(key, None)
        if event is not None:
            event.set()

    @staticmethod
    def _request_key(session: object, request_id: str) -> str:
        return f"{REQUEST_PREFIX}{id(session)}:{request_id}"


def _trim(entries: OrderedDict[str, object]) -> None:
    while len(entries) > _KEEP:
        entries.popitem(last=False)
