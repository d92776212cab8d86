"""Crash safety: a real process killed with SIGKILL in the middle of a group generation, then started again.

Nothing half-written may look like an image (files are written to a hidden temporary name and renamed), and
the job must come back as INTERRUPTED with exactly the images that were saved — in the CLI and over MCP.

The killed process is a real ``seedream`` / ``seedream-mcp`` whose Ark base URL points at the emulator on
127.0.0.1, run by this test with a per-image latency so the group takes a while. (Not the in-process sandbox:
its ``httpx2.ASGITransport`` hands over a streamed answer only once it is complete, so every image of a
group arrives at once at the end.) Waiting for the first image is a bounded polling loop: there is no event
to wait on across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client
from PIL import Image

from core.factory import open_service
from core.http import HttpClient
from core.results import JobStatus
from core.service import OUTPUT_FOLDER_KEY
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.conftest import make_settings
from tests.reliability.harness import Emulator, emulator_server

# Kills land on processes using the embedded SQLite file, which these tests read directly; the same guarantees on
# PostgreSQL + Redis are tests/scaleout's.
pytestmark = pytest.mark.embedded

BIN = Path(sys.executable).parent
GROUP = 6
LATENCY = 0.4  # seconds per image: the kill lands while the group is being made


@pytest_asyncio.fixture
async def slow_ark() -> AsyncIterator[Emulator]:
    async with emulator_server(latency=LATENCY) as emulator:
        yield emulator


def env_for(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    ours = ("SEEDREAM_", "ARK_", "VOLC_", "CHANJING_")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return keep | {"HOME": str(tmp_path), "SEEDREAM_DATA_DIR": str(tmp_path / "data"),
                   "SEEDREAM_PROVIDER": "ark", "ARK_API_KEY": "crash-test-key",
                   "SEEDREAM_ARK_BASE_URL": emulator.base + "/api/v3"}


def first_saved(db: Path) -> str | None:
    """The job id of the first image the store has recorded (only read; the writer is another process).

    Not ``mode=ro``: a read-only connection may not map the WAL index and then sees only checkpointed data.
    """
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=1)) as connection:
            row = connection.execute("SELECT job_id FROM job_images LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return None
    return row[0] if row else None


async def wait_for_first_image(db: Path, process: asyncio.subprocess.Process) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.returncode is None:
        if job_id := first_saved(db):
            return job_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"no image was saved in time (exit code {process.returncode})")


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


def images_on_disk(folder: Path) -> list[Path]:
    """Every file that looks like an image; each must decode whole."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith((".json", ".part")))
    for path in found:
        with Image.open(path) as img:
            img.load()
    return found


def assert_only_whole_files(folder: Path) -> None:
    """Images, their sidecars, and (at most) hidden ``.part`` temporaries — never a partial visible file."""
    for path in folder.rglob("*"):
        if path.is_file():
            hidden_temp = path.name.startswith(".") and path.name.endswith(".part")
            assert path.name.endswith((".jpg", ".jpg.json")) or hidden_temp, path
    for sidecar in folder.rglob("*.jpg.json"):
        assert json.loads(sidecar.read_text())["file"] == sidecar.name.removesuffix(".json")


@pytest.mark.slow
async def test_a_cli_group_killed_midway_leaves_whole_images_and_an_interrupted_job_that_lists_them(
        tmp_path: Path, slow_ark: Emulator):
    env = env_for(tmp_path, slow_ark)
    db, images = tmp_path / "data" / "jobs.sqlite3", tmp_path / "data" / "images"
    cli = await asyncio.create_subprocess_exec(
        BIN / "seedream", "generate", "six lanterns", "--size", "1K", "--count", str(GROUP), "--json",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        job_id = await wait_for_first_image(db, cli)
    finally:
        await kill(cli)
    assert cli.returncode == -signal.SIGKILL

    shown = await asyncio.create_subprocess_exec(
        BIN / "seedream", "jobs", job_id, "--json", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await shown.communicate()
    assert shown.returncode == 0, err.decode()
    job = json.loads(out)

    saved = images_on_disk(images)
    assert_only_whole_files(images)
    assert job["status"] == "interrupted" and "stopped before the job finished" in job["error"]
    assert 1 <= len(saved) < GROUP and sorted(Path(i["path"]) for i in job["images"]) == saved
    assert list(images.rglob("*.part")) == []
    async with open_service(make_settings(tmp_path)) as service:
        record = await service.get_job(job_id)
    assert record.status is JobStatus.INTERRUPTED and sorted(i.path for i in record.images) == saved


@pytest.mark.slow
async def test_a_cli_job_killed_under_out_dir_is_recovered_from_that_folder_by_a_later_run_without_it(
        tmp_path: Path, slow_ark: Emulator):
    env = env_for(tmp_path, slow_ark)
    db, elsewhere = tmp_path / "data" / "jobs.sqlite3", tmp_path / "elsewhere"
    cli = await asyncio.create_subprocess_exec(
        BIN / "seedream", "generate", "six lanterns", "--size", "1K", "--count", str(GROUP), "--out", str(elsewhere),
        "--json", env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        job_id = await wait_for_first_image(db, cli)
    finally:
        await kill(cli)

    # A later run with the default output folder recovers the job from the folder it wrote to.
    shown = await asyncio.create_subprocess_exec(
        BIN / "seedream", "jobs", job_id, "--json", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await shown.communicate()
    assert shown.returncode == 0, err.decode()
    job = json.loads(out)
    saved = images_on_disk(elsewhere)
    assert_only_whole_files(elsewhere)
    assert job["status"] == "interrupted"
    assert 1 <= len(saved) < GROUP and sorted(Path(i["path"]) for i in job["images"]) == saved
    assert list(elsewhere.rglob("*.part")) == []
    with contextlib.closing(sqlite3.connect(db)) as connection:
        (extra,) = connection.execute("SELECT extra FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert json.loads(extra)[OUTPUT_FOLDER_KEY] == str(elsewhere)  # what recovery reads (see the test below)


def rpc(method: str, params: dict, ident: int | None = None) -> bytes:
    message = {"jsonrpc": "2.0", "method": method, "params": params} | ({"id": ident} if ident else {})
    return (json.dumps(message) + "\n").encode()


@pytest.mark.slow
async def test_an_mcp_server_killed_midway_reports_the_interrupted_job_and_its_images_through_get_job(
        tmp_path: Path, slow_ark: Emulator, http: HttpClient):
    db, images = tmp_path / "data" / "jobs.sqlite3", tmp_path / "data" / "images"
    server = await asyncio.create_subprocess_exec(
        BIN / "seedream-mcp", env=env_for(tmp_path, slow_ark), cwd=tmp_path, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert server.stdin is not None and server.stdout is not None
        client_info = {"name": "crash-test", "version": "0"}
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client_info}
        server.stdin.write(rpc("initialize", hello, 1))
        await server.stdin.drain()
        assert json.loads(await asyncio.wait_for(server.stdout.readline(), 60))["id"] == 1
        arguments = {"prompt": "six lanterns", "size": "1K", "count": GROUP}
        server.stdin.write(rpc("notifications/initialized", {}))
        server.stdin.write(rpc("tools/call", {"name": "generate_image", "arguments": arguments}, 2))
        await server.stdin.drain()
        job_id = await wait_for_first_image(db, server)
    finally:
        await kill(server)

    saved = images_on_disk(images)
    assert_only_whole_files(images)
    mcp = McpSettings(_env_file=None, allowed_dirs=str(tmp_path), heartbeat_seconds=3600.0)
    restarted = build_server(settings=make_settings(tmp_path), mcp_settings=mcp, http=http)
    async with Client(restarted, mode="legacy") as client:
        result = await client.call_tool("get_job", {"job_id": job_id, "previews": False})
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert data["status"] == "interrupted" and data["pending"] is False
    assert 1 <= len(saved) < GROUP and sorted(Path(i["path"]) for i in data["images"]) == saved


# Run in a child process: record a job, save image 0 and record it, save image 1 but die before recording
# it (the window between renaming a file into place and the store's commit), leave image 2 half-written.
DIES_IN_THE_WINDOW = """
import asyncio, base64, io, os, sys
from pathlib import Path
from PIL import Image
from core.http import HttpClient
from core.jobs import Requester
from core.jobs_sql import SqlJobStore
from core.providers.base import ImagePayload
from core.service import OUTPUT_FOLDER_KEY
from core.storage import ImageStorage, JobContext, file_stem

async def main(data, out):
    png = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(png, "PNG")
    b64 = base64.b64encode(png.getvalue()).decode()
    store = await SqlJobStore.connect(data / "jobs.sqlite3", output_dir=data / "images")
    job = await store.create(requester=Requester(adapter="cli"), request={"prompt": "p"}, parameters={},
                             provider="sandbox", model="seedream-4.0", prompt="three teal tiles")
    await store.mark_running(job.id)
    storage = ImageStorage(out, HttpClient.create())
    await store.set_extra(job.id, OUTPUT_FOLDER_KEY, str(out))  # as ImageService.start records it
    context = JobContext(job_id=job.id, prompt=job.prompt, provider="sandbox", model="seedream-4.0",
                         model_id="m", parameters={}, created_at=job.created_at)
    await store.add_image(job.id, await storage.save(ImagePayload(index=0, b64=b64), context))
    await storage.save(ImagePayload(index=1, b64=b64), context)
    folder = storage.root / job.created_at.strftime("%Y-%m-%d")
    (folder / f".{file_stem(context, 2)}.part").write_bytes(png.getvalue()[:40])
    print(job.id, flush=True)
    os._exit(0)  # no finish, no cleanup: as if killed

data = Path(sys.argv[1])
asyncio.run(main(data, Path(sys.argv[2]) if len(sys.argv) > 2 else data / "images"))
"""


@pytest.mark.parametrize("folder", ["data/images", "elsewhere"], ids=["default folder", "--out folder"])
async def test_an_image_saved_but_not_yet_recorded_when_the_process_died_is_recovered_from_its_sidecar(
        tmp_path: Path, folder: str):
    images = tmp_path / folder
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DIES_IN_THE_WINDOW, str(tmp_path / "data"), str(images), cwd=Path(__file__).parents[2],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await child.communicate()
    assert child.returncode == 0, err.decode()
    job_id = out.decode().strip()
    assert len(list(images.rglob(".*.part"))) == 1  # the half-written image 2

    async with open_service(make_settings(tmp_path)) as service:
        record = await service.get_job(job_id)
    assert record.status is JobStatus.INTERRUPTED
    assert [i.index for i in record.images] == [0, 1]
    assert [i.path for i in record.images] == images_on_disk(images)
    assert record.images[1].sidecar_path is not None and record.images[1].width == 64
    assert list(images.rglob("*.part")) == []  # the temporary file of the image that never finished is gone
