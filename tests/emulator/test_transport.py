"""The sandbox's in-process transport hands over each body chunk as the app sends it."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from core.emulator.transport import StreamingASGITransport


def app_with_gate(gate: asyncio.Event, *, fail_after_first: bool = False):
    async def app(scope, receive, send):
        request = await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"first:" + request["body"], "more_body": True})
        await gate.wait()
        if fail_after_first:
            raise ConnectionResetError("dropped")
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    return app


async def test_the_first_chunk_arrives_before_the_app_has_finished():
    gate = asyncio.Event()
    client = httpx2.AsyncClient(transport=StreamingASGITransport(app_with_gate(gate)))
    async with client, client.stream("POST", "http://sandbox.localhost/x", content=b"hi") as response:
        chunks = response.aiter_bytes()
        assert await anext(chunks) == b"first:hi"  # the app is still waiting on the gate
        gate.set()
        assert await anext(chunks) == b"second"


async def test_an_app_failing_mid_body_is_a_broken_connection_after_what_was_sent():
    gate = asyncio.Event()
    transport = StreamingASGITransport(app_with_gate(gate, fail_after_first=True))
    client = httpx2.AsyncClient(transport=transport)
    async with client, client.stream("GET", "http://sandbox.localhost/x") as response:
        chunks = response.aiter_bytes()
        assert await anext(chunks) == b"first:"
        gate.set()
        with pytest.raises(httpx2.RemoteProtocolError):
            await anext(chunks)


async def test_an_app_failing_before_it_answers_raises_its_error():
    async def app(scope, receive, send):
        raise LookupError("no route")

    async with httpx2.AsyncClient(transport=StreamingASGITransport(app)) as client:
        with pytest.raises(LookupError):
            await client.get("http://sandbox.localhost/x")


async def test_closing_the_response_early_stops_the_app():
    gate = asyncio.Event()
    stopped: list[str] = []
    inner = app_with_gate(gate)

    async def app(scope, receive, send):
        try:
            await inner(scope, receive, send)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    client = httpx2.AsyncClient(transport=StreamingASGITransport(app))
    async with client, client.stream("GET", "http://sandbox.localhost/x") as response:
        assert await anext(response.aiter_bytes()) == b"first:"
    assert stopped == ["cancelled"]  # the app did not run on after the reader left
