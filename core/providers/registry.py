"""Builds provider adapters from ``Settings``: one per provider name, created on first use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import SecretStr

from core.catalog import PROVIDERS, is_sandbox, provider_kind
from core.errors import ConfigurationError
from core.http import HttpClient
from core.providers.ark import ArkProvider
from core.providers.base import Provider
from core.providers.gateway import GatewayProvider
from core.sandbox import SANDBOX_KEY, SANDBOX_ORIGIN, SANDBOX_VISUAL_SECRET
from core.settings import Settings

SANDBOX_POLL_INTERVAL = 0.05

#: Variables that configure each provider (for ``ConfigurationError`` messages and the README).
CREDENTIAL_VARIABLES: dict[str, tuple[str, ...]] = {
    "ark": ("ARK_API_KEY",),
    "visual": ("VOLC_ACCESSKEY", "VOLC_SECRETKEY"),
    "chanjing": ("CHANJING_APP_ID", "CHANJING_SECRET_KEY"),
    "gateway": ("SEEDREAM_GATEWAY_API_KEY",),
}


def configured_providers(settings: Settings) -> list[str]:
    """Provider kinds whose credentials are set, in preference order."""
    return [kind for kind in PROVIDERS if all(_credential(settings, kind))]


def default_provider(settings: Settings) -> str:
    """``SEEDREAM_PROVIDER``, else the first provider with credentials.

    Raises:
        ConfigurationError: nothing is configured (names the variables and the sandbox).
    """
    if settings.provider:
        return settings.provider.strip().lower()
    configured = configured_providers(settings)
    if configured:
        return configured[0]
    names = ", ".join(" + ".join(v) for v in CREDENTIAL_VARIABLES.values())
    raise ConfigurationError(
        f"No Seedream provider is configured. Set one of: {names}; or try the free built-in sandbox with "
        "--provider sandbox (SEEDREAM_PROVIDER=sandbox).",
        variables=[v for vs in CREDENTIAL_VARIABLES.values() for v in vs] + ["SEEDREAM_PROVIDER"])


class ProviderRegistry:
    """Creates and caches provider adapters; all share one ``HttpClient``."""

    def __init__(self, settings: Settings, http: HttpClient, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._settings = settings
        self._http = http
        self._now = now
        self._cache: dict[str, Provider] = {}

    def get(self, provider: str) -> Provider:
        """The adapter for ``provider`` (``ark``, ``sandbox``, ``sandbox-visual`` …).

        Raises:
            ConfigurationError: its credentials are missing.
            InvalidRequestError: unknown provider name.
        """
        name = provider.strip().lower()
        if name not in self._cache:
            self._cache[name] = self._build(name)
        return self._cache[name]

    def _build(self, name: str) -> Provider:
        kind = provider_kind(name)
        sandbox = is_sandbox(name)
        first, second = (SANDBOX_KEY, SANDBOX_VISUAL_SECRET if kind == "visual" else SANDBOX_KEY) if sandbox \
            else _required(self._settings, kind)
        base = SANDBOX_ORIGIN if sandbox else None
        s = self._settings
        if kind == "ark":
            return ArkProvider(http=self._http, base_url=(base + "/api/v3") if base else s.ark_base_url,
                               api_key=first)
        if kind == "gateway":
            return GatewayProvider(http=self._http, base_url=base or s.gateway_base_url, api_key=first)
        if kind == "visual":
            from core.providers.visual import VisualProvider

            return VisualProvider(http=self._http, base_url=base or s.visual_base_url, access_key=first,
                                  secret_key=second, region=s.visual_region, service=s.visual_service)
        from core.providers.chanjing import ChanjingProvider

        # Sandbox tasks advance once per poll, so there is no point waiting seconds between polls.
        poll = min(s.chanjing_poll_interval, SANDBOX_POLL_INTERVAL) if sandbox else s.chanjing_poll_interval
        return ChanjingProvider(http=self._http, base_url=base or s.chanjing_base_url, app_id=first,
                                secret_key=second, poll_interval=poll, deadline=s.chanjing_deadline)


def _credential(settings: Settings, kind: str) -> tuple[SecretStr | None, ...]:
    return {
        "ark": (settings.ark_api_key,),
        "visual": (settings.volc_accesskey, settings.volc_secretkey),
        "chanjing": (settings.chanjing_app_id, settings.chanjing_secret_key),
        "gateway": (settings.gateway_api_key,),
    }[kind]


def _required(settings: Settings, kind: str) -> tuple[str, str]:
    values = _credential(settings, kind)
    if not all(v is not None and v.get_secret_value().strip() for v in values):
        variables = CREDENTIAL_VARIABLES[kind]
        raise ConfigurationError(f"The {kind} provider needs {' and '.join(variables)} to be set (or use "
                                 f"--provider sandbox{'' if kind == 'ark' else '-' + kind} to try it without a key).",
                                 variables=variables)
    secrets = [v.get_secret_value().strip() for v in values if v is not None]
    return secrets[0], secrets[-1]
