"""How a Plan becomes an Ark / gateway request body (the wire contract, checked field by field)."""

from __future__ import annotations

from core.providers.ark import ArkProvider
from core.providers.gateway import GatewayProvider
from core.requests import GenerateRequest, plan_request


async def body_for(provider_cls=ArkProvider, base="https://ark.cn-beijing.volces.com/api/v3", **fields):
    plan = await plan_request(GenerateRequest.create(**({"prompt": "fox"} | fields)),
                              default_provider=provider_cls.name)
    return provider_cls(http=None, base_url=base, api_key="k").build_body(plan)


async def test_watermark_is_always_sent_and_defaults_to_false():
    assert (await body_for())["watermark"] is False
    assert (await body_for(watermark=True))["watermark"] is True
    assert (await body_for(GatewayProvider, base="http://gw"))["watermark"] is False


async def test_group_mode_is_explicit_on_group_models_and_absent_elsewhere():
    single = await body_for(size="2K")
    assert single["sequential_image_generation"] == "disabled" and "n" not in single
    group = await body_for(size="2K", series=6)
    assert group["sequential_image_generation"] == "auto"
    assert group["sequential_image_generation_options"] == {"max_images": 6}
    assert "sequential_image_generation" not in await body_for(model="seedream-3.0")


async def test_takes_are_single_image_requests_and_a_series_is_one_group_request():
    plan = await plan_request(GenerateRequest.create(prompt="fox", count=4), default_provider="ark")
    requests = plan.requests()
    assert [first for first, _ in requests] == [0, 1, 2, 3]
    ark = ArkProvider(http=None, base_url="https://ark", api_key="k")  # type: ignore[arg-type]
    assert {ark.build_body(p)["sequential_image_generation"] for _, p in requests} == {"disabled"}
    series = await plan_request(GenerateRequest.create(prompt="fox", series=4), default_provider="ark")
    assert [first for first, _ in series.requests()] == [0] and series.images == 4
    chanjing = await plan_request(GenerateRequest.create(prompt="fox", count=6), default_provider="chanjing")
    assert [(first, p.count) for first, p in chanjing.requests()] == [(0, 4), (4, 2)]


async def test_takes_of_a_pinned_seed_get_consecutive_seeds():
    plan = await plan_request(GenerateRequest.create(prompt="fox", model="seedream-3.0", seed=41, count=3),
                              default_provider="ark")
    assert [p.seed for _, p in plan.requests()] == [41, 42, 43]


async def test_seed_and_guidance_go_only_to_models_that_use_them():
    body = await body_for(model="seedream-3.0", seed=42, guidance=3.5, size="1024x1024")
    assert (body["seed"], body["guidance_scale"], body["size"]) == (42, 3.5, "1024x1024")
    body = await body_for(size="2K")
    assert "seed" not in body and "guidance_scale" not in body and "n" not in body


async def test_output_format_only_on_models_that_choose_it_and_stream_only_where_supported():
    assert "output_format" not in await body_for()
    assert (await body_for(model="seedream-5.0-lite", output_format="png"))["output_format"] == "png"
    assert "stream" not in await body_for(model="seedream-5.0-pro")
    assert (await body_for(model="seedream-4.5", series=2))["stream"] is True
    assert (await body_for(model="seedream-4.5"))["stream"] is False  # one image: nothing to hand over early
    assert (await body_for(model="seedream-4.5", stream=True))["stream"] is True


async def test_byteplus_model_ids_drop_the_doubao_prefix():
    body = await body_for(base="https://ark.ap-southeast.bytepluses.com/api/v3", model="seedream-4.5")
    assert body["model"] == "seedream-4-5-251128"


async def test_the_gateway_gets_n_and_its_own_model_names_and_no_ignored_fields():
    body = await body_for(GatewayProvider, base="http://gw", model="seedream-5.0", series=3)
    assert body["model"] == "bytedance-seedream-5.0" and body["n"] == 3
    assert "sequential_image_generation" not in body and "output_format" not in body


async def test_one_reference_is_a_string_and_several_are_a_list():
    uri = "https://example.com/a.png"
    assert (await body_for(images=(uri,)))["image"] == uri
    assert (await body_for(images=(uri, uri)))["image"] == [uri, uri]
