"""Helpers for the emulator's own tests: a client on the app through ``httpx2.ASGITransport``, SSE parsing,
reference images as data URIs, and a settable clock."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx2
from PIL import Image

from core.emulator import EmulatorConfig, EmulatorState, create_app

BASE_URL = "http://127.0.0.1:8790"  # EmulatorConfig's default public_base_url: result URLs point here
AUTH = {"Authorization": "Bearer test-key"}
ARK_PATH = "/api/v3/images/generations"
GATEWAY_PATH = "/v1/images/generations"


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: float = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def emulator(config: EmulatorConfig | None = None) -> AsyncIterator[tuple[httpx2.AsyncClient, EmulatorState]]:
    """A client talking to a fresh emulator app, and that app's state."""
    app = create_app(config or EmulatorConfig())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client, app.state.emulator


def decode(data: bytes) -> Image.Image:
    """The image in ``data``, fully loaded."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def data_uri(width: int, height: int, fmt: str = "png", *, declared: str | None = None,
             color: tuple[int, int, int] = (200, 40, 90), mode: str = "RGB") -> str:
    """A real image of that size as ``data:image/<declared or fmt>;base64,…``."""
    out = io.BytesIO()
    Image.new(mode, (width, height), color if mode == "RGB" else 0).save(out, fmt.upper())
    return f"data:image/{declared or fmt};base64,{base64.b64encode(out.getvalue()).decode()}"


@dataclass(frozen=True)
class SseEvent:
    event: str | None
    data: str

    def json(self) -> dict[str, object]:
        return json.loads(self.data)


def parse_sse(text: str) -> list[SseEvent]:
    """The events of a complete ``text/event-stream`` body."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        events.append(SseEvent(event, "\n".join(data)))
    return events


async def until(predicate: Callable[[], bool], *, turns: int = 10_000) -> None:
    """Let other tasks run until ``predicate()`` holds (no wall-clock waiting)."""
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never became true")


def ark_body(**fields: object) -> dict[str, object]:
    """A small valid Seedream 4.0 request (1K keeps the rendered images small), overridden by ``fields``."""
    body: dict[str, object] = {"model": "doubao-seedream-4-0-250828", "prompt": "a red fox in snow",
                               "size": "1K", "watermark": False}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}
