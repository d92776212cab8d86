"""The chanjing routes of the emulator (being written)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from core.emulator.state import EmulatorState


def routes(state: EmulatorState) -> list[BaseRoute]:
    return []
