"""Builds provider adapters from their specs and ``Settings``: one per provider name, created on first use."""

from __future__ import annotations

from core.catalog import Catalog, is_sandbox
from core.errors import ConfigurationError
from core.http import HttpClient
from core.providers.base import Provider
from core.providers.spec import ProviderConfig, ProviderSpec
from core.settings import CommonSettings


def configured_providers(settings: CommonSettings) -> list[str]:
    """Provider kinds whose credentials are set, in preference order."""
    return [kind for kind in settings.catalog.providers if all(settings.provider_config(kind).credentials)]


def credential_variables(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """The variables that configure each provider (for messages and docs)."""
    return {kind: spec.credentials for kind, spec in catalog.specs.items()}


def default_provider(settings: CommonSettings) -> str:
    """``SEEDREAM_PROVIDER``, else the first provider with credentials.

    Raises:
        ConfigurationError: nothing is configured (names the variables and the sandbox).
    """
    if settings.provider:
        return settings.provider.strip().lower()
    configured = configured_providers(settings)
    if configured:
        return configured[0]
    variables = credential_variables(settings.catalog)
    names = ", ".join(" + ".join(v) for v in variables.values())
    raise ConfigurationError(
        f"No Seedream provider is configured. Set one of: {names}; or try the free built-in sandbox with "
        "--provider sandbox (SEEDREAM_PROVIDER=sandbox).",
        variables=[v for vs in variables.values() for v in vs] + ["SEEDREAM_PROVIDER"])


class ProviderRegistry:
    """Creates and caches provider adapters; all share one ``HttpClient``."""

    def __init__(self, settings: CommonSettings, http: HttpClient) -> None:
        self._settings = settings
        self._http = http
        self._cache: dict[str, Provider] = {}

    @property
    def catalog(self) -> Catalog:
        return self._settings.catalog

    def get(self, provider: str) -> Provider:
        """The adapter for ``provider`` (``ark``, ``sandbox``, ``sandbox-visual`` …).

        Raises:
            ConfigurationError: its credentials are missing.
            InvalidRequestError: unknown provider name.
        """
        name = provider.strip().lower()
        if name not in self._cache:
            spec = self.catalog.spec(name)
            self._cache[name] = spec.build(self._config(spec, sandbox=is_sandbox(name)), self._http)
        return self._cache[name]

    def _config(self, spec: ProviderSpec, *, sandbox: bool) -> ProviderConfig:
        config = self._settings.provider_config(spec.kind)
        if sandbox:
            return spec.sandbox_config(concurrency=config.concurrency, images_per_minute=config.images_per_minute,
                                       options=config.options)
        if not all(config.credentials):
            variables = " and ".join(spec.credentials)
            box = "sandbox" if spec.kind == self.catalog.providers[0] else f"sandbox-{spec.kind}"
            raise ConfigurationError(f"The {spec.kind} provider needs {variables} to be set (or use --provider "
                                     f"{box} to try it without a key).", variables=spec.credentials)
        return config
