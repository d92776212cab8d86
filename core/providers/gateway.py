"""OpenAI-compatible gateways serving Seedream (``POST {base}/v1/images/generations``, seed 004).

Same response and error shapes as Ark; the differences are the model names, ``n`` (a ceiling the gateway
rewrites to group mode), ``watermark`` defaulting to false, and fields it ignores (never sent).
"""

from __future__ import annotations

from typing import Any

from core.providers.ark import ArkProvider
from core.requests import Plan


class GatewayProvider(ArkProvider):
    """An OpenAI-compatible gateway; ``base_url`` is the origin (``/v1/images/generations`` is appended)."""

    name = "gateway"
    label = "the OpenAI-compatible gateway"
    key_variable = "SEEDREAM_GATEWAY_API_KEY"
    path = "/v1/images/generations"

    def __init__(self, *, http: Any, base_url: str, api_key: str) -> None:
        super().__init__(http=http, base_url=base_url, api_key=api_key, byteplus=False)

    def group_fields(self, plan: Plan) -> dict[str, Any]:
        # The gateway turns n > 1 into sequential_image_generation=auto + max_images=n.
        return {"n": plan.count} if plan.model.group else {}

    def build_body(self, plan: Plan) -> dict[str, Any]:
        body = super().build_body(plan)
        body.pop("output_format", None)  # ignored by the gateway: the catalog offers jpeg only
        body.pop("optimize_prompt_options", None)
        return body
