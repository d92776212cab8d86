"""The server side of the gallery: the ``ui://seedream/gallery`` resource, the app-only tools it calls, and the
middleware that shows all of it only to clients that negotiated MCP Apps.

Clients with the extension see ``generate_image`` / ``edit_image`` bound to the gallery (``_meta.ui``) and the
app-only tools (``visibility: ["app"]``: the host keeps them from the model). Every other client gets exactly
the tools, listings and results it got before the gallery existed (the graceful degradation of SEP-2133).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from mcp.server.apps import Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from core.errors import JobNotFoundError, SeedreamError
from core.jobs import JobRecord
from mcp_server import identity
from mcp_server.app import GALLERY_URI, gallery_html
from mcp_server.app.board import session_scope
from mcp_server.app.views import JobView, job_view
from mcp_server.content import error_result
from mcp_server.follow import request_cancel
from mcp_server.state import AppState

log = logging.getLogger(__name__)

#: The model-facing tools the gallery renders.
BOUND_TOOLS = frozenset({"generate_image", "edit_image"})
#: job_status waits this long for a change before answering (well under the hosts' ~60 s tool timeout).
STATUS_WAIT_SECONDS = 25.0
#: ...and this long for the call a ticket names to start its job.
TICKET_WAIT_SECONDS = 10.0
#: cancel_job answers once the job has stopped, or after this long.
CANCEL_WAIT_SECONDS = 10.0

APP_READS = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
APP_CANCELS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                              open_world_hint=False)


async def job_status(
    ctx: Context,
    job_id: Annotated[str | None, Field(description="The job; or ticket.")] = None,
    ticket: Annotated[str | None, Field(description="request:<tools/call id> or the app's own ticket.")] = None,
    version: Annotated[int, Field(description="Wait for a version above this one (-1: answer now).")] = -1,
) -> CallToolResult:
    """A job's live state for the gallery: status, queue position, images as resource URIs."""
    state = AppState.of(ctx)
    if job_id is None:
        if not ticket:
            return error_result("job_status needs a job_id or a ticket.", kind="invalid_request")
        job_id = await state.board.job_for(ticket, scope=session_scope(ctx), timeout=TICKET_WAIT_SECONDS)
        if job_id is None:
            return CallToolResult(content=[TextContent(text=f"No job has started for ticket {ticket!r}.")],
                                  structured_content={"job_id": None})
    try:
        record = await _own_job(state, job_id)
        if version >= 0 and not record.status.finished:
            _follow_running(state, job_id, ctx)
            await state.board.wait_for_change(job_id, after=version, timeout=STATUS_WAIT_SECONDS)
            record = await state.service.get_job(job_id)
    except SeedreamError as exc:
        return error_result(exc.message, kind=exc.kind)
    view = job_view(record, state.board.live(job_id))
    return CallToolResult(content=[TextContent(text=_summary(view))], structured_content=view.model_dump(mode="json"))


async def cancel_job(
    ctx: Context, job_id: Annotated[str, Field(description="The running job to stop.")]
) -> CallToolResult:
    """Stop a running job (on any replica); the images it saved are kept. Answers once it has stopped."""
    state = AppState.of(ctx)
    try:
        record = await _own_job(state, job_id)
    except SeedreamError as exc:
        return error_result(exc.message, kind=exc.kind)
    if not record.status.finished:
        record = await _stop(state, record)
    view = job_view(record, state.board.live(job_id))
    return CallToolResult(content=[TextContent(text=_summary(view))], structured_content=view.model_dump(mode="json"))


async def _stop(state: AppState, record: JobRecord) -> JobRecord:
    """Cancel a job here, or ask the replica running it; the job as it is once stopped (or after the wait)."""
    if not state.service.cancel(record.id):
        return await request_cancel(state, record, user=identity.current_user(), wait_seconds=CANCEL_WAIT_SECONDS)
    watch = state.watches.get(record.id)
    if watch is not None and watch.handle is not None:
        await asyncio.wait({watch.handle.task}, timeout=CANCEL_WAIT_SECONDS)
    return await state.service.get_job(record.id)


APP_TOOLS: tuple[tuple[Any, ToolAnnotations], ...] = ((job_status, APP_READS), (cancel_job, APP_CANCELS))


def gallery_apps() -> Apps:
    """The Apps extension: the gallery resource and the app-only tools (pass to ``MCPServer(extensions=…)``)."""
    apps = Apps()
    for fn, hints in APP_TOOLS:
        description = " ".join((fn.__doc__ or "").split())
        apps.tool(resource_uri=GALLERY_URI, visibility=["app"], description=description, annotations=hints)(fn)
    apps.add_html_resource(
        GALLERY_URI,
        gallery_html(),
        name="Seedream gallery",
        description="The images of a generate_image / edit_image call, live, with actions.",
        csp=ResourceCsp(),  # no external origin at all: the gallery reaches the server only through the host
        prefers_border=True,
    )
    return apps


class AppsOnlyForAppsClients:
    """Server middleware: the UI binding and the app-only tools for clients with MCP Apps, nothing for others."""

    def __init__(self, app_tools: frozenset[str]) -> None:
        self.app_tools = app_tools

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in ("tools/list", "tools/call", "resources/list"):
            return await call_next(ctx)
        apps = client_supports_apps(ctx)
        if not apps and ctx.method == "tools/call":
            name = (ctx.params or {}).get("name")
            if name in self.app_tools:  # as if it did not exist, which for this client it does not
                return error_result(f"Unknown tool: {name}", kind="invalid_request")
        result = await call_next(ctx)
        if not isinstance(result, dict):  # what handlers return arrives here in its wire form
            return result
        if ctx.method == "tools/list":
            return {**result, "tools": self._tools(result.get("tools", []), apps=apps)}
        if ctx.method == "resources/list" and not apps:
            return {**result, "resources": [r for r in result.get("resources", [])
                                            if not str(r.get("uri", "")).startswith("ui://")]}
        return result

    def _tools(self, tools: list[dict[str, Any]], *, apps: bool) -> list[dict[str, Any]]:
        if not apps:
            return [tool for tool in tools if tool.get("name") not in self.app_tools]
        return [
            tool | {"_meta": {**tool.get("_meta", {}), "ui": {"resourceUri": GALLERY_URI}}}
            if tool.get("name") in BOUND_TOOLS else tool
            for tool in tools
        ]


def app_tool_names() -> frozenset[str]:
    return frozenset(fn.__name__ for fn, _ in APP_TOOLS)


async def _own_job(state: AppState, job_id: str) -> JobRecord:
    record = await state.service.get_job(job_id)
    if not identity.may_see(record):  # another adapter's or another person's job
        raise JobNotFoundError(f"No job {job_id!r} of this server.")
    return record


def _follow_running(state: AppState, job_id: str, ctx: Context) -> None:
    """A job this process runs but no gallery call started (e.g. its id came from get_job): follow it now."""
    watch = state.watches.get(job_id)
    if watch is not None and not state.board.is_followed(job_id):
        state.board.follow(watch, job_id)


def _summary(view: JobView) -> str:
    saved = f"{len(view.images)} of {view.expected} image(s) saved"
    queue = f", position {view.queue_position} in the queue" if view.queue_position else ""
    return f"Job {view.job_id}: {view.status}, {saved}{queue}."
