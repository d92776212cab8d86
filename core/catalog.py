"""Every model every provider serves, looked up by name: request validation, ``seedream models``, the MCP tool
schemas and the Discord choices all read this module. The models themselves are declared by each provider
(``core.providers``); facts come from ``shared/reference/providers.md`` and the user's provider documents.

``Catalog`` works over any set of provider specs and their options (``Settings`` carries the set in use: an
Ark endpoint map, Chanjing's opt-in to undocumented models); the module-level names (``MODELS``,
``find_model`` …) are the catalog of the built-in providers with default options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

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
    """The providers of a set of specs and the models they serve, by every name those answer to.

    ``options`` are each provider's options (``ProviderConfig.options``, by kind); two matter here (see
    ``ProviderSpec``): ``endpoints`` and ``undocumented_models``.
    """

    def __init__(self, specs: Sequence[ProviderSpec], options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.specs: Mapping[str, ProviderSpec] = MappingProxyType({spec.kind: spec for spec in specs})
        self._options: Mapping[str, Mapping[str, Any]] = MappingProxyType(dict(options or {}))

    def endpoints(self, kind: str) -> Mapping[str, str]:
        """The endpoint ids configured for a provider kind, each with the key of the model it serves."""
        return self._options.get(kind, {}).get("endpoints") or {}

    def allows_undocumented(self, kind: str) -> bool:
        """Whether the user opted in to the models the provider's document does not list."""
        return bool(self._options.get(kind, {}).get("undocumented_models"))

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
        """The model ``name`` (any alias, case-insensitive, or an endpoint id) as ``provider`` serves it;
        ``None`` → the default. An endpoint id is its mapped model sent under the endpoint's id, or, unmapped,
        a pass-through model that only the checks common to every model apply to.

        Raises:
            InvalidRequestError: unknown provider, a model this provider does not serve, or an undocumented
                one the user did not opt in to.
        """
        spec = self.spec(provider)
        if name is None or not name.strip():
            name = spec.edit_model if editing else spec.default_model
        wanted = name.strip().lower()
        if spec.endpoint_prefix and wanted.startswith(spec.endpoint_prefix):
            return self._endpoint(spec, name.strip())
        for model in spec.models:
            if wanted in (n.lower() for n in model.names):
                return self._opted_in(spec, model, name)
        allowed = ", ".join(m.key for m in spec.models if m.documented or self.allows_undocumented(spec.kind))
        elsewhere = sorted({m.provider for m in self.models if wanted in (n.lower() for n in m.names)})
        hint = f"; it is served by {', '.join(elsewhere)}" if elsewhere else ""
        if spec.endpoint_prefix:
            hint += f"; or one of the account's endpoint ids ({spec.endpoint_prefix}…)"
        raise InvalidRequestError("model", name, f"{allowed} on provider {spec.kind}{hint}")

    def _opted_in(self, spec: ProviderSpec, model: ModelSpec, name: str) -> ModelSpec:
        if model.documented or self.allows_undocumented(spec.kind):
            return model
        documented = ", ".join(m.key for m in spec.models if m.documented)
        raise InvalidRequestError("model", name, f"{documented} on provider {spec.kind} ({model.key} is not in "
                                  f"{spec.title}'s document; set SEEDREAM_{spec.kind.upper()}_UNDOCUMENTED_MODELS="
                                  "true to send it anyway)")

    def _endpoint(self, spec: ProviderSpec, endpoint: str) -> ModelSpec:
        key = self.endpoints(spec.kind).get(endpoint)
        if key is None:
            return endpoint_model(spec, endpoint)
        model = next(m for m in spec.models if m.key == key)
        return replace(model, wire_name=endpoint, title=f"{model.title} (endpoint {endpoint})")

    def models_with(self, attribute: str) -> str:
        """The models that have a capability (e.g. ``seed``), for error messages."""
        found = sorted({m.key for m in self.models if getattr(m, attribute)})
        return ", ".join(found) or "no model"


def endpoint_model(spec: ProviderSpec, endpoint: str) -> ModelSpec:
    """An endpoint whose model is not mapped: only what every model of ``spec`` shares is checked (size syntax and
    the widest bounds, reference files), and every parameter goes as the caller gave it (``pass_through``)."""
    models = spec.models
    custom = [m.sizes for m in models if m.sizes.custom]
    tiers = MappingProxyType({t: MappingProxyType({}) for m in models for t in m.sizes.tiers})
    sizes = SizeRules(tiers, "", min_pixels=min(r.min_pixels for r in custom),  # type: ignore[arg-type]
                      max_pixels=max(r.max_pixels for r in custom))
    guidance = [m.guidance for m in models if m.guidance]
    return ModelSpec(
        key=endpoint, provider=spec.kind, wire_name=endpoint, title=f"{spec.title} endpoint {endpoint}", sizes=sizes,
        max_references=max(m.max_references for m in models), max_outputs=max(m.max_outputs for m in models),
        stream=any(m.stream for m in models),
        output_formats=tuple(dict.fromkeys(f for m in models for f in m.output_formats)),
        seed=any(m.seed for m in models),
        guidance=(min(g[0] for g in guidance), max(g[1] for g in guidance), 0.0) if guidance else None,
        web_search=any(m.web_search for m in models),
        prompt_modes=tuple(dict.fromkeys(p for m in models for p in m.prompt_modes)), pass_through=True,
        notes="its model is unknown (not in the endpoint map)")


CATALOG = Catalog(BUILTIN_SPECS)
PROVIDERS: tuple[str, ...] = CATALOG.providers
MODELS: tuple[ModelSpec, ...] = CATALOG.models
DEFAULT_MODEL: Mapping[str, str] = MappingProxyType({k: s.default_model for k, s in CATALOG.specs.items()})
EDIT_DEFAULT_MODEL: Mapping[str, str] = MappingProxyType({k: s.edit_model for k, s in CATALOG.specs.items()})

models_for = CATALOG.models_for
provider_kind = CATALOG.kind
find_model = CATALOG.find_model
provider_names_help = CATALOG.names_help
