"""MCP Apps through the official client: the gallery for hosts that negotiated the extension, nothing new for
every other client."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from core.catalog import EDIT_DEFAULT_MODEL
from mcp_server.app import GALLERY_URI, gallery_html

TOOLS = {"generate_image", "edit_image", "list_models", "get_job", "list_jobs"}
APP_ONLY = {"job_status", "cancel_job"}


def listing_size(tools) -> int:
    return len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]))


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # the 2025-11-25 handshake, and 2026-07-28 in-process
async def test_with_apps_the_image_tools_open_the_gallery_and_the_app_tools_stay_with_the_app(connect_host, mode):
    async with connect_host(apps=True, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        capabilities = client.server_capabilities
    assert set(tools) == TOOLS | APP_ONLY
    for name in ("generate_image", "edit_image"):
        assert tools[name].meta == {"ui": {"resourceUri": GALLERY_URI}}
    for name in TOOLS - {"generate_image", "edit_image"}:
        assert not tools[name].meta
    for name in APP_ONLY:
        assert tools[name].meta["ui"] == {"resourceUri": GALLERY_URI, "visibility": ["app"]}
    if mode == "auto":  # the 2025-11-25 schema has no server extensions field
        assert EXTENSION_ID in capabilities.extensions
    model_facing = [tool for tool in tools.values() if tool.name not in APP_ONLY]  # what the host sends the model
    assert listing_size(model_facing) <= 10_000


async def test_with_apps_the_gallery_resource_is_one_html_app_declaring_no_external_origin(connect_host):
    async with connect_host(apps=True) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        (content,) = (await client.read_resource(GALLERY_URI)).contents
    assert listed[GALLERY_URI].mime_type == APP_MIME_TYPE
    assert content.mime_type == APP_MIME_TYPE == "text/html;profile=mcp-app"
    assert content.text == gallery_html() and content.text.startswith("<!doctype html>")
    assert content.meta["ui"]["csp"] == {}  # no connect/resource/frame domains: the host's restrictive default


async def test_without_apps_the_tools_and_resources_are_exactly_as_before(connect_host):
    async with connect_host(apps=True) as client:
        with_apps = (await client.list_tools()).tools
    async with connect_host(apps=False) as client:
        without = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        unknown = await client.call_tool("no_such_tool", {})
        hidden = await client.call_tool("job_status", {"job_id": "x"})
    assert [tool.name for tool in without] == [tool.name for tool in with_apps if tool.name not in APP_ONLY]
    assert all(tool.meta is None for tool in without)
    # The only difference: the binding's _meta on the two image tools.
    stripped = [tool.model_copy(update={"meta": None}) for tool in with_apps if tool.name not in APP_ONLY]
    assert stripped == without
    assert not [r for r in resources if str(r.uri).startswith("ui://")]
    assert hidden.is_error and hidden.content[0].text == unknown.content[0].text.replace("no_such_tool", "job_status")


async def test_without_apps_a_generation_result_is_unchanged(connect_host):
    async with connect_host(apps=False) as client:
        plain = await client.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
    async with connect_host(apps=True) as client:
        hosted = await client.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
    assert plain.meta is None and hosted.meta is None  # the gallery asks job_status; results carry nothing new
    assert plain.structured_content.keys() == hosted.structured_content.keys()
    assert [type(block) for block in plain.content] == [type(block) for block in hosted.content]


async def test_job_status_finds_the_job_of_a_call_by_the_apps_ticket(connect_host):
    async with connect_host(apps=True) as client:
        result = await client.call_tool("generate_image", {"prompt": "two kites", "size": "1K", "count": 2},
                                        meta={"seedream/ticket": "app:t1"})
        status = await client.call_tool("job_status", {"ticket": "app:t1"})
    view, job_id = status.structured_content, result.structured_content["job_id"]
    assert not status.is_error and view["job_id"] == job_id
    assert view["finished"] is True and view["status"] == "succeeded" and view["expected"] == 2
    assert [image["uri"] for image in view["images"]] == [f"seedream://jobs/{job_id}/images/{i}" for i in (0, 1)]
    assert [image["preview_uri"] for image in view["images"]] == [
        f"seedream://jobs/{job_id}/images/{i}/preview" for i in (0, 1)]
    assert [image["path"] for image in view["images"]] == [image["path"] for image in
                                                            result.structured_content["images"]]
    assert view["actions"]["reroll"] == {
        "name": "generate_image", "arguments": {"prompt": "two kites", "size": "1K", "count": 2}}
    assert view["actions"]["edit"] == {"model": "seedream-4.0", "provider": "sandbox"}
    assert view["actions"]["rerender_size"] == "4K"


async def test_job_status_answers_when_the_job_changes(connect_host, emulator):
    emulator.hold = asyncio.Event()
    async with connect_host(apps=True, wait_seconds=0) as client:
        started = await client.call_tool("generate_image", {"prompt": "a slow kite", "size": "1K", "count": 2},
                                         meta={"seedream/ticket": "app:slow"})
        now = (await client.call_tool("job_status", {"ticket": "app:slow"})).structured_content
        assert started.structured_content["pending"] is True and now["finished"] is False and now["images"] == []
        waiting = asyncio.create_task(client.call_tool("job_status", {"job_id": now["job_id"],
                                                                      "version": now["version"]}))
        emulator.hold.set()
        changed = (await waiting).structured_content
        while not changed["finished"]:
            changed = (await client.call_tool("job_status", {"job_id": now["job_id"],
                                                             "version": changed["version"]})).structured_content
    assert changed["version"] > now["version"] and len(changed["images"]) == 2


async def test_job_status_tells_where_a_waiting_job_is_in_the_providers_queue(connect_host, emulator):
    emulator.hold = asyncio.Event()
    async with connect_host(apps=True, wait_seconds=0, core={"ark_concurrency": 1}) as client:
        await client.call_tool("generate_image", {"prompt": "first in line", "size": "1K"})
        await client.call_tool("generate_image", {"prompt": "second in line", "size": "1K"},
                               meta={"seedream/ticket": "app:second"})
        view = (await client.call_tool("job_status", {"ticket": "app:second"})).structured_content
        while view["queue_position"] is None:
            view = (await client.call_tool("job_status", {"job_id": view["job_id"],
                                                          "version": view["version"]})).structured_content
        assert (view["status"], view["queue_position"]) == ("queued", 1)
        emulator.hold.set()
        while not view["finished"]:
            view = (await client.call_tool("job_status", {"job_id": view["job_id"],
                                                          "version": view["version"]})).structured_content
    assert view["status"] == "succeeded" and view["queue_position"] is None


async def test_job_status_needs_a_job_or_a_ticket(connect_host):
    async with connect_host(apps=True) as client:
        result = await client.call_tool("job_status", {})
    assert result.is_error and "job_id or a ticket" in result.content[0].text


async def test_the_gallery_edits_a_job_of_a_model_without_references_with_the_providers_editing_model(connect_host):
    async with connect_host(apps=True) as client:
        await client.call_tool("generate_image", {"prompt": "a moth", "model": "seedream-3.0"},
                               meta={"seedream/ticket": "app:moth"})
        view = (await client.call_tool("job_status", {"ticket": "app:moth"})).structured_content
    assert view["model"] == "seedream-3.0" and view["images"][0]["seed"] is not None  # 3.0 always gets a seed
    assert view["actions"]["edit"] == {"model": EDIT_DEFAULT_MODEL["ark"], "provider": "sandbox"}


async def test_cancel_job_stops_a_held_job_and_an_unknown_one_is_an_error(connect_host, emulator):
    emulator.hold = asyncio.Event()
    async with connect_host(apps=True, wait_seconds=0) as client:
        started = await client.call_tool("generate_image", {"prompt": "never mind", "size": "1K", "count": 2})
        job_id = started.structured_content["job_id"]
        cancelled = await client.call_tool("cancel_job", {"job_id": job_id})
        unknown = await client.call_tool("cancel_job", {"job_id": "nosuchjob"})
        emulator.hold.set()
    assert not cancelled.is_error
    assert cancelled.structured_content["status"] == "cancelled" and cancelled.structured_content["finished"] is True
    assert unknown.is_error and "nosuchjob" in unknown.content[0].text
