"""Issue 11's acceptance through the real ``seedream`` command (a subprocess) against the emulator on
uvicorn at 127.0.0.1, every request body it receives recorded."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.emulator import EmulatorConfig, EmulatorState, create_app
from tests.core.test_cli import SEEDREAM
from tests.reliability.harness import serve

ENDPOINT = "ep-20250101000000-abcde"


@dataclass
class RecordingApp:
    """An ASGI app that keeps each POST body before passing the request on."""

    app: ASGIApp
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        self.bodies.append((scope["path"], json.loads(body)))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def sent(self, path: str) -> list[dict[str, Any]]:
        return [body for where, body in self.bodies if where == path]


@dataclass
class Server:
    base: str
    state: EmulatorState
    recorder: RecordingApp


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = EmulatorState(EmulatorConfig(ark_endpoints={ENDPOINT: "doubao-seedream-4-0-250828"}))
    recorder = RecordingApp(create_app(state=state))
    async with serve(recorder) as base:
        state.config.public_base_url = base
        yield Server(base, state, recorder)


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


async def seedream(*args: str, tmp_path: Path, **env: str) -> Done:
    """The command as a user runs it (awaited, so the server in this event loop keeps answering)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDREAM_", "ARK_", "VOLC_", "CHANJING_"))}
    clean |= {"SEEDREAM_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)} | env
    process = await asyncio.create_subprocess_exec(SEEDREAM, *args, env=clean, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Done(process.returncode, stdout.decode(), stderr.decode())


def ark(server: Server, **env: str) -> dict[str, str]:
    return {"ARK_API_KEY": "ark-key", "SEEDREAM_ARK_BASE_URL": server.base + "/api/v3", **env}


ARK_PATH = "/api/v3/images/generations"


async def test_an_endpoint_id_is_sent_as_the_model_and_its_image_saved(server: Server, tmp_path: Path):
    done = await seedream("generate", "a fox", "--provider", "ark", "--model", ENDPOINT, "--json",
                          tmp_path=tmp_path, **ark(server))
    assert done.returncode == 0, done.stderr
    (body,) = server.recorder.sent(ARK_PATH)
    assert body["model"] == ENDPOINT
    result = json.loads(done.stdout)
    (image,) = result["images"]
    assert Path(image["path"]).is_file()
    (note,) = result["notes"]
    assert ENDPOINT in note and "SEEDREAM_ARK_ENDPOINTS" in note


async def test_a_mapped_endpoint_refuses_a_series_its_model_cannot_make_before_any_call(server: Server,
                                                                                       tmp_path: Path):
    env = ark(server, SEEDREAM_ARK_ENDPOINTS=f"{ENDPOINT}=seedream-3.0")
    done = await seedream("generate", "a fox", "--provider", "ark", "--model", ENDPOINT, "--series", "2",
                          tmp_path=tmp_path, **env)
    assert done.returncode == 2 and "Invalid series" in done.stderr and "seedream-3.0" in done.stderr
    assert server.recorder.sent(ARK_PATH) == [] and server.state.requests["ark"] == 0


async def test_seedream_3_sends_its_documents_sizes(server: Server, tmp_path: Path):
    wide = await seedream("generate", "a fox", "--provider", "ark", "--model", "seedream-3.0", "--size", "16:9",
                          tmp_path=tmp_path, **ark(server))
    default = await seedream("generate", "a fox", "--provider", "ark", "--model", "seedream-3.0",
                             tmp_path=tmp_path, **ark(server))
    assert (wide.returncode, default.returncode) == (0, 0), wide.stderr + default.stderr
    assert [b["size"] for b in server.recorder.sent(ARK_PATH)] == ["1024x576", "1024x1024"]


async def test_seedream_4_with_eleven_references_exits_2_before_any_call_and_ten_are_sent(server: Server,
                                                                                          tmp_path: Path):
    refs = []
    for i in range(11):
        path = tmp_path / f"ref{i}.png"
        Image.new("RGB", (64, 64), (i * 20, 40, 90)).save(path)
        refs += ["--image", str(path)]
    eleven = await seedream("generate", "fuse them", "--provider", "ark", *refs, tmp_path=tmp_path, **ark(server))
    assert eleven.returncode == 2 and "Invalid images" in eleven.stderr and "0–10" in eleven.stderr
    assert server.state.requests["ark"] == 0
    ten = await seedream("generate", "fuse them", "--provider", "ark", *refs[:20], "--size", "1K",
                         tmp_path=tmp_path, **ark(server))
    assert ten.returncode == 0, ten.stderr
    (body,) = server.recorder.sent(ARK_PATH)
    assert len(body["image"]) == 10 and body["image"][0].startswith("data:image/png;base64,")
    assert base64.b64decode(body["image"][0].split(",", 1)[1])[:4] == b"\x89PNG"


async def test_a_chanjing_job_past_its_deadline_is_completed_later_by_seedream_jobs(server: Server,
                                                                                   tmp_path: Path):
    env = {"CHANJING_APP_ID": "app", "CHANJING_SECRET_KEY": "secret", "SEEDREAM_CHANJING_BASE_URL": server.base,
           "SEEDREAM_CHANJING_POLL_INTERVAL": "0.05", "SEEDREAM_CHANJING_DEADLINE": "0.3"}
    server.state.hold = asyncio.Event()  # the task stays Generating past the command's deadline
    first = await seedream("generate", "a lighthouse", "--provider", "chanjing", "--json", tmp_path=tmp_path, **env)
    assert first.returncode == 4, first.stderr
    pending = json.loads(first.stdout)
    assert pending["status"] == "running" and pending["images"] == []
    assert f"seedream jobs {pending['id']}" in pending["notes"][-1]
    listed = await seedream("jobs", "--json", tmp_path=tmp_path, **env)
    assert [job["status"] for job in json.loads(listed.stdout)] == ["running"]  # not marked interrupted

    server.state.hold.set()  # the task finishes at Chanjing meanwhile
    later = await seedream("jobs", pending["id"], "--json", tmp_path=tmp_path, **env)
    assert later.returncode == 0, later.stderr
    job = json.loads(later.stdout)
    assert job["status"] == "succeeded" and len(job["images"]) == 1
    with Image.open(io.BytesIO(Path(job["images"][0]["path"]).read_bytes())) as image:
        assert image.size == (2048, 2048)
    assert len(server.recorder.sent("/open/v1/ai_creation/task/submit")) == 1  # never submitted twice
