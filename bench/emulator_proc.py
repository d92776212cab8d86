"""The emulator in its own process for the benchmarks, so its CPU and memory are never counted as ours.

``python -m bench.emulator_proc [--port 0]`` binds 127.0.0.1, prints one JSON line ``{"port": P}`` on stdout
once the socket listens, and serves ``core.emulator.create_app`` behind a thin front that adds:

* ``POST /bench/configure`` — reset the counters and set the knobs a scenario needs (``latency``,
  ``ark_concurrency``, ``ark_images_per_minute``, ``url_ttl``, ``max_result_bytes``) and a fault schedule:
  ``faults`` is a list of ``{"at": n, ...Fault fields}``; the fault is scripted just before the n-th (1-based)
  generation request.
* ``GET /bench/stats`` — the emulator's counters plus what the front observed: answers per route and status
  (429s are the provider's rejections) and, per generation request, its start, end, status and the moment its
  headers went out (with the first image, for a stream) on the shared monotonic clock (``time.monotonic`` is
  ``CLOCK_MONOTONIC``, the same in every process on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.emulator import EmulatorConfig, EmulatorState, Fault, create_app
from core.emulator.sse import ConnectionDropped

KNOBS = ("latency", "ark_concurrency", "ark_images_per_minute", "url_ttl", "max_result_bytes")
GENERATION_PATHS = ("/api/v3/images/generations", "/api/plan/v3/images/generations", "/v1/images/generations")


@dataclass
class FrontRecord:
    """What the front saw since the last ``configure``."""

    statuses: Counter[str] = field(default_factory=Counter)  # "ark 429" → count
    # per generation request: (start, end, status, headers sent) — Ark sends headers with the first image
    spans: list[tuple[float, float, int, float]] = field(default_factory=list)
    generation_requests: int = 0
    connections: set[tuple[str, int]] = field(default_factory=set)  # client (host, port) of those requests
    schedule: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class BenchFront:
    """ASGI wrapper: the control routes, counting, and the fault schedule."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state
        self.record = FrontRecord()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/bench/"):
            await self._control(scope, receive, send)
            return
        generation = scope["method"] == "POST" and path in GENERATION_PATHS
        if generation:
            self.record.generation_requests += 1
            if scope.get("client"):
                self.record.connections.add(tuple(scope["client"]))
            for spec in self.record.schedule.pop(self.record.generation_requests, []):
                self.state.add_fault(Fault(**spec))
        route = "ark" if generation else ("files" if path.startswith("/emulator/files/") else "other")
        started, status, headers_at = time.monotonic(), 0, 0.0

        async def counting_send(message: Message) -> None:
            nonlocal status, headers_at
            if message["type"] == "http.response.start":
                status, headers_at = message["status"], time.monotonic()
                self.record.statuses[f"{route} {status}"] += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if generation:
                self.record.spans.append((started, time.monotonic(), status, headers_at))

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/bench/configure" and scope["method"] == "POST":
            self.configure(json.loads(body or b"{}"))
            answer: dict[str, Any] = {"ok": True}
        elif scope["path"] == "/bench/stats":
            answer = self.stats()
        else:
            answer = {"error": "unknown control route"}
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def configure(self, wanted: dict[str, Any]) -> None:
        """Reset every counter and fault, then apply ``wanted``."""
        for knob in KNOBS:
            if knob in wanted:
                setattr(self.state.config, knob, wanted[knob])
        self.state.faults.clear()
        self.state.requests.clear()
        self.state.generated.clear()
        self.state.files.clear()
        self.record = FrontRecord()
        for spec in wanted.get("faults", []):
            spec = dict(spec)
            self.record.schedule.setdefault(int(spec.pop("at")), []).append(spec)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.state.requests),
            "generated": dict(self.state.generated),
            "in_flight": dict(self.state.in_flight),
            "statuses": dict(self.record.statuses),
            "generation_requests": self.record.generation_requests,
            "generation_connections": len(self.record.connections),
            "spans": self.record.spans,
            "faults_left": sum(f.times for f in self.state.faults)
            + sum(len(v) for v in self.record.schedule.values()),
        }


class _QuietScriptedDrops(logging.Filter):
    """A scripted dropped connection (a ``truncate``/``reset`` fault) is the point, not an error to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


async def serve(port: int) -> None:
    """Bind, announce the port on stdout, serve until SIGTERM/SIGINT."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it
    # Nagle holds the body behind the headers for a delayed ACK (+40 ms per kept-alive request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)  # connections wait in the backlog until uvicorn accepts them
    bound = sock.getsockname()[1]
    app = create_app(EmulatorConfig(public_base_url=f"http://127.0.0.1:{bound}"))
    front = BenchFront(app, app.state.emulator)
    server = uvicorn.Server(
        uvicorn.Config(
            front, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30, backlog=512
        )
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietScriptedDrops())
    print(json.dumps({"port": bound}), flush=True)
    await server.serve(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
