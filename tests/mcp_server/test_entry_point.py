"""The real entry point: ``seedream-mcp`` over stdio as a subprocess, and the Streamable HTTP transport."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from core.http import HttpClient
from mcp_server.http import http_server, is_loopback, loopback_socket
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.conftest import make_settings
from tests.mcp_server.tasks_client import TasksClient, until_job_done

SCRIPT = Path(sys.executable).parent / "seedream-mcp"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: the sandbox provider, a temporary data dir and home, no keys."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "SEEDREAM_PROVIDER": "sandbox",
        "SEEDREAM_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


@pytest.mark.skipif(sys.platform == "win32", reason="uses sh and tee to copy the server's stdout")
async def test_seedream_mcp_over_stdio_serves_tools_and_writes_nothing_but_json_rpc(tmp_path):
    wire = tmp_path / "stdout.jsonl"
    # tee passes the server's stdout through to the client untouched and keeps a copy to inspect.
    params = StdioServerParameters(
        command="/bin/sh", args=["-c", f'"{SCRIPT}" | tee "{wire}"'], env=server_env(tmp_path), cwd=tmp_path
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=60
        ) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("generate_image", {"prompt": "a paper boat", "size": "1K"})
    assert tools == {"generate_image", "edit_image", "list_models", "get_job", "list_jobs"}
    assert not result.is_error, result.content[0].text
    path = Path(result.structured_content["images"][0]["path"])
    assert path.is_file() and path.is_relative_to(tmp_path / "data")
    assert_json_rpc_only(wire)


@pytest.mark.skipif(sys.platform == "win32", reason="uses sh and tee to copy the server's stdout")
async def test_over_stdio_a_2026_client_gets_tasks_and_reads_the_images_as_resources(tmp_path):
    wire = tmp_path / "stdout.jsonl"
    params = StdioServerParameters(
        command="/bin/sh", args=["-c", f'"{SCRIPT}" | tee "{wire}"'], env=server_env(tmp_path), cwd=tmp_path
    )
    tasks = TasksClient(until_job_done)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog), mode="auto", extensions=[tasks], read_timeout_seconds=60
        ) as client:
            version = client.protocol_version
            result = await client.call_tool("generate_image", {"prompt": "two paper boats", "size": "1K", "series": 2})
            images = result.structured_content["images"]
            blobs = [(await client.read_resource(i["resource_uri"])).contents[0].blob for i in images]
    assert version == "2026-07-28" and tasks.created and tasks.polled[-1].status == "completed"
    assert len(images) == 2 and not result.is_error
    assert [base64.b64decode(b) for b in blobs] == [Path(i["path"]).read_bytes() for i in images]
    assert_json_rpc_only(wire)


def assert_json_rpc_only(wire: Path) -> None:
    lines = wire.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 3
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0", line[:200]


def test_seedream_mcp_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    completed = subprocess.run(
        [str(SCRIPT), "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        env=server_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "SEEDREAM_MCP_TOKEN" in completed.stderr and completed.stdout == ""


def test_loopback_addresses_are_recognised():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.8.0.1"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "example.com", "::"))


async def test_the_http_transport_refuses_requests_without_the_right_bearer_token(tmp_path, http: HttpClient):
    server = build_server(
        settings=make_settings(tmp_path), mcp_settings=McpSettings(_env_file=None), http=http
    )
    sock = loopback_socket()
    port = sock.getsockname()[1]
    uvicorn_server = http_server(server, host="127.0.0.1", port=port, token="s3cret-token")
    serving = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{port}/mcp"
    accept = {"Accept": "application/json, text/event-stream"}
    try:
        async with httpx2.AsyncClient(timeout=30) as raw:
            missing = await raw.post(url, json=INITIALIZE, headers=accept)
            wrong = await raw.post(url, json=INITIALIZE, headers=accept | {"Authorization": "Bearer nope"})
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert missing.headers["www-authenticate"].startswith("Bearer")
        authed = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"}, timeout=60)
        async with authed, Client(streamable_http_client(url, http_client=authed), mode="legacy") as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
        assert len(tools) == 5
        assert not result.is_error and Path(result.structured_content["images"][0]["path"]).is_file()
    finally:
        uvicorn_server.should_exit = True
        await serving
        sock.close()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_over_streamable_http_with_the_token_images_are_resources_and_2026_clients_get_tasks(
    tmp_path, http: HttpClient, mode
):
    server = build_server(settings=make_settings(tmp_path), mcp_settings=McpSettings(_env_file=None), http=http)
    sock = loopback_socket()
    uvicorn_server = http_server(server, host="127.0.0.1", port=sock.getsockname()[1], token="s3cret-token")
    serving = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    tasks = TasksClient(until_job_done)
    try:
        authed = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"}, timeout=60)
        async with authed, Client(streamable_http_client(url, http_client=authed), mode=mode,
                                  extensions=[tasks]) as client:
            result = await client.call_tool("generate_image", {"prompt": "a kite", "size": "1K", "count": 2})
            images = result.structured_content["images"]
            blobs = [(await client.read_resource(i["resource_uri"])).contents[0].blob for i in images]
            templates = (await client.list_resource_templates()).resource_templates
        async with httpx2.AsyncClient(timeout=30) as raw:
            refused = await raw.post(url, headers={"Accept": "application/json, text/event-stream"}, json={
                "jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": images[0]["resource_uri"]}})
    finally:
        uvicorn_server.should_exit = True
        await serving
        sock.close()
    assert [base64.b64decode(b) for b in blobs] == [Path(i["path"]).read_bytes() for i in images]
    assert any(t.uri_template == "seedream://jobs/{job_id}/images/{index}" for t in templates)
    assert refused.status_code == 401
    assert len(tasks.created) == (1 if mode == "auto" else 0)  # tasks travel on the 2026-07-28 wire only
