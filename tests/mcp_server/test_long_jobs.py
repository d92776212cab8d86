"""Long work: progress notifications, heartbeats, early return with the job id, and get_job finishing it."""

from __future__ import annotations

import asyncio

from mcp import Client
from mcp_types import ImageContent, ResourceLink, TextContent

from core.emulator import EmulatorState
from mcp_server.server import build_server
from tests.conftest import make_settings
from tests.mcp_server.conftest import mcp_settings


class Progress:
    """Records ``notifications/progress`` as the client receives them."""

    def __init__(self) -> None:
        self.updates: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.append((progress, total, message))

    @property
    def messages(self) -> list[str]:
        return [m or "" for _, _, m in self.updates]


def strictly_increasing(values: list[float]) -> bool:
    """At least two values, each above the one before (one value or none proves nothing)."""
    return len(values) >= 2 and all(b > a for a, b in zip(values, values[1:], strict=False))


async def test_every_job_event_is_reported_as_progress_with_a_growing_value(connect):
    progress = Progress()
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "three owls", "size": "1K", "series": 3}, progress_callback=progress
        )
    assert not result.is_error
    messages = progress.messages
    assert messages[0] == "Generating"
    assert [m.split(" saved")[0] for m in messages if " saved" in m] == ["Image 1", "Image 2", "Image 3"]
    assert messages[-1] == "Finished: succeeded"
    values = [p for p, _, _ in progress.updates]
    assert strictly_increasing(values) and values[-1] == progress.updates[-1][1] == 4.0


async def test_a_failed_image_is_reported_as_progress_too(connect):
    progress = Progress()
    async with connect() as client:
        await client.call_tool(
            "generate_image",
            {"prompt": "owls [refuse:0]", "size": "1K", "count": 2},
            progress_callback=progress,
        )
    assert any(m.startswith("Image 1 was refused by the provider's safety filter") for m in progress.messages)


async def test_a_held_job_sends_heartbeats_while_nothing_happens(connect, emulator: EmulatorState):
    emulator.hold = asyncio.Event()
    progress = Progress()

    async def release_after_a_heartbeat(value: float, total: float | None, message: str | None) -> None:
        await progress(value, total, message)
        if message and message.startswith("Still generating"):
            emulator.hold.set()

    async with connect(heartbeat_seconds=0.01) as client:
        result = await client.call_tool(
            "generate_image",
            {"prompt": "a slow tide", "size": "1K"},
            progress_callback=release_after_a_heartbeat,
        )
    assert not result.is_error and result.structured_content["status"] == "succeeded"
    assert any(m.startswith("Still generating") for m in progress.messages)
    assert strictly_increasing([p for p, _, _ in progress.updates])


async def test_a_job_not_done_in_time_returns_its_id_and_get_job_returns_the_rest(connect, emulator, home):
    emulator.hold = asyncio.Event()
    settings = mcp_settings(home, wait_seconds=0)
    async with connect(settings) as client:
        first = await client.call_tool(
            "generate_image", {"prompt": "a slow castle", "size": "1K", "count": 2}
        )
        assert not first.is_error
        data = first.structured_content
        assert data["pending"] is True and data["status"] in ("queued", "running") and data["images"] == []
        job_id = data["job_id"]
        text = first.content[0].text
        assert job_id in text and "get_job" in text and "still running" in text

        settings.wait_seconds = 60  # get_job may now wait; the job finishes as soon as the provider answers
        emulator.hold.set()
        progress = Progress()
        rest = await client.call_tool("get_job", {"job_id": job_id}, progress_callback=progress)
    assert not rest.is_error
    assert rest.structured_content["pending"] is False and rest.structured_content["status"] == "succeeded"
    images = rest.structured_content["images"]
    assert [image["index"] for image in images] == [0, 1]
    # The summary, a preview of each image, then a link to each full-size image (its resource).
    assert [type(b) for b in rest.content] == [TextContent, ImageContent, ImageContent, ResourceLink, ResourceLink]
    summary = rest.content[0].text
    assert job_id in summary and "succeeded, 2 images saved" in summary
    assert [b.uri for b in rest.content[3:]] == [image["resource_uri"] for image in images]


async def test_get_job_on_a_still_held_job_reports_it_pending_again(connect, emulator, home):
    emulator.hold = asyncio.Event()
    async with connect(mcp_settings(home, wait_seconds=0)) as client:
        first = await client.call_tool("generate_image", {"prompt": "a slow bridge", "size": "1K"})
        again = await client.call_tool("get_job", {"job_id": first.structured_content["job_id"]})
        assert again.structured_content["pending"] is True and not again.is_error
        emulator.hold.set()


async def test_the_tool_descriptions_state_the_configured_wait(connect):
    async with connect(wait_seconds=20) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "~20 s" in tools["generate_image"].description and "~20 s" in tools["get_job"].description


async def test_get_job_resumes_a_chanjing_task_that_outlived_its_deadline_and_saves_its_images(
        tmp_path, http, emulator: EmulatorState, home):
    # The run gives up waiting after 0.2 s (the task is held); the job stays running, get_job picks it up.
    server = build_server(settings=make_settings(tmp_path, chanjing_deadline=0.2), mcp_settings=mcp_settings(home),
                          http=http)
    emulator.hold = asyncio.Event()
    async with Client(server, mode="legacy") as client:
        first = await client.call_tool("generate_image", {"prompt": "a slow lighthouse",
                                                          "provider": "sandbox-chanjing"})
        data = first.structured_content
        assert not first.is_error and data["pending"] is True and data["status"] == "running"
        text = first.content[0].text
        assert "did not finish within 0.2 s" in text and "get_job" in text

        emulator.hold.set()  # the task finishes at Chanjing meanwhile
        progress = Progress()
        rest = await client.call_tool("get_job", {"job_id": data["job_id"]}, progress_callback=progress)
    assert not rest.is_error and rest.structured_content["status"] == "succeeded"
    assert rest.structured_content["pending"] is False and len(rest.structured_content["images"]) == 1
    assert any(m.startswith("Image 1 saved") for m in progress.messages)
    assert emulator.requests["chanjing"] == 1  # the task was polled again, never submitted again
