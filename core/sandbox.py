"""The built-in sandbox: the emulator in-process, mounted on the shared HTTP client at a loopback-only name.

``--provider sandbox`` (Ark) and ``sandbox-visual`` / ``sandbox-chanjing`` / ``sandbox-gateway`` run the real
provider adapters against it, so everything can be tried with no key and no network. The emulator (and
Starlette with it) is loaded only when a request reaches the sandbox: a process that never uses it never
imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2

from core.providers.spec import SANDBOX_KEY, SANDBOX_ORIGIN
from core.providers.visual import SANDBOX_SECRET as SANDBOX_VISUAL_SECRET

if TYPE_CHECKING:
    from core.emulator import EmulatorState

__all__ = ["SANDBOX_KEY", "SANDBOX_ORIGIN", "SANDBOX_VISUAL_SECRET", "LazySandboxTransport", "sandbox_mount",
           "sandbox_state"]


def sandbox_state(*, latency: float = 0.0) -> EmulatorState:
    """Emulator state for the sandbox: result URLs point back at the sandbox origin."""
    from core.emulator import EmulatorConfig, EmulatorState

    return EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN, latency=latency,
                                        visual_secret_key=SANDBOX_VISUAL_SECRET))


def sandbox_mount(state: EmulatorState) -> dict[str, httpx2.AsyncBaseTransport]:
    """The ``mounts`` entry routing the sandbox origin to an in-process emulator with ``state``."""
    from core.emulator import create_app
    from core.emulator.transport import StreamingASGITransport

    return {SANDBOX_ORIGIN: StreamingASGITransport(create_app(state=state))}


class LazySandboxTransport(httpx2.AsyncBaseTransport):
    """Builds the in-process emulator on the first request to the sandbox origin."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self._latency = latency
        self._inner: httpx2.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._inner is None:
            self._inner = sandbox_mount(sandbox_state(latency=self._latency))[SANDBOX_ORIGIN]
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
