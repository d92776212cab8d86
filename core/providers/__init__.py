"""The provider adapters. Each module declares its provider once (``SPEC``, see ``core.providers.spec``);
``BUILTIN_SPECS`` lists them in preference order (the first with credentials is the default provider)."""

from core.providers import ark, chanjing, gateway, visual
from core.providers.spec import ProviderConfig, ProviderSpec

BUILTIN_SPECS: tuple[ProviderSpec, ...] = (ark.SPEC, visual.SPEC, chanjing.SPEC, gateway.SPEC)

__all__ = ["BUILTIN_SPECS", "ProviderConfig", "ProviderSpec"]
