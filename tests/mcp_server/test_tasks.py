"""The MCP Tasks extension through the official client's extension seam (``tests/mcp_server/tasks_client``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, ImageContent, ResourceLink

from core.emulator import EmulatorState, create_app
from core.emulator.transport import StreamingASGITransport
from core.http import HttpClient, RetryPolicy
from core.jobs import Requester
from core.requests import GenerateRequest
from core.sandbox import SANDBOX_ORIGIN
from mcp_server.server import build_server
from tests.conftest import RecordingSleep, make_settings
from tests.mcp_server.conftest import mcp_settings
from tests.mcp_server.provider_edge import HoldAfterFirstImage
from tests.mcp_server.tasks_client import (
    EXTENSION_ID,
    CreateTaskResult,
    TasksClient,
    cancel_task,
    get_task,
    until_job_done,
    update_task,
)

MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
MIB = 1_048_576


async def test_a_client_declaring_tasks_gets_a_task_and_by_polling_the_final_result_with_previews(connect):
    tasks = TasksClient(until_job_done)
    async with connect(mode="auto", extensions=[tasks]) as client:
        result = await client.call_tool("generate_image", {"prompt": "three owls", "size": "1K", "series": 3})
    (created,) = tasks.created
    assert created.result_type == "task" and created.status == "working" and created.ttl_ms is None
    assert created.poll_interval_ms == 2000 and created.task_id == result.structured_content["job_id"]
    assert [t.status for t in tasks.polled][-1] == "completed"
    assert not result.is_error and result.structured_content["status"] == "succeeded"
    assert len([b for b in result.content if isinstance(b, ImageContent)]) == 3
    assert len([b for b in result.content if isinstance(b, ResourceLink)]) == 3
    assert all(Path(i["path"]).is_file() for i in result.structured_content["images"])
    assert len(result.model_dump_json(by_alias=True)) <= MIB


async def test_a_working_task_says_what_the_job_is_doing(connect, emulator: EmulatorState):
    emulator.hold = asyncio.Event()
    async with connect(mode="auto", extensions=[TasksClient(until_job_done)]) as client:
        created = await client.session.call_tool(
            "generate_image", {"prompt": "a slow tide", "size": "1K", "count": 2}, allow_claimed=True
        )
        assert isinstance(created, CreateTaskResult)
        working = await get_task(client.session, created.task_id)
        emulator.hold.set()
        await until_job_done(working, client.session)
        done = await get_task(client.session, created.task_id)
    assert working.status == "working" and working.status_message.startswith("Generating: 0 of 2 image(s)")
    assert working.created_at and working.last_updated_at and working.poll_interval_ms == 2000
    assert done.status == "completed" and done.status_message == "succeeded, 2 image(s) saved"
    final = CallToolResult.model_validate(done.result)
    assert len(final.structured_content["images"]) == 2 and not final.is_error


async def test_a_client_that_does_not_declare_tasks_gets_an_ordinary_result(connect):
    async with connect(mode="auto") as client:
        result = await client.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
    assert isinstance(result, CallToolResult) and result.structured_content["status"] == "succeeded"


async def test_on_the_2025_11_25_revision_calls_stay_ordinary_and_tasks_get_answers_for_their_job_ids(connect):
    # The task shape cannot travel on a pre-2026 wire; a client that declared the extension at initialize
    # still gets plain results, and may follow their job ids with tasks/get.
    async with connect(mode="legacy", extensions=[advertise(EXTENSION_ID)]) as client:
        result = await client.call_tool("generate_image", {"prompt": "a harbour", "size": "1K"})
        task = await get_task(client.session, result.structured_content["job_id"])
        version = client.protocol_version
    assert version == "2025-11-25" and result.structured_content["status"] == "succeeded"
    assert task.status == "completed" and task.result["structuredContent"] == result.structured_content


async def test_tasks_get_needs_the_extension_declared_and_an_id_of_this_servers_jobs(connect, service, home):
    async with connect(mode="auto") as client:
        result = await client.call_tool("generate_image", {"prompt": "a lamp", "size": "1K"})
        with pytest.raises(MCPError) as undeclared:
            await get_task(client.session, result.structured_content["job_id"])
    theirs = await service.generate(GenerateRequest.create(prompt="a discord cat", size="1K"),
                                    requester=Requester(adapter="discord", user_id="42"))
    server = build_server(service=service, mcp_settings=mcp_settings(home))
    async with Client(server, mode="auto", extensions=[TasksClient(until_job_done)]) as client:
        for task_id in ("nosuchjob", theirs.job_id):
            with pytest.raises(MCPError) as unknown:
                await get_task(client.session, task_id)
            assert unknown.value.code == INVALID_PARAMS and "Task not found" in unknown.value.message
    assert undeclared.value.code == MISSING_REQUIRED_CLIENT_CAPABILITY


async def test_tasks_update_is_acknowledged_and_changes_nothing_since_these_tasks_never_ask_for_input(connect):
    async with connect(mode="auto", extensions=[TasksClient(until_job_done)]) as client:
        result = await client.call_tool("generate_image", {"prompt": "a quill", "size": "1K"})
        job_id = result.structured_content["job_id"]
        ack = await update_task(client.session, job_id, {"name": {"action": "accept", "content": {}}})
        task = await get_task(client.session, job_id)
        with pytest.raises(MCPError) as unknown:
            await update_task(client.session, "nosuchjob", {})
    assert ack.model_extra == {"resultType": "complete"} and task.status == "completed"  # an empty ack
    assert unknown.value.code == INVALID_PARAMS


async def test_a_finished_task_is_still_retrievable_after_the_server_restarts(connect):
    async with connect(mode="auto", extensions=[TasksClient(until_job_done)]) as client:
        first = await client.call_tool("generate_image", {"prompt": "a lighthouse", "size": "1K", "count": 2})
    async with connect(mode="auto", extensions=[TasksClient(until_job_done)]) as restarted:
        task = await get_task(restarted.session, first.structured_content["job_id"])
    assert task.status == "completed"
    again = CallToolResult.model_validate(task.result)
    assert again.structured_content == first.structured_content
    assert len([b for b in again.content if isinstance(b, ImageContent)]) == 2  # previews made afresh


async def test_tasks_cancel_mid_group_ends_the_task_cancelled_with_the_saved_images_kept(
    tmp_path, emulator: EmulatorState, sleep: RecordingSleep, home
):
    gate = HoldAfterFirstImage(create_app(state=emulator))
    http = HttpClient.create(mounts={SANDBOX_ORIGIN: StreamingASGITransport(gate)}, sleep=sleep,
                             retry=RetryPolicy(max_retries=0))
    server = build_server(settings=make_settings(tmp_path), mcp_settings=mcp_settings(home), http=http)
    try:
        async with Client(server, mode="auto", extensions=[TasksClient(until_job_done)]) as client:
            created = await client.session.call_tool(
                "generate_image", {"prompt": "four seasons", "size": "1K", "series": 4}, allow_claimed=True
            )
            assert isinstance(created, CreateTaskResult)
            await gate.downloading.wait()  # image 1 is being saved; images 2-4 are not coming yet
            await cancel_task(client.session, created.task_id)
            task = await get_task(client.session, created.task_id)
            job = await client.call_tool("get_job", {"job_id": created.task_id, "previews": False})
    finally:
        gate.release.set()
        await http.aclose()
    assert task.status == "cancelled" and "the 1 image(s) saved before that are kept" in task.status_message
    data = job.structured_content
    assert (data["status"], data["error_kind"], data["pending"]) == ("interrupted", "cancelled", False)
    (image,) = data["images"]
    assert image["index"] == 0 and Path(image["path"]).is_file()
