"""Emulator configuration and shared state: scripted faults, served result files, counters, the clock."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["error", "truncate", "malformed", "reset"]


@dataclass
class Fault:
    """A scripted failure, consumed by the next ``times`` matching requests of ``provider``.

    ``kind``: ``error`` answers with ``status`` and the provider's own error body for ``code``; ``truncate``
    cuts the body (or SSE stream) after ``after_images`` images; ``malformed`` answers 200 with broken JSON;
    ``reset`` drops the connection. ``route`` narrows it (e.g. ``"submit"``, ``"query"``, ``"token"``,
    ``"files"``); ``None`` matches the provider's generation route.
    """

    provider: str
    status: int = 500
    code: str | int | None = None
    message: str | None = None
    retry_after: float | None = None
    times: int = 1
    kind: FaultKind = "error"
    after_images: int = 0
    route: str | None = None


@dataclass
class EmulatorConfig:
    """How the emulator behaves. Defaults: accept any non-empty credentials, no latency, no caps."""

    public_base_url: str = "http://127.0.0.1:8790"  # where result URLs point (the emulator itself)
    latency: float = 0.0  # seconds per generated image
    url_ttl: float = 24 * 3600.0  # result URLs expire like the real ones
    # A request without a seed is a new draw (another picture for the same prompt), as with the real models;
    # a number here makes every such request draw it, for comparing two answers pixel by pixel.
    fixed_draw: int | None = None
    clock: Callable[[], float] = time.time
    # Credentials: None accepts any non-empty value.
    ark_api_keys: frozenset[str] | None = None
    ark_endpoints: dict[str, str] = field(default_factory=dict)  # "ep-…" endpoint id -> Ark model id
    gateway_api_keys: frozenset[str] | None = None
    visual_secret_key: str = "sandbox-secret"  # the SK the Visual route verifies signatures with
    visual_access_key: str | None = None  # None: any AK (signed with visual_secret_key)
    chanjing_app_id: str | None = None
    chanjing_secret_key: str | None = None
    # Account caps (0 = none)
    ark_concurrency: int = 0
    ark_images_per_minute: int = 0
    visual_concurrency: int = 2
    visual_qps: int = 0
    chanjing_qps: int = 0
    gateway_concurrency: int = 0
    # Chanjing task lifecycle: polls spent in each state before moving on
    chanjing_queued_polls: int = 1
    chanjing_generating_polls: int = 1
    chanjing_token_ttl: float = 24 * 3600.0
    chanjing_credits: int | None = None  # images the Chanjing account can pay for (None: unlimited)
    # Moderation: a prompt containing one of these words is refused as input text;
    # "[refuse:N]" in a prompt makes output image N (0-based) fail moderation;
    # "[fail:N]" makes image N fail with an internal error (which stops the rest of the group).
    blocked_words: tuple[str, ...] = ("forbidden", "违禁")
    max_result_bytes: int | None = None  # serve result files padded to this size (huge-download tests)


@dataclass
class ServedFile:
    data: bytes
    content_type: str
    expires_at: float


@dataclass
class EmulatorState:
    """Everything the routes share. Tests reach it as ``app.state.emulator``."""

    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    faults: list[Fault] = field(default_factory=list)
    files: dict[str, ServedFile] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)  # per provider route, every request received
    generated: Counter[str] = field(default_factory=Counter)  # per provider, images produced (billed)
    in_flight: Counter[str] = field(default_factory=Counter)  # per provider, requests admitted and not done
    peak_in_flight: Counter[str] = field(default_factory=Counter)  # per provider, the most in flight at once
    rejected: Counter[str] = field(default_factory=Counter)  # per provider, requests refused by an account cap
    hold: asyncio.Event | None = None  # when set to an unset Event, generation waits for it (slow provider)

    def add_fault(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take_fault(self, provider: str, route: str | None = None) -> Fault | None:
        """The next scripted fault for this provider route, consuming one of its ``times``."""
        for fault in self.faults:
            if fault.provider == provider and fault.route == route and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def publish(self, data: bytes, content_type: str) -> str:
        """Serve ``data`` at a fresh URL that expires after ``url_ttl``; returns the URL."""
        token = secrets.token_urlsafe(16)
        extension = "png" if content_type == "image/png" else "jpeg"
        self.files[token] = ServedFile(data, content_type, self.config.clock() + self.config.url_ttl)
        return f"{self.config.public_base_url.rstrip('/')}/emulator/files/{token}.{extension}"

    async def wait_if_held(self) -> None:
        if self.hold is not None:
            await self.hold.wait()

    async def image_latency(self) -> None:
        """Per-image generation time (real seconds; tests keep it 0 and use ``hold`` instead)."""
        if self.config.latency > 0:
            await asyncio.sleep(self.config.latency)
