"""The provider's edge in front of the in-process emulator, for tests that need a job observably mid-way."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HoldAfterFirstImage:
    """The provider's edge, in front of the emulator: a streamed answer stops after its first image until
    ``release`` is set; ``downloading`` is set once the client starts downloading an image."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.release = asyncio.Event()
        self.downloading = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/emulator/files/"):
            self.downloading.set()
        images = 0

        async def held(message: Message) -> None:
            nonlocal images
            if message["type"] == "http.response.body" and b"partial_succeeded" in message.get("body", b""):
                images += 1
                if images > 1:
                    await self.release.wait()
            await send(message)

        await self.app(scope, receive, held)
