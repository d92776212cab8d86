"""The MCP Tasks extension (``io.modelcontextprotocol/tasks``, SEP-2663) over the job store.

A ``tools/call`` of ``generate_image`` / ``edit_image`` whose client declares the extension (in the request's
capabilities, on the 2026-07-28 revision) starts the job and answers at once with ``resultType: "task"``; the
task id is the job id. ``tasks/get`` reads the job (so a task lasts as long as its job: a finished one is
still there after a restart): ``working`` with what the job is doing, then ``completed`` with the same
``CallToolResult`` the call would have returned (previews included), or ``cancelled``. ``tasks/cancel`` stops
the job; the images it saved are kept. Clients that do not declare the extension get the plain tool results.
Every replica sharing the job store answers for every task: a job another replica runs is read from the store,
and cancelled through a request recorded in it (``mcp_server.follow``).

On the 2025-11-25 revision (and older) a ``tools/call`` cannot carry the task shape (the SDK admits it only on
the modern wire), so those clients keep the plain results; ``tasks/get`` and ``tasks/cancel`` still answer
there for a client that declared the extension at ``initialize``, with a job id from such a result.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolRequestParams, CallToolResult, RequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from core.errors import FailureKind, JobNotFoundError
from core.events import Queued
from core.jobs import JobRecord
from core.results import JobStatus
from mcp_server import identity
from mcp_server.follow import planned_images, request_cancel
from mcp_server.progress import ANSWER_WITH_TASK, describe
from mcp_server.state import AppState, Opening

EXTENSION_ID = "io.modelcontextprotocol/tasks"
TASK_TOOLS = frozenset({"generate_image", "edit_image"})
CANCEL_WAIT_SECONDS = 10.0  # tasks/cancel answers once the job has stopped (or after this long)


class TaskParams(RequestParams):
    task_id: str


class UpdateTaskParams(TaskParams):
    input_responses: dict[str, Any] | None = None


class TasksExtension(Extension):
    """Serves ``tasks/get``, ``tasks/update`` and ``tasks/cancel`` and answers generation calls with tasks."""

    identifier = EXTENSION_ID

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding(method="tasks/get", params_type=TaskParams, handler=self._get),
            MethodBinding(method="tasks/update", params_type=UpdateTaskParams, handler=self._update),
            MethodBinding(method="tasks/cancel", params_type=TaskParams, handler=self._cancel),
        ]

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if params.name not in TASK_TOOLS or not declares_tasks(ctx):
            return await call_next(ctx)
        token = ANSWER_WITH_TASK.set(True)
        try:
            result = await call_next(ctx)
        finally:
            ANSWER_WITH_TASK.reset(token)
        structured = result.structured_content if isinstance(result, CallToolResult) else None
        if not structured or not structured.get("pending") or getattr(result, "is_error", False):
            return result  # refused before any job, or already done: the plain result says it all
        state = await _state(ctx)
        return {"resultType": "task", **await task_status(state, await _job(state, structured["job_id"]))}

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        require_client_extension(ctx, EXTENSION_ID)
        state = await _state(ctx)
        return await task_status(state, await _job(state, params.task_id))

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> HandlerResult:
        """Acknowledged and ignored: these tasks never ask for input."""
        require_client_extension(ctx, EXTENSION_ID)
        await _job(await _state(ctx), params.task_id)
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        require_client_extension(ctx, EXTENSION_ID)
        state = await _state(ctx)
        record = await _job(state, params.task_id)
        if record.status.finished:
            return {}
        if state.service.cancel(record.id):
            watch = state.watches.get(record.id)
            if watch is not None and watch.handle is not None:
                await asyncio.wait({watch.handle.task}, timeout=CANCEL_WAIT_SECONDS)
        else:  # another replica runs it: it stops the job when it sees the request (mcp_server.follow)
            await request_cancel(state, record, user=identity.current_user(), wait_seconds=CANCEL_WAIT_SECONDS)
        return {}


def declares_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request may be answered with a task: a modern wire and the extension declared."""
    capabilities = ctx.session.client_capabilities
    declared = capabilities.extensions if capabilities else None
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS and bool(declared) and EXTENSION_ID in declared


async def task_status(state: AppState, record: JobRecord) -> dict[str, Any]:
    """The task of a job, as ``tasks/get`` returns it (``DetailedTask``)."""
    watch = state.watches.get(record.id)
    updated = record.finished_at or (watch.updated_at if watch else None) or record.started_at
    task: dict[str, Any] = {
        "taskId": record.id,
        "createdAt": _iso(record.created_at),
        "lastUpdatedAt": _iso(updated or record.created_at),
        "ttlMs": None,  # a task lasts as long as its job in the job store
        "pollIntervalMs": round(state.settings.task_poll_seconds * 1000),
    }
    saved = len(record.images)
    if not record.status.finished:  # this replica's own job has its events; another's, only the store
        event = watch.last_event if watch else None
        if isinstance(event, Queued):
            message = describe(event, saved)
        elif watch is None and record.status is JobStatus.QUEUED:
            message = "Waiting for a free slot at the provider"
        else:
            total = watch.images if watch else planned_images(record)
            message = f"Generating: {saved} of {total} image(s) saved" + (
                f", {len(record.failures)} failed" if record.failures else "")
        return task | {"status": "working", "statusMessage": message}
    if record.status is JobStatus.INTERRUPTED and record.error_kind == FailureKind.CANCELLED:
        kept = f"the {saved} image(s) saved before that are kept" if saved else "nothing had been saved"
        return task | {"status": "cancelled",
                       "statusMessage": f"Cancelled; {kept} (get_job with job_id \"{record.id}\" lists them)."}
    result = await state.shaper.job(record.to_generation(), pending=False, remember=False)
    return task | {
        "status": "completed",
        "statusMessage": f"{record.status}, {saved} image(s) saved",
        "result": result.model_dump(by_alias=True, mode="json", exclude_none=True),
    }


async def _job(state: AppState, task_id: str) -> JobRecord:
    try:
        record = await state.service.get_job(task_id)
    except JobNotFoundError:
        record = None
    if record is None or not identity.may_see(record):  # another adapter's or another person's job
        raise MCPError(code=INVALID_PARAMS, message="Failed to retrieve task: Task not found")
    return record


async def _state(ctx: ServerRequestContext[Any, Any]) -> AppState:
    state = ctx.lifespan_context
    if isinstance(state, Opening):
        state = await state.ready()
    if not isinstance(state, AppState):  # the service could not be opened: a tool call says why
        raise MCPError(code=INTERNAL_ERROR, message="This server cannot reach its jobs now; call a tool to see why.")
    return state


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
