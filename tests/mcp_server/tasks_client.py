"""The client side of the MCP Tasks extension (``io.modelcontextprotocol/tasks``), as a client would write it
with the official SDK's extension seam: a ``ResultClaim`` on ``resultType: "task"`` that polls ``tasks/get``.

``between_polls(task, session)`` is how the client waits before polling again; a real client sleeps
``pollIntervalMs``, the tests wait on an event instead (``until_job_done``: a ``get_job`` call, which returns
once the job is done).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict

EXTENSION_ID = "io.modelcontextprotocol/tasks"


class TaskParams(RequestParams):
    task_id: str


class GetTaskRequest(Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"  # SEP-2663: the task id is mirrored into the Mcp-Name header


class CancelTaskRequest(Request[TaskParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class UpdateTaskParams(TaskParams):
    input_responses: dict[str, Any]


class UpdateTaskRequest(Request[UpdateTaskParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class TaskFields(Result):
    model_config = ConfigDict(extra="allow")

    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None


class CreateTaskResult(TaskFields):
    result_type: Literal["task"] = "task"


class DetailedTask(TaskFields):
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class AckResult(Result):
    model_config = ConfigDict(extra="allow")


async def get_task(session: ClientSession, task_id: str) -> DetailedTask:
    return await session.send_request(GetTaskRequest(params=TaskParams(task_id=task_id)), DetailedTask)


async def update_task(session: ClientSession, task_id: str, responses: dict[str, Any]) -> AckResult:
    request = UpdateTaskRequest(params=UpdateTaskParams(task_id=task_id, input_responses=responses))
    return await session.send_request(request, AckResult)


async def cancel_task(session: ClientSession, task_id: str) -> AckResult:
    return await session.send_request(CancelTaskRequest(params=TaskParams(task_id=task_id)), AckResult)


class TasksClient(ClientExtension):
    """Declares the extension and turns a task into the final ``CallToolResult`` by polling ``tasks/get``."""

    identifier = EXTENSION_ID

    def __init__(self, between_polls: Callable[[DetailedTask, ClientSession], Awaitable[Any]]) -> None:
        self._between_polls = between_polls
        self.created: list[CreateTaskResult] = []
        self.polled: list[DetailedTask] = []

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=self._resolve)]

    async def _resolve(self, created: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
        self.created.append(created)
        task = await get_task(ctx.session, created.task_id)
        self.polled.append(task)
        while task.status in ("working", "input_required"):
            await self._between_polls(task, ctx.session)
            task = await get_task(ctx.session, created.task_id)
            self.polled.append(task)
        if task.status != "completed" or task.result is None:
            raise RuntimeError(f"task {task.task_id} ended {task.status}: {task.status_message}")
        return CallToolResult.model_validate(task.result)


async def until_job_done(task: DetailedTask, session: ClientSession) -> None:
    """Wait for the task's job with ``get_job`` (it returns once the job is done; no sleeping)."""
    await session.call_tool("get_job", {"job_id": task.task_id, "previews": False})
