"""The MCP server in a hostile environment: bad settings stop it with one line naming the variable; a job
database that is not ours or an unusable output folder leave it serving, saying why at start-up and in every
tool result; nothing is sent to a provider that could not be saved; a pending job outlives its client; job
ids never reveal another adapter's jobs; ``HTTP://`` references reach the provider as ``http://``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from core.emulator import EmulatorState
from core.factory import open_service
from core.http import HttpClient
from core.jobs import Requester
from core.requests import GenerateRequest
from mcp_server.server import build_server
from tests.conftest import make_settings
from tests.hostile_env import BIN, clean_env, run
from tests.mcp_server.conftest import Connect, mcp_settings


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(tmp_path, SEEDREAM_PROVIDER="sandbox", **extra)


async def test_an_invalid_setting_stops_the_server_with_one_line_naming_the_variable(tmp_path: Path):
    done = await run("seedream-mcp", env=server_env(tmp_path, SEEDREAM_ARK_CONCURRENCY="abc"), cwd=tmp_path)
    assert done.code == 2 and done.stdout == ""
    assert done.line == "seedream-mcp: Invalid SEEDREAM_ARK_CONCURRENCY: 'abc'. Allowed: a whole number ≥ 0."


async def test_an_invalid_adapter_setting_names_its_variable_too(tmp_path: Path):
    done = await run("seedream-mcp", env=server_env(tmp_path, SEEDREAM_MCP_WAIT_SECONDS="nan"), cwd=tmp_path)
    assert done.code == 2
    assert done.line == "seedream-mcp: Invalid SEEDREAM_MCP_WAIT_SECONDS: 'nan'. Allowed: a number ≥ 0."


async def test_with_a_garbage_job_database_the_server_still_lists_its_tools_and_every_call_says_why(
        tmp_path: Path):
    db = tmp_path / "jobs.db"
    db.write_bytes(b"\x00garbage\xff" * 500)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    env = server_env(tmp_path, SEEDREAM_JOBS_DB=str(db))
    params = StdioServerParameters(command=str(BIN / "seedream-mcp"), env=env, cwd=tmp_path)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=60) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("generate_image", {"prompt": "a kite"})
            listing = await client.call_tool("list_jobs", {})
    assert "generate_image" in tools and "list_jobs" in tools
    expected = (f"The job database {db} is not a SQLite database (another program's file, or damaged): move it "
                f"aside (mv {db} {db}.bad) or set SEEDREAM_JOBS_DB to a new file. It was left untouched.")
    assert result.is_error and listing.is_error
    assert result.content[0].text.startswith(expected)
    assert f"seedream-mcp: {expected}" in (tmp_path / "stderr.log").read_text().splitlines()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


async def test_an_output_folder_that_is_a_file_is_said_at_start_up_and_no_provider_is_asked(
        tmp_path: Path, http: HttpClient, emulator: EmulatorState, home: Path):
    blocker = tmp_path / "images"
    blocker.write_text("not a folder")
    # stdin at its end: the server starts, finds no client, and stops.
    started = await run("seedream-mcp", env=server_env(tmp_path, SEEDREAM_OUTPUT_DIR=str(blocker)), cwd=tmp_path)
    assert started.code == 0
    assert f"seedream-mcp: The output folder {blocker} cannot be used: it is a file" in started.stderr
    server = build_server(settings=make_settings(tmp_path, output_dir=blocker), mcp_settings=mcp_settings(home),
                          http=http)
    async with Client(server, mode="legacy") as client:
        result = await client.call_tool("generate_image", {"prompt": "a kite", "count": 2})
    assert result.is_error
    assert f"The output folder {blocker} cannot be used: it is a file, not a folder." in result.content[0].text
    assert sum(emulator.requests.values()) == 0


async def test_the_http_server_on_a_taken_port_says_so_before_claiming_to_serve(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = await run("seedream-mcp", "--transport", "http", "--port", str(port), env=server_env(tmp_path),
                         cwd=tmp_path)
    assert done.code == 2
    assert done.line == (f"seedream-mcp: cannot listen on 127.0.0.1:{port} (the port is in use); choose another "
                         "with --port or SEEDREAM_MCP_PORT.")


async def test_unknown_and_other_adapters_job_ids_get_the_same_answer(tmp_path: Path, http: HttpClient,
                                                                         home: Path):
    async with open_service(make_settings(tmp_path), http=http) as service:
        foreign = await service.generate(GenerateRequest(prompt="a cli kite", size="1K"),
                                         requester=Requester(adapter="cli"))
    server = build_server(settings=make_settings(tmp_path), mcp_settings=mcp_settings(home), http=http)
    async with Client(server, mode="legacy") as client:
        unknown = await client.call_tool("get_job", {"job_id": "zzzzzzzzzzzz"})
        other = await client.call_tool("get_job", {"job_id": foreign.job_id})
    assert unknown.is_error and other.is_error
    assert other.content[0].text.replace(foreign.job_id, "zzzzzzzzzzzz") == unknown.content[0].text
    same = json.dumps(other.structured_content).replace(foreign.job_id, "zzzzzzzzzzzz")
    assert same == json.dumps(unknown.structured_content)


async def test_an_upper_case_http_reference_reaches_the_provider_as_http(connect: Connect):
    async with connect() as client:
        result = await client.call_tool("edit_image", {"images": ["HTTP://example.com/cat.png"],
                                                       "prompt": "make it blue", "size": "1K"})
        refused = await client.call_tool("edit_image", {"images": ["ftp://example.com/cat.png"],
                                                        "prompt": "make it blue"})
    # The emulator, like Ark, takes only "http://" / "https://" URLs: the call went through, so it was sent so.
    assert not result.is_error, result.content[0].text
    assert refused.is_error and "unsupported scheme 'ftp'" in refused.content[0].text


async def test_a_pending_job_keeps_running_after_the_client_goes_away(tmp_path: Path):
    env = server_env(tmp_path, SEEDREAM_SANDBOX_LATENCY="0.3", SEEDREAM_MCP_WAIT_SECONDS="0")
    server = await asyncio.create_subprocess_exec(BIN / "seedream-mcp", env=env, cwd=tmp_path,
                                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                  stderr=subprocess.DEVNULL)
    assert server.stdin is not None and server.stdout is not None

    async def ask(message: dict) -> dict | None:
        server.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        await server.stdin.drain()
        if "id" not in message:
            return None
        return json.loads(await asyncio.wait_for(server.stdout.readline(), timeout=60))

    await ask({"id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                                            "clientInfo": {"name": "test", "version": "0"}}})
    await ask({"method": "notifications/initialized"})
    answer = await ask({"id": 2, "method": "tools/call", "params": {
        "name": "generate_image", "arguments": {"prompt": "three boats", "series": 3, "size": "1K"}}})
    assert answer is not None
    pending = answer["result"]
    server.stdin.close()  # the client goes away while the job runs
    assert await asyncio.wait_for(server.wait(), timeout=60) == 0
    assert pending["structuredContent"]["pending"] is True
    assert "keeps running while this server runs, also if this call ends" in pending["content"][0]["text"]
    job = await run("seedream", "jobs", pending["structuredContent"]["job_id"], "--json", env=env, cwd=tmp_path)
    finished = json.loads(job.stdout)
    assert finished["status"] == "succeeded" and len(finished["images"]) == 3


async def test_a_job_database_server_that_does_not_answer_at_start_leaves_the_server_listing_and_saying_why(
        tmp_path: Path, http: HttpClient, emulator: EmulatorState, home: Path):
    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"postgresql://seedream:secret@127.0.0.1:{closed.getsockname()[1]}/jobs"
    server = build_server(settings=make_settings(tmp_path, database_url=url), mcp_settings=mcp_settings(home),
                          http=http)
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("generate_image", {"prompt": "a kite"})
    assert len(tools) == 5
    assert result.is_error
    text = result.content[0].text
    assert "does not answer" in text and "SEEDREAM_DATABASE_URL" in text and "secret" not in text
    assert sum(emulator.requests.values()) == 0
