"""The built-in sandbox: the emulator in-process, mounted on the shared HTTP client at a loopback-only name.

``--provider sandbox`` (Ark) and ``sandbox-visual`` / ``sandbox-chanjing`` / ``sandbox-gateway`` run the real
provider adapters against it, so everything can be tried with no key and no network.
"""

from __future__ import annotations

import httpx2

from core.emulator import EmulatorConfig, EmulatorState, create_app
from core.emulator.transport import StreamingASGITransport

#: Requests to this origin never leave the process (``.localhost`` is reserved for loopback, RFC 6761).
SANDBOX_ORIGIN = "http://sandbox.localhost"
SANDBOX_KEY = "sandbox"
SANDBOX_VISUAL_SECRET = "sandbox-secret"


def sandbox_state(*, latency: float = 0.0) -> EmulatorState:
    """Emulator state for the sandbox: result URLs point back at the sandbox origin."""
    return EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN, latency=latency,
                                        visual_secret_key=SANDBOX_VISUAL_SECRET))


def sandbox_mount(state: EmulatorState) -> dict[str, httpx2.AsyncBaseTransport]:
    """The ``mounts`` entry routing the sandbox origin to the in-process emulator."""
    return {SANDBOX_ORIGIN: StreamingASGITransport(create_app(state=state))}
