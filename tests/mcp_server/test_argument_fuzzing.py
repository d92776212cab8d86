"""Arbitrary tool arguments: never a crash or a protocol error, always a result; an invalid request is an
``isError`` result that reaches no provider."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from core.emulator import EmulatorConfig, EmulatorState
from core.http import HttpClient, RetryPolicy
from core.sandbox import SANDBOX_ORIGIN, sandbox_mount
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.conftest import make_settings

FIELDS = [
    "prompt",
    "model",
    "size",
    "aspect_ratio",
    "count",
    "seed",
    "guidance",
    "watermark",
    "output_format",
    "provider",
    "images",
    "bogus",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "seedream-4.0",
            "seededit-3.0",
            "4K",
            "1K",
            "16:9",
            "9999x9999",
            "png",
            "sandbox",
            "sandbox-visual",
            "ark",
            "../../etc/passwd",
            "file:///etc/passwd",
            "a fox",
        ]
    ),
    st.lists(st.text(max_size=12), max_size=3),
)
ARGUMENTS = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6)


async def call(tool: str, arguments: dict[str, Any]) -> tuple[Any, int]:
    emulator = EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN))
    http = HttpClient.create(mounts=sandbox_mount(emulator), retry=RetryPolicy(max_retries=0))
    with tempfile.TemporaryDirectory() as tmp:
        server = build_server(
            settings=make_settings(Path(tmp)),
            http=http,
            mcp_settings=McpSettings(_env_file=None, allowed_dirs=tmp, inline_budget=0),
        )
        try:
            async with Client(server, mode="legacy") as client:
                result = await client.call_tool(tool, arguments)
        finally:
            await http.aclose()
    return result, emulator.requests.total()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool=st.sampled_from(["generate_image", "edit_image"]), arguments=ARGUMENTS)
def test_any_arguments_give_a_result_and_invalid_ones_never_reach_a_provider(tool, arguments):
    result, provider_requests = asyncio.run(call(tool, arguments))
    assert result.content and result.content[0].type == "text"
    text = result.content[0].text
    assert "Traceback" not in text and "Error executing tool" not in text
    if result.is_error and result.structured_content["error_kind"] == "invalid_request":
        assert provider_requests == 0, text
    if not result.is_error:
        assert result.structured_content["status"] in ("succeeded", "partial")
