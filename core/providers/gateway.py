"""OpenAI-compatible gateways serving Seedream (``POST {base}/v1/images/generations``, the gateway document).

Same response and error shapes as Ark; the differences are the model names, ``n`` (a ceiling the gateway
rewrites to group mode), ``watermark`` defaulting to false, and fields it ignores (never sent).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from core.http import HttpClient
from core.modelspec import ModelSpec
from core.providers.ark import MODELS as ARK_MODELS
from core.providers.ark import ArkProvider
from core.providers.spec import ProviderConfig, ProviderSpec

if TYPE_CHECKING:
    from core.requests import Plan


class GatewayProvider(ArkProvider):
    """An OpenAI-compatible gateway; ``base_url`` is the origin (``/v1/images/generations`` is appended)."""

    name = "gateway"
    label = "the OpenAI-compatible gateway"
    key_variable = "SEEDREAM_GATEWAY_API_KEY"
    path = "/v1/images/generations"

    def __init__(self, *, http: HttpClient, base_url: str, api_key: str) -> None:
        super().__init__(http=http, base_url=base_url, api_key=api_key, byteplus=False)

    def group_fields(self, plan: Plan) -> dict[str, Any]:
        # The gateway turns n > 1 into sequential_image_generation=auto + max_images=n.
        return {"n": plan.series} if plan.model.group and plan.series > 1 else {}

    def build_body(self, plan: Plan) -> dict[str, Any]:
        body = super().build_body(plan)
        body.pop("output_format", None)  # ignored by the gateway: the catalog offers jpeg only
        body.pop("optimize_prompt_options", None)
        return body


# The gateway's names for the Ark models it serves (the gateway document); it normalises the others itself.
_WIRE_NAMES = {"seedream-4.0": "doubao-seedream-4.0", "seedream-4.5": "doubao-seedream-4.5",
               "seedream-5.0-lite": "bytedance-seedream-5.0", "seedream-3.0": "doubao-seedream-3-0-t2i-250415"}

# The gateway ignores output_format: offer only what its models produce by default.
_ARK = {spec.key: spec for spec in ARK_MODELS}
MODELS: tuple[ModelSpec, ...] = tuple(
    replace(_ARK[key], provider="gateway", wire_name=name, output_formats=("jpeg",), web_search=False,
            prompt_modes=(), title=_ARK[key].title + " (gateway)")
    for key, name in _WIRE_NAMES.items()
)


def _build(config: ProviderConfig, http: HttpClient) -> GatewayProvider:
    return GatewayProvider(http=http, base_url=config.base_url, api_key=config.credentials[0])


SPEC = ProviderSpec(
    kind="gateway", title="OpenAI-compatible gateway", credentials=("SEEDREAM_GATEWAY_API_KEY",),
    base_url="https://api-platform.ope.ai", models=MODELS, default_model="seedream-4.0", edit_model="seedream-4.0",
    build=_build, concurrency=4, emulator="core.emulator.gateway:routes",
)
