"""The MCP server against hostile clients: thousands of generated tool calls through one real server and
in-memory client, and the HTTP transport's bearer check against every way of getting it wrong.

(tests/mcp_server covers the path rules — outside the roots, ``..``, symlinks, file:// — and the plain
missing/wrong token cases; SECURITY.md lists them.)
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from core.emulator import EmulatorConfig, EmulatorState, Fault
from core.http import HttpClient, RetryPolicy
from core.sandbox import SANDBOX_ORIGIN, sandbox_mount
from mcp_server.http import http_server, loopback_socket
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.conftest import make_settings
from tests.security.files import make_hostile_files

EXAMPLES = 1000
TEXT = st.text(max_size=20)
JUNK = st.one_of(st.sampled_from([None, True, 0, -1, 10**30, 1.5, float("nan"), "", [], {}, ["a"], {"k": 1}]),
                 st.integers(), TEXT)


def arguments(allowed: Path, outside: Path) -> st.SearchStrategy[dict[str, Any]]:
    good = base64.b64encode((allowed / "good.png").read_bytes()).decode()
    refs = st.sampled_from([
        str(allowed / "good.png"), f"file://{allowed}/good.png", str(outside / "secret.png"),
        f"{allowed}/../outside/secret.png", f"{allowed}/escape.png", f"{allowed}/escape-dir/secret.png",
        f"{allowed}/bomb.png", f"{allowed}/giant.png", f"{allowed}/sixty-megabytes.png", "/etc/passwd",
        "~/.ssh/id_rsa", "relative.png", "https://example.com/a.png", "ftp://example.com/a.png",
        f"data:image/png;base64,{good}", "data:text/plain;base64,aGk=", f"{allowed}/good.png\x00"])
    fields: dict[str, st.SearchStrategy[Any]] = {
        "prompt": st.one_of(st.sampled_from(["a fox", "x" * 5000, "a\x00b", "🦊"]), TEXT, JUNK),
        "model": st.one_of(st.sampled_from(["seedream-4.0", "seededit-3.0", "seedream-3.0", "nope"]), JUNK),
        "size": st.one_of(st.sampled_from(["1K", "2K", "1024x1024", "16:9", "0x0", "99999x99999"]), JUNK),
        "aspect_ratio": st.one_of(st.sampled_from(["16:9", "1:0"]), JUNK),
        "count": st.one_of(st.integers(-2, 20), JUNK),
        "seed": st.one_of(st.integers(-2, 2**33), JUNK),
        "guidance": st.one_of(st.floats(), JUNK),
        "watermark": st.one_of(st.booleans(), JUNK),
        "output_format": st.one_of(st.sampled_from(["jpeg", "png", "gif"]), JUNK),
        "provider": st.one_of(st.sampled_from(["sandbox", "sandbox-visual", "ark", "nope"]), JUNK),
        "images": st.one_of(st.lists(refs, max_size=4), JUNK),
        "job_id": st.one_of(st.sampled_from(["nope", "../../etc", "' OR 1=1 --"]), TEXT, JUNK),
        "limit": st.one_of(st.integers(-5, 100), JUNK),
        "bogus": JUNK,
    }
    return st.fixed_dictionaries({}, optional=fields)


class McpWorker:
    """One in-memory client kept open in one task, serving calls for the synchronous hypothesis test (a
    client's task group must be entered and left in the same task)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Any) -> None:
        self.loop = loop
        self._calls: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]] | None] = asyncio.Queue()
        self._ready: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._serve(server))
        loop.run_until_complete(self._ready)

    async def _serve(self, server: Any) -> None:
        async with Client(server, mode="legacy") as client:
            self._ready.set_result(None)
            while (call := await self._calls.get()) is not None:
                tool, args, answer = call
                try:
                    answer.set_result(await client.call_tool(tool, args))
                except Exception as exc:  # a protocol-level failure: the test reports it
                    answer.set_exception(exc)

    def call(self, tool: str, args: dict[str, Any]) -> Any:
        answer: asyncio.Future[Any] = self.loop.create_future()
        self._calls.put_nowait((tool, args, answer))
        return self.loop.run_until_complete(answer)

    def close(self) -> None:
        self._calls.put_nowait(None)
        self.loop.run_until_complete(self._task)


def test_any_tool_arguments_give_a_clear_result_and_refusals_reach_no_provider(tmp_path: Path):
    files = make_hostile_files(tmp_path / "files")
    emulator = EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN))
    # Valid requests fail fast at the provider (not retried): this test is about the server, not images.
    emulator.add_fault(Fault("ark", status=400, code="InvalidParameter", times=10**6))
    emulator.add_fault(Fault("visual", code=50215, times=10**6))
    loop = asyncio.new_event_loop()
    http = HttpClient.create(mounts=sandbox_mount(emulator), retry=RetryPolicy(max_retries=0))
    mcp = McpSettings(_env_file=None, allowed_dirs=str(files.allowed), inline_budget=0,
                      heartbeat_seconds=3600.0)
    worker = McpWorker(loop, build_server(settings=make_settings(tmp_path), mcp_settings=mcp, http=http))
    seen = {"invalid": 0, "other": 0}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(tool=st.sampled_from(["generate_image", "edit_image", "get_job", "list_jobs", "list_models"]),
           args=arguments(files.allowed, files.outside))
    def check(tool: str, args: dict[str, Any]) -> None:
        before = emulator.requests.total()
        result = worker.call(tool, args)
        assert result.content and result.content[0].type == "text"
        text = json.dumps(result.model_dump(mode="json"), ensure_ascii=False)
        assert "Traceback" not in text and "secret.png" not in text.replace(str(files.outside), "")
        assert "#!/bin/sh" not in text  # a refused file's content is never echoed
        if result.is_error and (result.structured_content or {}).get("error_kind") == "invalid_request":
            assert emulator.requests.total() == before, result.content[0].text
            seen["invalid"] += 1
        else:
            seen["other"] += 1

    try:
        check()
    finally:
        worker.close()
        loop.run_until_complete(http.aclose())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    assert seen["invalid"] > EXAMPLES // 4 and seen["other"] > EXAMPLES // 10


# -- the HTTP transport's bearer token ----------------------------------------------------------------------

TOKEN = "s3cret-token-6f1d"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mcp_http(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """``seedream-mcp --transport http`` as the entry point builds it, on 127.0.0.1 (one for the module)."""
    emulator = EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN))
    http = HttpClient.create(mounts=sandbox_mount(emulator))
    settings = make_settings(tmp_path_factory.mktemp("mcp-http"))
    server = build_server(settings=settings, mcp_settings=McpSettings(_env_file=None), http=http)
    sock = loopback_socket()
    uvicorn_server = http_server(server, host="127.0.0.1", port=sock.getsockname()[1], token=TOKEN)
    serving = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        uvicorn_server.should_exit = True
        await serving
        sock.close()
        await http.aclose()


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "intruder", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}
WRONG_CREDENTIALS = [
    ("no header", {}, ""),
    ("a bare scheme", {"Authorization": "Bearer"}, ""),
    ("the scheme in lower case and a space too many", {"Authorization": f"bearer  {TOKEN}"}, ""),
    ("wrong token", {"Authorization": "Bearer nope"}, ""),
    ("the token with something appended", {"Authorization": f"Bearer {TOKEN}x"}, ""),
    ("a prefix of the token", {"Authorization": f"Bearer {TOKEN[:-1]}"}, ""),
    ("the token without the scheme", {"Authorization": TOKEN}, ""),
    ("the token as Basic credentials", {"Authorization": "Basic " + base64.b64encode(
        f"user:{TOKEN}".encode()).decode()}, ""),
    ("the token in the query string", {}, f"?token={TOKEN}&access_token={TOKEN}"),
    ("the token in another header", {"X-Api-Key": TOKEN, "Cookie": f"token={TOKEN}"}, ""),
]


ROUTES = [("POST", "/mcp"), ("GET", "/mcp"), ("DELETE", "/mcp"), ("GET", "/"), ("POST", "/mcp/"),
          ("GET", "/docs")]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case, headers, query", WRONG_CREDENTIALS, ids=[c[0] for c in WRONG_CREDENTIALS])
async def test_the_http_transport_refuses_every_request_without_exactly_the_bearer_token(
        mcp_http: str, case: str, headers: dict[str, str], query: str):
    async with httpx2.AsyncClient(timeout=30) as raw:
        for method, path in ROUTES:
            answer = await raw.request(method, mcp_http + path + query, headers=ACCEPT | headers,
                                       json=INITIALIZE if method == "POST" else None)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert TOKEN not in answer.text and "serverInfo" not in answer.text


@pytest.mark.asyncio(loop_scope="module")
async def test_the_right_token_is_let_in(mcp_http: str):
    async with httpx2.AsyncClient(timeout=30) as raw:
        answer = await raw.post(mcp_http + "/mcp", json=INITIALIZE,
                                headers=ACCEPT | {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and "serverInfo" in answer.text
