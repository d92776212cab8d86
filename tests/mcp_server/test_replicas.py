"""``seedream-mcp --transport http`` as replicas: two real HTTP servers on loopback sharing one job store and one
output folder (the SQLite file, or PostgreSQL + Redis under ``--backends=services``). Any replica answers
``get_job``, the Tasks extension and the image resources for a job another replica runs, with its progress while
it runs; a cancel reaches the replica running the job. Named bearer tokens (``SEEDREAM_MCP_TOKENS_FILE``) make
each person's jobs, history and daily quota their own."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import ImageContent

from core.emulator import EmulatorState, create_app
from core.emulator.transport import StreamingASGITransport
from core.errors import ConfigurationError
from core.factory import open_backends, open_service
from core.http import HttpClient, RetryPolicy
from core.sandbox import SANDBOX_ORIGIN
from mcp_server.http import http_server, loopback_socket
from mcp_server.identity import load_tokens
from mcp_server.quota import quota_key
from mcp_server.server import build_server
from tests.conftest import RecordingSleep, make_settings
from tests.hostile_env import clean_env, run
from tests.mcp_server.conftest import mcp_settings
from tests.mcp_server.provider_edge import HoldAfterFirstImage
from tests.mcp_server.tasks_client import TasksClient, cancel_task, get_task, until_job_done

OPERATOR = "operator-token-0123456789"
ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef"
NAMED = {ALICE: "alice", BOB: "bob"}
SERIES = {"prompt": "four seasons", "size": "1K", "series": 4}


@pytest.fixture
async def held(emulator: EmulatorState, sleep: RecordingSleep) -> AsyncIterator[tuple[HttpClient, HoldAfterFirstImage]]:
    """The replicas' provider: a streamed group stops after its first image until ``edge.release`` is set."""
    edge = HoldAfterFirstImage(create_app(state=emulator))
    http = HttpClient.create(mounts={SANDBOX_ORIGIN: StreamingASGITransport(edge)}, sleep=sleep,
                             retry=RetryPolicy(max_retries=0))
    try:
        yield http, edge
    finally:
        edge.release.set()
        await http.aclose()


@asynccontextmanager
async def replica(tmp_path: Path, home: Path, http: HttpClient, **overrides: Any) -> AsyncIterator[str]:
    """One ``seedream-mcp --transport http`` on a free loopback port, on the test's shared job store and output
    folder; yields its URL. Accepts ``OPERATOR`` and the ``NAMED`` tokens."""
    values = {"follow_poll_seconds": 0.02} | overrides
    server = build_server(settings=make_settings(tmp_path), mcp_settings=mcp_settings(home, **values), http=http)
    sock = loopback_socket()
    port = sock.getsockname()[1]
    uvicorn_server = http_server(server, host="127.0.0.1", port=port, token=OPERATOR, named=NAMED)
    serving = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        uvicorn_server.should_exit = True
        await serving
        sock.close()


@asynccontextmanager
async def client(url: str, token: str, *, tasks: bool = False) -> AsyncIterator[Client]:
    """A real MCP client over Streamable HTTP with ``token``; ``tasks``: on the 2026-07-28 wire, declaring the
    Tasks extension (else the legacy wire, with sessions)."""
    extensions: Sequence[ClientExtension] = [TasksClient(until_job_done)] if tasks else []
    authed = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with authed, Client(streamable_http_client(url, http_client=authed), mode="auto" if tasks else "legacy",
                              extensions=extensions) as connected:
        yield connected


class SavedImages:
    """A progress callback that records the messages and sets ``first`` once image 1 is saved."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.any = asyncio.Event()
        self.messages: list[str] = []
        self.values: list[float] = []

    async def __call__(self, value: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")
        self.values.append(value)
        self.any.set()
        if (message or "").startswith("Image 1 saved"):
            self.first.set()


async def started_on(url: str, token: str, progress: SavedImages) -> asyncio.Task[Any]:
    """Start the held series on the replica at ``url``; the call, once the job's first image is saved."""
    async def call() -> Any:
        async with client(url, token) as a:
            return await a.call_tool("generate_image", SERIES, progress_callback=progress)

    calling = asyncio.create_task(call())
    await progress.first.wait()
    return calling


async def job_id_of(url: str, token: str) -> str:
    async with client(url, token) as c:
        listing = await c.call_tool("list_jobs", {"limit": 1})
    return listing.structured_content["jobs"][0]["job_id"]


async def test_replica_b_answers_for_a_job_replica_a_runs_with_its_progress_and_after_it_ends(
        tmp_path: Path, home: Path, held: tuple[HttpClient, HoldAfterFirstImage]):
    http, edge = held
    progress = SavedImages()
    async with replica(tmp_path, home, http) as a_url, replica(tmp_path, home, http, wait_seconds=0) as b_url:
        calling = await started_on(a_url, OPERATOR, progress)
        job_id = await job_id_of(b_url, OPERATOR)
        async with client(b_url, OPERATOR, tasks=True) as b:
            running = await b.call_tool("get_job", {"job_id": job_id})
            task = await get_task(b.session, job_id)
            image = await b.read_resource(f"seedream://jobs/{job_id}/images/0")
            preview = await b.read_resource(f"seedream://jobs/{job_id}/images/0/preview")
            as_json = await b.read_resource(f"seedream://jobs/{job_id}")
            listed = [str(r.uri) for r in (await b.list_resources()).resources]
            edge.release.set()
            finished_on_a = await calling
            done = await b.call_tool("get_job", {"job_id": job_id, "previews": False})
            completed = await get_task(b.session, job_id)
            last = await b.read_resource(f"seedream://jobs/{job_id}/images/3")
    data = running.structured_content
    assert (data["status"], data["pending"], [i["index"] for i in data["images"]]) == ("running", True, [0])
    assert len([c for c in running.content if isinstance(c, ImageContent)]) == 1  # its preview, made on B
    assert (task.status, task.status_message) == ("working", "Generating: 1 of 4 image(s) saved")
    saved = Path(data["images"][0]["path"])
    assert base64.b64decode(image.contents[0].blob) == saved.read_bytes()
    assert preview.contents[0].mime_type == "image/jpeg"
    assert json.loads(as_json.contents[0].text)["pending"] is True
    assert f"seedream://jobs/{job_id}/images/0" in listed
    assert finished_on_a.structured_content["status"] == "succeeded"
    assert (done.structured_content["status"], done.structured_content["pending"]) == ("succeeded", False)
    assert done.structured_content["images"] == finished_on_a.structured_content["images"]
    assert (completed.status, completed.status_message) == ("completed", "succeeded, 4 image(s) saved")
    assert base64.b64decode(last.contents[0].blob) == Path(done.structured_content["images"][3]["path"]).read_bytes()


async def test_get_job_on_replica_b_waits_for_a_job_replica_a_runs_and_reports_its_progress(
        tmp_path: Path, home: Path, held: tuple[HttpClient, HoldAfterFirstImage]):
    http, edge = held
    on_a, on_b = SavedImages(), SavedImages()
    async with replica(tmp_path, home, http) as a_url, replica(tmp_path, home, http, heartbeat_seconds=0.01) as b_url:
        calling = await started_on(a_url, OPERATOR, on_a)
        job_id = await job_id_of(b_url, OPERATOR)
        async with client(b_url, OPERATOR) as b:
            waiting = asyncio.create_task(b.call_tool("get_job", {"job_id": job_id}, progress_callback=on_b))
            await on_b.any.wait()  # B is following the running job (a heartbeat)
            edge.release.set()
            result = await waiting
        await calling
    data = result.structured_content
    assert (data["status"], data["pending"], len(data["images"])) == ("succeeded", False, 4)
    assert on_b.messages[0].startswith("Still generating (1 image(s) done")
    assert [m.split(" saved")[0] for m in on_b.messages if " saved" in m] == ["Image 2", "Image 3", "Image 4"]
    assert on_b.messages[-1] == "Finished: succeeded"
    assert all(b > a for a, b in zip(on_b.values, on_b.values[1:], strict=False)) and on_b.values[-1] == 5.0


async def test_a_task_cancelled_on_replica_b_is_stopped_by_replica_a_with_the_saved_image_kept(
        tmp_path: Path, home: Path, held: tuple[HttpClient, HoldAfterFirstImage]):
    http, _edge = held
    progress = SavedImages()
    async with replica(tmp_path, home, http) as a_url, replica(tmp_path, home, http) as b_url:
        calling = await started_on(a_url, OPERATOR, progress)
        job_id = await job_id_of(b_url, OPERATOR)
        async with client(b_url, OPERATOR, tasks=True) as b:
            await cancel_task(b.session, job_id)  # answers once A has stopped the job
            task = await get_task(b.session, job_id)
        on_a = await calling
    assert task.status == "cancelled" and "the 1 image(s) saved before that are kept" in task.status_message
    data = on_a.structured_content
    assert (data["status"], data["error_kind"], len(data["images"])) == ("interrupted", "cancelled", 1)


async def test_named_users_see_only_their_own_jobs_on_every_replica_and_the_operator_sees_all(
        tmp_path: Path, home: Path, http: HttpClient):
    async with replica(tmp_path, home, http) as a_url, replica(tmp_path, home, http) as b_url:
        async with client(a_url, ALICE) as alice_on_a:
            alices = await alice_on_a.call_tool("generate_image", {"prompt": "a red kite", "size": "1K"})
        async with client(b_url, BOB) as bob_on_b:
            bobs = await bob_on_b.call_tool("generate_image", {"prompt": "a blue kite", "size": "1K"})
        alice_job, bob_job = alices.structured_content["job_id"], bobs.structured_content["job_id"]
        async with client(b_url, ALICE, tasks=True) as alice:
            own = await alice.call_tool("get_job", {"job_id": alice_job, "previews": False})
            listed = await alice.call_tool("list_jobs", {})
            resources = [str(r.uri) for r in (await alice.list_resources()).resources]
            other = await alice.call_tool("get_job", {"job_id": bob_job})
            with pytest.raises(MCPError) as image:
                await alice.read_resource(f"seedream://jobs/{bob_job}/images/0")
            with pytest.raises(MCPError) as task:
                await get_task(alice.session, bob_job)
            with pytest.raises(MCPError) as cancel:
                await cancel_task(alice.session, bob_job)
        async with client(a_url, OPERATOR) as operator:
            everyone = await operator.call_tool("list_jobs", {})
    assert not own.is_error and [j["job_id"] for j in listed.structured_content["jobs"]] == [alice_job]
    assert resources == [f"seedream://jobs/{alice_job}/images/0"]
    assert other.is_error and other.structured_content["error_kind"] == "job_not_found"
    assert f"No job with id {bob_job!r}" in image.value.message
    assert "Task not found" in task.value.message and "Task not found" in cancel.value.message
    assert {j["job_id"] for j in everyone.structured_content["jobs"]} == {alice_job, bob_job}
    async with open_service(make_settings(tmp_path), http=http) as service:
        recorded = await service.get_job(alice_job)
    assert (recorded.requester.adapter, recorded.requester.user_id) == ("mcp", "alice")


@pytest.mark.parametrize("content, problem", [
    (None, "cannot be read (No such file or directory)"),
    ('{"t1": "alice",', "is not JSON (line 1:"),
    ('["alice"]', "must hold one JSON object mapping each token to a user name"),
    ("{}", "lists no tokens"),
    ('{"tok-alice-1": "alice", "tok-alice-1": "bob"}',
     "entry 2 (user 'bob'): the same token is already given to 'alice'; each token must name one person"),
    ('{"tok-alice-1": " "}', "entry 1: the user name must be a non-empty string, not ' '"),
    ('{"tok-alice-1": 7}', "entry 1: the user name must be a non-empty string, not 7"),
    ('{"": "alice"}', "entry 1 (user 'alice'): the token is empty or has spaces around it"),
    (f'{{"{OPERATOR}": "alice"}}', "entry 1 (user 'alice'): the token is also SEEDREAM_MCP_TOKEN"),
])
def test_a_bad_tokens_file_is_refused_naming_the_variable_and_the_problem_never_a_token(
        tmp_path: Path, content: str | None, problem: str):
    path = tmp_path / "tokens.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError) as refused:
        load_tokens(path, operator_token=OPERATOR)
    message = refused.value.message
    assert message.startswith(f"SEEDREAM_MCP_TOKENS_FILE={path}: the file {problem}")
    assert "tok-alice-1" not in message and OPERATOR not in message


async def test_seedream_mcp_with_a_bad_tokens_file_stops_at_start_up_with_one_line(tmp_path: Path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tok-alice-1": "alice", "tok-alice-1": "bob"}')
    env = clean_env(tmp_path, SEEDREAM_PROVIDER="sandbox", SEEDREAM_MCP_TOKENS_FILE=str(tokens))
    done = await run("seedream-mcp", "--transport", "http", "--port", "0", env=env, cwd=tmp_path)
    assert done.code == 2 and done.stdout == ""
    assert done.line == (f"seedream-mcp: SEEDREAM_MCP_TOKENS_FILE={tokens}: the file entry 2 (user 'bob'): the same "
                         "token is already given to 'alice'; each token must name one person.")


async def test_each_named_user_has_a_daily_quota_shared_by_the_replicas_and_unmade_images_are_given_back(
        tmp_path: Path, home: Path, http: HttpClient):
    async with replica(tmp_path, home, http, user_daily_images=3) as a_url, \
            replica(tmp_path, home, http, user_daily_images=3) as b_url:
        async with client(a_url, ALICE) as alice_on_a, client(b_url, ALICE) as alice_on_b:
            first = await alice_on_a.call_tool("generate_image", {"prompt": "a kite", "size": "1K", "count": 2})
            over = await alice_on_b.call_tool("generate_image", {"prompt": "a kite", "size": "1K", "count": 2})
            refused = await alice_on_b.call_tool("generate_image", {"prompt": "a kite [refuse:0]", "size": "1K"})
            await quota_settles(tmp_path, user="alice", used=2)  # the refused image is given back
            last = await alice_on_a.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
            spent = await alice_on_b.call_tool("generate_image", {"prompt": "a kite", "size": "1K"})
        async with client(b_url, BOB) as bob, client(a_url, OPERATOR) as operator:
            bobs = await bob.call_tool("generate_image", {"prompt": "a kite", "size": "1K", "count": 3})
            operators = await operator.call_tool("generate_image", {"prompt": "a kite", "size": "1K", "count": 4})
    assert not first.is_error and not last.is_error
    assert over.is_error and over.structured_content["error_kind"] == "quota_exceeded"
    assert over.content[0].text.startswith(
        "alice has 1 of 3 images left today (SEEDREAM_MCP_USER_DAILY_IMAGES) and this asks for 2. Ask for fewer")
    assert refused.structured_content["status"] == "failed"
    assert spent.is_error and "alice has 0 of 3 images left today" in spent.content[0].text
    assert not bobs.is_error and not operators.is_error  # bob's own quota; the operator has none


async def quota_settles(tmp_path: Path, *, user: str, used: int) -> None:
    """Wait until ``user``'s quota counter reads ``used`` (it is settled after the job's run ends)."""
    day = datetime.now(UTC).date().isoformat()
    async with open_backends(make_settings(tmp_path)) as backends:
        deadline = asyncio.get_running_loop().time() + 30
        while await backends.counters.quota_used(key=quota_key(user), day=day) != used:
            assert asyncio.get_running_loop().time() < deadline, f"{user}'s quota never settled at {used}"
            await asyncio.sleep(0.005)
