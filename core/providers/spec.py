"""``ProviderSpec``: everything the rest of the core needs to know about one provider, declared once.

Settings (``core.settings``), the catalog (``core.catalog``), the adapter registry (``core.providers.registry``),
admission limits and the emulator app all derive from the specs, so adding a provider is one adapter module
that declares its ``SPEC`` (listed in ``core.providers.BUILTIN_SPECS``) and one emulator module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.modelspec import ModelSpec

if TYPE_CHECKING:
    from core.http import HttpClient
    from core.providers.base import Provider

#: The loopback-only origin the built-in sandbox answers on (``.localhost`` is reserved, RFC 6761).
SANDBOX_ORIGIN = "http://sandbox.localhost"
SANDBOX_KEY = "sandbox"


@dataclass(frozen=True)
class ProviderConfig:
    """One provider's settings, resolved from ``Settings`` (or the sandbox): what its adapter is built from."""

    credentials: tuple[str, ...]  # in the order of ``ProviderSpec.credentials``
    base_url: str
    concurrency: int  # the account's concurrent-request cap (0 = unlimited)
    images_per_minute: int  # 0 = unlimited
    options: Mapping[str, Any] = field(default_factory=dict)  # the spec's own options, by short name
    sandbox: bool = False

    def __repr__(self) -> str:  # never show the credentials
        return f"ProviderConfig(base_url={self.base_url!r}, sandbox={self.sandbox})"


AdapterFactory = Callable[[ProviderConfig, "HttpClient"], "Provider"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider, declared once.

    ``credentials`` are the environment variables that hold its secrets (also accepted with a ``SEEDREAM_``
    prefix); ``base_url``, ``concurrency`` and ``images_per_minute`` are defaults the user can override with
    ``SEEDREAM_<KIND>_BASE_URL`` / ``_CONCURRENCY`` / ``_IMAGES_PER_MINUTE``; ``options`` are extra settings
    (``SEEDREAM_<KIND>_<NAME>``) as pydantic field definitions ``(type, default or Field)``.
    """

    kind: str
    title: str
    credentials: tuple[str, ...]
    base_url: str
    models: tuple[ModelSpec, ...]
    default_model: str
    edit_model: str
    build: AdapterFactory
    concurrency: int = 4
    images_per_minute: int = 0
    options: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    sandbox_path: str = ""  # appended to the sandbox origin, e.g. "/api/v3"
    sandbox_credentials: tuple[str, ...] = ()  # default: "sandbox" for each credential
    emulator: str | None = None  # "module:function" returning the emulator's routes for this provider

    def sandbox_config(self, *, concurrency: int, images_per_minute: int,
                       options: Mapping[str, Any]) -> ProviderConfig:
        """The configuration that points this provider's adapter at the in-process sandbox."""
        secrets = self.sandbox_credentials or (SANDBOX_KEY,) * len(self.credentials)
        return ProviderConfig(credentials=secrets, base_url=SANDBOX_ORIGIN + self.sandbox_path,
                              concurrency=concurrency, images_per_minute=images_per_minute, options=options,
                              sandbox=True)
