"""A faithful local emulator of the four Seedream provider APIs, each at its real path on one Starlette app.

``create_app(EmulatorConfig(...))`` builds it; ``seedream emulator`` serves it on loopback; the sandbox runs it
in-process through ``httpx2.ASGITransport``. It is both the users' sandbox and the tests' ground truth, so it
keeps its own table of provider facts instead of importing ``core.catalog``.
"""

from core.emulator.app import create_app
from core.emulator.state import EmulatorConfig, EmulatorState, Fault

__all__ = ["EmulatorConfig", "EmulatorState", "Fault", "create_app"]
