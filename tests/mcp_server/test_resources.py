"""Saved images as MCP resources, read through the official client (in process here; over Streamable HTTP
with the bearer token in test_entry_point)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, BlobResourceContents, ImageContent, TextResourceContents
from PIL import Image

from core.jobs import Requester
from core.requests import GenerateRequest
from mcp_server.server import build_server
from tests.mcp_server.conftest import mcp_settings


async def test_the_image_templates_are_offered(connect):
    async with connect(mode="auto") as client:
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
    assert set(templates) == {
        "seedream://jobs/{job_id}/images/{index}",
        "seedream://jobs/{job_id}/images/{index}/preview",
        "seedream://jobs/{job_id}",
    }
    assert templates["seedream://jobs/{job_id}/images/{index}/preview"].mime_type == "image/jpeg"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_reading_a_linked_image_returns_the_bytes_of_the_file_on_disk(connect, mode):
    async with connect(mode=mode) as client:
        result = await client.call_tool("generate_image", {"prompt": "two herons", "size": "1K", "count": 2})
        images = result.structured_content["images"]
        read = [await client.read_resource(image["resource_uri"]) for image in images]
    for image, answer in zip(images, read, strict=True):
        (contents,) = answer.contents
        assert isinstance(contents, BlobResourceContents) and contents.uri == image["resource_uri"]
        assert contents.mime_type == "image/jpeg"
        assert base64.b64decode(contents.blob) == Path(image["path"]).read_bytes()


async def test_a_png_image_is_read_with_its_own_mime_type(connect):
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "a logo", "model": "seedream-5.0-lite", "size": "2K", "output_format": "png"}
        )
        (image,) = result.structured_content["images"]
        (contents,) = (await client.read_resource(image["resource_uri"])).contents
    assert contents.mime_type == "image/png"
    assert base64.b64decode(contents.blob) == Path(image["path"]).read_bytes()


async def test_the_preview_variant_is_the_jpeg_the_result_carried(connect):
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "size": "2K"})
        (image,) = result.structured_content["images"]
        (contents,) = (await client.read_resource(image["resource_uri"] + "/preview")).contents
    (inline,) = [b for b in result.content if isinstance(b, ImageContent)]
    assert contents.mime_type == "image/jpeg" and contents.blob == inline.data
    with Image.open(io.BytesIO(base64.b64decode(contents.blob))) as preview:
        assert preview.format == "JPEG" and max(preview.size) <= 1568


async def test_the_job_resource_is_its_structured_result(connect):
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "a bell", "size": "1K"})
        job_id = result.structured_content["job_id"]
        (contents,) = (await client.read_resource(f"seedream://jobs/{job_id}")).contents
    assert isinstance(contents, TextResourceContents) and contents.mime_type == "application/json"
    assert json.loads(contents.text) == result.structured_content


@pytest.mark.parametrize(
    "uri",
    [
        "seedream://jobs/nosuchjob/images/0",
        "seedream://jobs/{job}/images/7",
        "seedream://jobs/{job}/images/0/../../etc",
        "seedream://jobs/{job}/images/-1",
        "seedream://elsewhere/{job}",
    ],
)
async def test_a_made_up_job_or_image_is_an_error(connect, uri):
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "a boat", "size": "1K"})
        with pytest.raises(MCPError) as error:
            await client.read_resource(uri.format(job=result.structured_content["job_id"]))
    assert error.value.code == INVALID_PARAMS


async def test_images_of_other_adapters_jobs_are_neither_readable_nor_listed(service, home):
    theirs = await service.generate(GenerateRequest.create(prompt="a discord cat", size="1K"),
                                    requester=Requester(adapter="discord", user_id="42"))
    async with Client(build_server(service=service, mcp_settings=mcp_settings(home)), mode="legacy") as client:
        ours = await client.call_tool("generate_image", {"prompt": "an mcp cat", "size": "1K"})
        listed = [r.uri for r in (await client.list_resources()).resources]
        for uri in (f"seedream://jobs/{theirs.job_id}/images/0", f"seedream://jobs/{theirs.job_id}"):
            with pytest.raises(MCPError) as error:
                await client.read_resource(uri)
            assert "No job" in error.value.message and theirs.images[0].path.name not in error.value.message
    assert listed == [ours.structured_content["images"][0]["resource_uri"]]


async def test_recent_jobs_images_are_listed_newest_first_with_their_size_and_type(connect):
    async with connect() as client:
        first = await client.call_tool("generate_image", {"prompt": "first", "size": "1K"})
        second = await client.call_tool("generate_image", {"prompt": "second", "size": "1K", "count": 2})
        listed = (await client.list_resources()).resources
    expected = [i["resource_uri"] for r in (second, first) for i in r.structured_content["images"]]
    assert [r.uri for r in listed] == expected
    image = first.structured_content["images"][0]
    assert (listed[-1].mime_type, listed[-1].size, listed[-1].name) == (
        "image/jpeg", image["bytes"], Path(image["path"]).name)


async def test_an_image_over_the_read_limit_is_refused_with_what_to_read_instead(connect):
    async with connect(resource_max_bytes=10_000) as client:
        result = await client.call_tool("generate_image", {"prompt": "a big sky", "size": "2K"})
        (image,) = result.structured_content["images"]
        with pytest.raises(MCPError) as error:
            await client.read_resource(image["resource_uri"])
        preview = await client.read_resource(image["resource_uri"] + "/preview")
    message = error.value.message
    assert error.value.code == INVALID_PARAMS and "SEEDREAM_MCP_RESOURCE_MAX_BYTES" in message
    assert image["resource_uri"] + "/preview" in message and image["path"] in message
    assert preview.contents[0].mime_type == "image/jpeg"
