"""What the gallery follows: which job a tool call started (by ticket), and each job's live changes.

A gallery learns a job id only when the call that started it returns, which for a long job is the end. So each
``generate_image`` / ``edit_image`` call of a client with the Apps extension binds its job to tickets the app can
know before that: ``request:<id>`` (the host's tools/call id, which it passes the app as ``toolInfo.id``; looked
up within the same MCP session: over HTTP its ``Mcp-Session-Id``, over stdio the one client) and the app's own
``_meta["seedream/ticket"]`` (random, so global). A wrong match (two stateless HTTP clients reusing an id) lasts
only until the call's result names its job.

For each followed job the board counts the job's events (``version``), remembers its queue position (only events
carry it) and wakes the ``job_status`` calls waiting for a version above the one they have.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context

from core.events import Event, Finished, Queued, Started
from mcp_server.progress import JobWatch

TICKET_META_KEY = "seedream/ticket"
REQUEST_PREFIX = "request:"
_KEEP = 512  # jobs and tickets remembered (a gallery may ask about a job again after it ends)


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
    """Tickets → job ids, and the live state of the jobs followed."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, str] = OrderedDict()  # binding key → job id
        self._bound: dict[str, asyncio.Event] = {}  # binding key → set when a call binds it
        self._live: OrderedDict[str, LiveJob] = OrderedDict()

    def follow(self, watch: JobWatch, job_id: str, *, tickets: tuple[str, ...] = (), scope: str = "") -> None:
        """Count the job's events until it finishes, and bind it to ``tickets``.

        Call it right after the job starts and before awaiting anything, so no event is missed.
        """
        live = self._live[job_id] = LiveJob()
        _trim(self._live)
        stack = ExitStack()

        async def on_event(event: Event) -> None:
            await live.on_event(event)
            if isinstance(event, Finished):
                stack.close()

        stack.enter_context(watch.listening(on_event))
        for ticket in tickets:
            key = _key(ticket, scope)
            self._jobs[key] = job_id
            event = self._bound.pop(key, None)
            if event is not None:
                event.set()
        _trim(self._jobs)

    def follow_call(self, ctx: Context, watch: JobWatch, job_id: str) -> None:
        """``follow`` the job a generate_image / edit_image call just started, if its client has MCP Apps."""
        if not client_supports_apps(ctx):
            return
        tickets = []
        if ctx.request_context.request_id is not None:
            tickets.append(f"{REQUEST_PREFIX}{ctx.request_context.request_id}")
        ticket = (ctx.request_context.meta or {}).get(TICKET_META_KEY)
        if isinstance(ticket, str) and ticket and not ticket.startswith(REQUEST_PREFIX):
            tickets.append(ticket)
        self.follow(watch, job_id, tickets=tuple(tickets), scope=session_scope(ctx))

    def live(self, job_id: str) -> LiveJob:
        """The job's live state; a fresh, unchanging one for a job the board does not follow."""
        return self._live.get(job_id) or LiveJob()

    def is_followed(self, job_id: str) -> bool:
        return job_id in self._live

    async def job_for(self, ticket: str, *, scope: str = "", timeout: float) -> str | None:
        """The job bound to ``ticket``, waiting up to ``timeout`` seconds for the call to start it."""
        key = _key(ticket, scope)
        if key not in self._jobs:
            event = self._bound.setdefault(key, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                if self._bound.get(key) is event:
                    del self._bound[key]
                return None
        return self._jobs.get(key)

    async def wait_for_change(self, job_id: str, *, after: int, timeout: float) -> None:
        """Return once the job's version is above ``after`` (at once if it is), or after ``timeout``."""
        live = self.live(job_id)
        if live.version > after or live.finished:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(live.changed.wait(), timeout)


def session_scope(ctx: Context) -> str:
    """Which MCP session a request belongs to, for request ids: the HTTP session, or "" (stdio: one client)."""
    return (ctx.headers or {}).get("mcp-session-id", "")


def _key(ticket: str, scope: str) -> str:
    return f"{scope} {ticket}" if ticket.startswith(REQUEST_PREFIX) else ticket


def _trim(entries: OrderedDict[str, object]) -> None:
    while len(entries) > _KEEP:
        entries.popitem(last=False)
