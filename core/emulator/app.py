"""Assembles every provider's routes into one Starlette app: each provider spec names its emulator module."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from core.emulator import files
from core.emulator.state import EmulatorConfig, EmulatorState
from core.providers import BUILTIN_SPECS
from core.providers.spec import ProviderSpec


def create_app(config: EmulatorConfig | None = None, *, state: EmulatorState | None = None,
               specs: Sequence[ProviderSpec] = BUILTIN_SPECS) -> Starlette:
    """The emulator app: Ark at ``/api/v3``, Visual at ``/?Action=CVProcess``, Chanjing at ``/open/v1``, the
    gateway at ``/v1``, result files at ``/emulator/files``. Its state is ``app.state.emulator``."""
    state = state or EmulatorState(config or EmulatorConfig())
    routes = [*files.routes(state)]
    for spec in specs:
        if spec.emulator:
            routes += provider_routes(spec.emulator, state)
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app


def provider_routes(target: str, state: EmulatorState) -> list[BaseRoute]:
    """The routes of one provider's emulator, named ``"module:function"`` by its spec."""
    module, _, function = target.partition(":")
    return list(getattr(importlib.import_module(module), function)(state))
