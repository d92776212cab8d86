"""Every model every provider serves, looked up by name: request validation, ``seedream models``, the MCP tool
schemas and the Discord choices all read this module. The models themselves are declared by each provider
(``core.providers``); facts come from ``shared/reference/providers.md`` and the user's provider documents.

``Catalog`` works over any set of provider specs (``Settings`` carries the set in use); the module-level names
(``MODELS``, ``find_model`` …) are the catalog of the built-in providers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from core.errors import InvalidRequestError
from core.modelspec import RATIOS, ModelSpec, ReferenceRules, SizeRules
from core.providers import BUILTIN_SPECS
from core.providers.spec import ProviderSpec

__all__ = [
    "CATALOG", "DEFAULT_MODEL", "EDIT_DEFAULT_MODEL", "MODELS", "PROVIDERS", "RATIOS", "SANDBOX_PREFIX", "Catalog",
    "ModelSpec", "ReferenceRules", "SizeRules", "find_model", "is_sandbox", "models_for", "provider_kind",
    "provider_names_help",
]

SANDBOX_PREFIX = "sandbox"


def is_sandbox(provider: str) -> bool:
    """True for ``sandbox`` and ``sandbox-<provider>``."""
    return provider.strip().lower().split("-", 1)[0] == SANDBOX_PREFIX


class Catalog:
    """The providers of a set of specs and the models they serve, by every name those answer to."""

    def __init__(self, specs: Sequence[ProviderSpec]) -> None:
        self.specs: Mapping[str, ProviderSpec] = MappingProxyType({spec.kind: spec for spec in specs})

    @property
    def providers(self) -> tuple[str, ...]:
        """Provider kinds in preference order."""
        return tuple(self.specs)

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        return tuple(model for spec in self.specs.values() for model in spec.models)

    def kind(self, provider: str) -> str:
        """``sandbox`` → the first provider (Ark), ``sandbox-visual`` → ``visual``; real names unchanged.

        Raises:
            InvalidRequestError: the name is not a known provider.
        """
        name = provider.strip().lower()
        if name == SANDBOX_PREFIX:
            return self.providers[0]
        if name.startswith(SANDBOX_PREFIX + "-"):
            name = name[len(SANDBOX_PREFIX) + 1:]
        if name not in self.specs:
            raise InvalidRequestError("provider", provider, self.names_help())
        return name

    def spec(self, provider: str) -> ProviderSpec:
        """The spec of ``provider`` (a sandbox name counts as its real provider). Raises InvalidRequestError."""
        return self.specs[self.kind(provider)]

    def models_for(self, provider: str) -> tuple[ModelSpec, ...]:
        """Every model ``provider`` serves (a sandbox name counts as its real provider)."""
        return self.spec(provider).models

    def names_help(self) -> str:
        """The provider names a user may give, for error messages and help texts."""
        real = ", ".join(self.providers)
        first, *others = self.providers
        boxes = ", ".join(f"{SANDBOX_PREFIX}-{p}" for p in others)
        return f"{real}, {SANDBOX_PREFIX} ({self.specs[first].title} on the built-in emulator), {boxes}"

    def find_model(self, provider: str, name: str | None, *, editing: bool = False) -> ModelSpec:
        """The model ``name`` (any alias, case-insensitive) as ``provider`` serves it; ``None`` → the default.

        Raises:
            InvalidRequestError: unknown provider, or a model this provider does not serve.
        """
        spec = self.spec(provider)
        if name is None or not name.strip():
            name = spec.edit_model if editing else spec.default_model
        wanted = name.strip().lower()
        for model in spec.models:
            if wanted in (n.lower() for n in model.names):
                return model
        allowed = ", ".join(m.key for m in spec.models)
        elsewhere = sorted({m.provider for m in self.models if wanted in (n.lower() for n in m.names)})
        hint = f"; it is served by {', '.join(elsewhere)}" if elsewhere else ""
        raise InvalidRequestError("model", name, f"{allowed} on provider {spec.kind}{hint}")

    def models_with(self, attribute: str) -> str:
        """The models that have a capability (e.g. ``seed``), for error messages."""
        found = sorted({m.key for m in self.models if getattr(m, attribute)})
        return ", ".join(found) or "no model"


CATALOG = Catalog(BUILTIN_SPECS)
PROVIDERS: tuple[str, ...] = CATALOG.providers
MODELS: tuple[ModelSpec, ...] = CATALOG.models
DEFAULT_MODEL: Mapping[str, str] = MappingProxyType({k: s.default_model for k, s in CATALOG.specs.items()})
EDIT_DEFAULT_MODEL: Mapping[str, str] = MappingProxyType({k: s.edit_model for k, s in CATALOG.specs.items()})

models_for = CATALOG.models_for
provider_kind = CATALOG.kind
find_model = CATALOG.find_model
provider_names_help = CATALOG.names_help
