"""Each tool through the SDK's in-memory client on the sandbox (the real Ark adapter against the emulator)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from mcp_types import ImageContent, ResourceLink, TextContent
from PIL import Image

from core.catalog import MODELS
from core.emulator import EmulatorState, Fault
from tests.conftest import RecordingSleep

TOOLS = {"generate_image", "edit_image", "list_models", "get_job", "list_jobs"}


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def blocks(result, kind: type) -> list:
    return [block for block in result.content if isinstance(block, kind)]


async def test_the_server_lists_exactly_the_five_tools_with_honest_annotations(connect):
    async with connect() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for name in ("generate_image", "edit_image"):
            hints = tools[name].annotations
            assert (hints.read_only_hint, hints.open_world_hint, hints.idempotent_hint) == (
                False,
                True,
                False,
            )
            assert tools[name].output_schema is not None
        for name in ("list_models", "get_job", "list_jobs"):
            assert tools[name].annotations.read_only_hint is True


async def test_tools_list_stays_small_enough_to_send_in_every_conversation(connect):
    async with connect() as client:
        listing = await client.list_tools()
        size = len(listing.model_dump_json(by_alias=True, exclude_none=True))
        assert size <= 10_000, size  # the budget issues 14 and 15 set for every conversation
        assert "title" not in json.dumps([t.input_schema for t in listing.tools])


async def test_parameters_are_typed_from_the_catalog(connect):
    async with connect() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        props = tools["generate_image"].input_schema["properties"]
        # The model is a string the core checks (aliases and Ark endpoint ids too); the keys are in its text.
        assert props["model"]["type"] == "string" and "enum" not in props["model"]
        described = props["model"]["description"]  # keys written compactly: "seedream-4.0 …, -4.5, …"
        assert all(m.key in described or m.key.removeprefix("seedream") in described for m in MODELS)
        assert "ep-" in described
        assert "sandbox" in props["provider"]["enum"] and "ark" in props["provider"]["enum"]
        assert (props["count"]["minimum"], props["count"]["maximum"]) == (1, 15)
        assert props["output_format"]["enum"] == ["jpeg", "png"] and props["watermark"]["default"] is False
        assert "4K" in props["size"]["description"] and "WxH" in props["size"]["description"]
        assert tools["generate_image"].input_schema["required"] == ["prompt"]
        assert tools["edit_image"].input_schema["properties"]["images"]["minItems"] == 1


async def test_generate_image_saves_the_file_and_returns_path_preview_link_and_structured_data(connect):
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "a red fox in snow", "size": "2048x2048"}
        )
        assert not result.is_error
        data = result.structured_content
        assert data["status"] == "succeeded" and data["pending"] is False and data["job_id"]
        (image,) = data["images"]
        path = Path(image["path"])
        assert path.is_absolute() and path.is_file() and (image["width"], image["height"]) == (2048, 2048)
        assert image["file_uri"] == path.as_uri() and image["bytes"] == path.stat().st_size
        assert image["source_url"].startswith("http://sandbox.localhost/") and image["url_expires_at"]
        assert str(path) in text_of(result)
        (preview,) = blocks(result, ImageContent)
        with Image.open(io.BytesIO(base64.b64decode(preview.data))) as img:
            assert img.format == "JPEG" and max(img.size) <= 1568 and max(img.size) >= 1000
        (link,) = blocks(result, ResourceLink)
        assert link.uri == image["resource_uri"] == f"seedream://jobs/{data['job_id']}/images/0"
        assert (link.name, link.mime_type, link.size) == (path.name, "image/jpeg", image["bytes"])


async def test_a_group_keeps_the_images_moderation_let_through_and_reports_the_refused_one(connect):
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "three cats [refuse:1]", "size": "1K", "series": 3}
        )
        assert not result.is_error
        data = result.structured_content
        assert data["status"] == "partial"
        assert [i["index"] for i in data["images"]] == [0, 2]
        assert [f["index"] for f in data["failures"]] == [1]
        assert "Image 2 was refused by the provider's safety filter" in text_of(result)
        assert "rephrase" in text_of(result).lower()


@pytest.mark.parametrize("code", ["OutputImageRiskDetection", "ContentSecurityDetectionError"])
async def test_every_per_image_moderation_code_reads_as_a_safety_filter_refusal_with_the_rephrase_advice(
        connect, code):
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": f"two owls [refuse:0:{code}]", "size": "1K", "series": 2}
        )
    (failure,) = result.structured_content["failures"]
    assert (failure["index"], failure["code"], failure["kind"]) == (0, code, "content_rejected")
    text = text_of(result)
    assert f"Image 1 was refused by the provider's safety filter ({code})" in text
    assert "rephrase the prompt" in text.lower() and "try again for it" not in text.lower()


async def test_edit_image_uses_a_reference_inside_the_allowed_folder(connect, home):
    async with connect() as client:
        reference = home / "photo.png"
        Image.new("RGB", (640, 480), (200, 30, 30)).save(reference)
        result = await client.call_tool(
            "edit_image", {"images": [str(reference)], "prompt": "make it blue", "size": "1K"}
        )
        assert not result.is_error, text_of(result)
        assert result.structured_content["status"] == "succeeded"
        assert Path(result.structured_content["images"][0]["path"]).is_file()


async def test_edit_image_accepts_a_data_uri_and_an_http_url(connect):
    async with connect() as client:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (0, 90, 200)).save(buffer, "PNG")
        data_uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        result = await client.call_tool(
            "edit_image",
            {"images": [data_uri, "https://example.com/cat.png"], "prompt": "combine them", "size": "1K"},
        )
        assert not result.is_error, text_of(result)


async def test_list_models_names_each_model_with_its_sizes_and_options(connect):
    async with connect() as client:
        result = await client.call_tool("list_models", {"provider": "ark"})
        assert not result.is_error
        models = {m["model"]: m for m in result.structured_content["models"]}
        assert set(models) == {
            "seedream-5.0-pro",
            "seedream-5.0-lite",
            "seedream-4.5",
            "seedream-4.0",
            "seedream-3.0",
            "seededit-3.0",
        }
        assert models["seedream-4.0"]["max_images"] == 15 and "4K" in models["seedream-4.0"]["sizes"]
        assert models["seededit-3.0"]["references"] == "exactly 1" and models["seedream-3.0"]["seed"] is True
        assert "Default provider: sandbox" in text_of(result)


async def test_get_job_returns_a_finished_job_in_the_same_shape_without_resending_its_previews(connect):
    async with connect() as client:
        first = await client.call_tool("generate_image", {"prompt": "a lighthouse", "size": "1K"})
        job_id = first.structured_content["job_id"]
        again = await client.call_tool("get_job", {"job_id": job_id})
        everything = await client.call_tool("get_job", {"job_id": job_id, "previews": True})
        lean = await client.call_tool("get_job", {"job_id": job_id, "previews": False})
    assert not again.is_error and again.structured_content == first.structured_content
    assert blocks(again, ImageContent) == [] and len(blocks(again, ResourceLink)) == 1
    assert "Previews of image(s) 1 were in an earlier result" in text_of(again)
    assert blocks(everything, ImageContent)[0].data == blocks(first, ImageContent)[0].data
    assert blocks(lean, ImageContent) == [] and len(blocks(lean, ResourceLink)) == 1


async def test_get_job_of_an_unknown_id_is_an_error_that_points_to_list_jobs(connect):
    async with connect() as client:
        result = await client.call_tool("get_job", {"job_id": "nosuchjob"})
        assert result.is_error and "list_jobs" in text_of(result)


async def test_list_jobs_shows_recent_jobs_newest_first_with_their_files(connect):
    async with connect() as client:
        a = await client.call_tool("generate_image", {"prompt": "first", "size": "1K"})
        b = await client.call_tool("generate_image", {"prompt": "second", "size": "1K"})
        result = await client.call_tool("list_jobs", {"limit": 5})
        jobs = result.structured_content["jobs"]
        assert [j["job_id"] for j in jobs] == [b.structured_content["job_id"], a.structured_content["job_id"]]
        assert jobs[0]["paths"] == [b.structured_content["images"][0]["path"]]
        assert jobs[0]["paths"][0] in text_of(result)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"prompt": "x", "count": 40}, "count=40"),
        ({"prompt": "x", "model": "dall-e-3"}, "Invalid model: 'dall-e-3'"),
        ({"count": 1}, "prompt is required"),
        ({"prompt": "x", "model": "seedream-3.0", "series": 2}, "series (related images in one request)"),
        ({"prompt": "x", "size": "9999x9999"}, "Invalid size"),
        ({"prompt": "x", "model": "seedream-4.0", "output_format": "png"}, "output_format"),
        ({"prompt": "x", "seed": 5}, "seed"),
        ({"prompt": "   "}, "Invalid prompt"),
    ],
)
async def test_invalid_arguments_are_an_error_result_saying_what_is_allowed(
    connect, emulator: EmulatorState, arguments, says
):
    async with connect() as client:
        result = await client.call_tool("generate_image", arguments)
        assert result.is_error
        text = text_of(result)
        assert says in text and "Traceback" not in text and "pydantic" not in text
        assert result.structured_content["error_kind"] == "invalid_request"
        assert emulator.requests.total() == 0  # refused before any provider call


async def test_a_moderation_refusal_is_an_error_result_with_what_to_try(connect):
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "something forbidden", "size": "1K"})
        assert result.is_error
        assert result.structured_content["error_kind"] == "content_rejected"
        assert result.structured_content["job_id"] and result.structured_content["status"] == "failed"
        assert "rephrase" in text_of(result).lower()


async def test_a_provider_failing_after_every_retry_is_an_error_result(
    connect, emulator: EmulatorState, sleep: RecordingSleep
):
    async with connect() as client:
        emulator.add_fault(Fault(provider="ark", status=500, code="InternalServiceError", times=10))
        result = await client.call_tool("generate_image", {"prompt": "a boat", "size": "1K"})
        assert result.is_error
        assert result.structured_content["error_kind"] == "unavailable"
        assert "try later" in text_of(result) and sleep.delays  # retried (without waiting) before giving up


async def test_a_missing_provider_configuration_names_the_variables_to_set(connect, tmp_path):
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "provider": "ark"})
    assert result.is_error and "ARK_API_KEY" in text_of(result)
    assert result.structured_content["error_kind"] == "configuration"


async def test_the_modern_in_process_connection_works_too(connect):
    async with connect(mode="auto") as client:
        result = await client.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
    assert not result.is_error and result.structured_content["status"] == "succeeded"


async def test_jobs_of_other_adapters_are_invisible_to_mcp_clients(service, home):
    from mcp import Client

    from core.jobs import Requester
    from core.requests import GenerateRequest
    from mcp_server.server import build_server
    from tests.mcp_server.conftest import mcp_settings

    theirs = await service.generate(
        GenerateRequest.create(prompt="a discord cat", size="1K"),
        requester=Requester(adapter="discord", user_id="42"),
    )
    async with Client(
        build_server(service=service, mcp_settings=mcp_settings(home)), mode="legacy"
    ) as client:
        found = await client.call_tool("get_job", {"job_id": theirs.job_id})
        listed = await client.call_tool("list_jobs", {})
    assert found.is_error and found.structured_content["error_kind"] == "job_not_found"
    assert listed.structured_content["jobs"] == []


async def test_an_unknown_tool_is_an_error_result(connect):
    async with connect() as client:
        result = await client.call_tool("draw_me_a_sheep", {})
    assert result.is_error and "Unknown tool" in text_of(result)


async def test_the_model_takes_aliases_and_ark_endpoint_ids(connect, emulator: EmulatorState):
    emulator.config.ark_endpoints["ep-20250101000000-abcde"] = "doubao-seedream-4-0-250828"  # the account's
    async with connect() as client:
        alias = await client.call_tool("generate_image", {"prompt": "a fox", "model": "4.0", "size": "1K"})
        endpoint = await client.call_tool(
            "generate_image", {"prompt": "a fox", "model": "ep-20250101000000-abcde", "size": "1K"}
        )
    assert not alias.is_error and alias.structured_content["model"] == "seedream-4.0"
    assert not endpoint.is_error and endpoint.structured_content["status"] == "succeeded"
    assert endpoint.structured_content["model"] == "ep-20250101000000-abcde"
    assert text_of(endpoint).count("is not in SEEDREAM_ARK_ENDPOINTS") == 1  # said once


async def test_prompt_expansion_and_logo_options_reach_visual_and_bad_ones_are_explained(connect):
    async with connect() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        made = await client.call_tool("generate_image", {
            "prompt": "a fox", "provider": "sandbox-visual", "prompt_mode": "expand", "watermark": True,
            "logo": {"position": "top-left", "language": "en", "text": "Fox Studio"}})
        not_visual = await client.call_tool(
            "generate_image", {"prompt": "a fox", "watermark": True, "logo": {"position": "top-left"}})
        no_mode = await client.call_tool("generate_image", {"prompt": "a fox", "prompt_mode": "expand"})
        bad_logo = await client.call_tool("generate_image", {
            "prompt": "a fox", "provider": "sandbox-visual", "watermark": True, "logo": {"position": "middle"}})
    assert {"logo", "prompt_mode"} <= set(tools["generate_image"].input_schema["properties"])
    assert not {"logo", "prompt_mode"} & set(tools["edit_image"].input_schema["properties"])  # the budget
    assert bad_logo.is_error and "logo.position" in text_of(bad_logo) and "top-left" in text_of(bad_logo)
    assert not made.is_error and made.structured_content["status"] == "succeeded"
    assert not_visual.is_error and "Invalid logo" in text_of(not_visual) and "seedream-3.0 on visual" in text_of(
        not_visual)
    assert no_mode.is_error and "Invalid prompt_mode" in text_of(no_mode)
