"""Assembles every provider's routes into one Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette

from core.emulator import ark, chanjing, files, gateway, visual
from core.emulator.state import EmulatorConfig, EmulatorState


def create_app(config: EmulatorConfig | None = None, *, state: EmulatorState | None = None) -> Starlette:
    """The emulator app: Ark at ``/api/v3``, Visual at ``/?Action=CVProcess``, Chanjing at ``/open/v1``, the
    gateway at ``/v1``, result files at ``/emulator/files``. Its state is ``app.state.emulator``."""
    state = state or EmulatorState(config or EmulatorConfig())
    routes = [*files.routes(state), *ark.routes(state), *gateway.routes(state), *chanjing.routes(state),
              *visual.routes(state)]
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app
