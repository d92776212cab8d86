"""Validation of the request model against the catalog: every rule refuses with field, value and allowed."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from core.catalog import MODELS, find_model
from core.errors import InvalidRequestError
from core.references import ReferencePolicy
from core.requests import GenerateRequest, plan_request


def png_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(out, fmt)
    return out.getvalue()


async def plan(**fields):
    return await plan_request(GenerateRequest.create(**fields), default_provider="sandbox")


async def refused(field: str, **fields) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        await plan(**fields)
    assert info.value.field == field, info.value.message
    assert "Allowed:" in info.value.message
    return info.value


async def test_exact_dimensions_within_the_models_pixel_range_are_sent_as_given():
    p = await plan(prompt="fox", size="2048x2048")
    assert (p.size.width, p.size.height, p.model.key) == (2048, 2048, "seedream-4.0")


async def test_an_aspect_ratio_maps_to_the_recommended_size_of_the_default_tier():
    p = await plan(prompt="fox", size="16:9")
    assert (p.size.tier, p.size.wxh) == ("2K", "2848x1600")


async def test_a_tier_with_an_aspect_ratio_maps_to_that_tiers_recommended_size():
    p = await plan(prompt="fox", model="seedream-4.0", size="4k", aspect_ratio="21:9")
    assert (p.size.tier, p.size.wxh) == ("4K", "6240x2656")


async def test_a_bare_tier_is_sent_as_a_tier_so_the_model_picks_the_aspect_ratio():
    p = await plan(prompt="fox", size="1K")
    assert (p.size.tier, p.size.wxh) == ("1K", None)


async def test_seedream_3_turns_a_tier_into_exact_dimensions_because_it_takes_no_tiers():
    p = await plan(prompt="fox", model="seedream-3.0", size="4:3")
    assert p.size.wxh == "1152x864"
    assert (await plan(prompt="fox", model="3.0")).size.wxh == "1024x1024"


@pytest.mark.parametrize("size, reason", [("100x100", "10,000 pixels"), ("8192x8192", "pixels"),
                                          ("4096x200", "aspect ratio")])
async def test_dimensions_outside_the_models_rules_are_refused(size, reason):
    error = await refused("size", prompt="fox", size=size)
    assert reason in error.message and "921,600" in error.allowed


async def test_a_tier_the_model_does_not_have_is_refused_naming_its_tiers():
    error = await refused("size", prompt="fox", model="seedream-4.5", size="1K")
    assert "2K/4K" in error.allowed


async def test_an_unknown_aspect_ratio_is_refused():
    await refused("aspect_ratio", prompt="fox", size="2K", aspect_ratio="5:4")


async def test_a_size_and_a_separate_aspect_ratio_together_are_refused_when_the_size_is_exact():
    await refused("aspect_ratio", prompt="fox", size="2048x2048", aspect_ratio="1:1")


async def test_chanjing_refuses_exact_dimensions_and_maps_tier_and_ratio():
    await refused("size", prompt="fox", provider="chanjing", size="2048x2048")
    p = await plan(prompt="fox", provider="chanjing", size="4K", aspect_ratio="9:16", count=4)
    assert (p.size.tier, p.size.aspect_ratio, p.count) == ("4K", "9:16", 4)


async def test_visual_limits_each_side_to_512_to_2048():
    await refused("size", prompt="fox", provider="visual", size="2100x1000")
    assert (await plan(prompt="fox", provider="visual", size="4:3")).size.wxh == "1472x1104"


async def test_seed_and_guidance_are_refused_where_the_model_would_ignore_them():
    error = await refused("seed", prompt="fox", model="seedream-4.0", seed=3)
    assert "seedream-3.0" in error.allowed
    await refused("guidance", prompt="fox", model="seedream-4.5", guidance=3)
    p = await plan(prompt="fox", model="seedream-3.0", seed=7, guidance=2.5)
    assert (p.seed, p.guidance) == (7, 2.5)


async def test_seed_and_guidance_ranges_are_enforced():
    await refused("seed", prompt="fox", model="seedream-3.0", seed=2**31)
    await refused("guidance", prompt="fox", model="seedream-3.0", guidance=10.5)


async def test_a_series_is_a_ceiling_of_fifteen_including_references(tmp_path: Path):
    await refused("series", prompt="fox", series=16)
    error = await refused("series", prompt="fox", model="seedream-5.0-pro", series=2)
    assert "seedream-4.0" in error.allowed
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(64, 64))
    error = await refused("series", prompt="fox", series=14, images=(str(ref), str(ref)))
    assert "1–13" in error.allowed
    assert (await plan(prompt="fox", series=13, images=(str(ref), str(ref)))).images == 13
    await refused("series", prompt="fox", series=2, count=2)


async def test_count_is_up_to_fifteen_independent_images_on_every_model():
    await refused("count", prompt="fox", count=16)
    await refused("count", prompt="fox", count=0)
    for provider, model in (("ark", "seedream-5.0-pro"), ("visual", None), ("chanjing", None), ("ark", None)):
        assert (await plan(prompt="fox", provider=provider, model=model, count=5)).count == 5
    await refused("series", prompt="fox", provider="chanjing", series=3)  # Chanjing makes exact takes only


async def test_output_format_png_only_where_the_model_makes_png():
    await refused("output_format", prompt="fox", model="seedream-4.0", output_format="png")
    assert (await plan(prompt="fox", model="seedream-5.0-lite", output_format="png")).output_format == "png"
    await refused("output_format", prompt="fox", provider="gateway", model="seedream-5.0", output_format="png")


async def test_streaming_and_web_search_only_where_supported():
    await refused("stream", prompt="fox", model="seedream-5.0-pro", stream=True)
    await refused("web_search", prompt="fox", model="seedream-4.0", web_search=True)
    await refused("prompt_mode", prompt="fox", model="seedream-4.5", prompt_mode="fast")


async def test_references_count_per_model(tmp_path: Path):
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(64, 64))
    await refused("images", prompt="fox", model="seededit-3.0")
    await refused("images", prompt="fox", model="seededit-3.0", images=(str(ref), str(ref)))
    await refused("images", prompt="fox", model="seedream-3.0", images=(str(ref),))
    await refused("images", prompt="fox", model="seedream-4.0", images=(str(ref),) * 15)
    p = await plan(prompt="make it blue", model="seededit", images=(str(ref),))
    assert p.size.adaptive and p.references[0].wire.startswith("data:image/png;base64,")


async def test_reference_files_are_checked_for_format_size_pixels_and_aspect(tmp_path: Path):
    cases = {
        "tiny.png": (png_bytes(10, 64), "each side at least"),
        "wide.png": (png_bytes(400, 100), "aspect ratio"),
        "text.png": (b"this is not an image at all", "not a readable image"),
        "anim.gif": (png_bytes(64, 64, "GIF"), "jpeg/png"),
    }
    for name, (data, why) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        error = await refused("images[0]", prompt="fox", images=(str(path),))
        assert why in error.message, (name, error.message)


async def test_a_file_over_ten_megabytes_is_refused_before_it_is_read(tmp_path: Path):
    big = tmp_path / "big.png"
    with big.open("wb") as f:
        f.truncate(11 * 1024 * 1024)
    error = await refused("images[0]", prompt="fox", images=(str(big),))
    assert "11 MiB" in error.message


async def test_a_decompression_bomb_is_refused_by_its_header(tmp_path: Path):
    bomb = tmp_path / "bomb.png"
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # tiny file, 100 MP when decoded
    bomb.write_bytes(out.getvalue())
    error = await refused("images[0]", prompt="fox", images=(str(bomb),))
    assert "36,000,000 pixels" in error.allowed


async def test_data_uris_and_urls_are_accepted_and_other_schemes_refused():
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(32, 32)).decode()
    p = await plan(prompt="fox", images=(uri, "https://example.com/cat.png"))
    assert p.references[0].width == 32 and p.references[1].is_url
    await refused("images[0]", prompt="fox", images=("ftp://example.com/cat.png",))
    await refused("images[0]", prompt="fox", images=("data:image/png;base64,@@@",))


async def test_chanjing_takes_references_only_by_url(tmp_path: Path):
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(64, 64))
    error = await refused("images[0]", prompt="fox", provider="chanjing", images=(str(ref),))
    assert "URL" in error.allowed


async def test_local_references_outside_the_allowed_roots_are_refused_even_through_symlinks(tmp_path: Path):
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(png_bytes(64, 64))
    (inside / "link.png").symlink_to(secret)
    policy = ReferencePolicy(allowed_roots=(inside,))
    for path in (secret, inside / "link.png", inside / ".." / "outside" / "secret.png"):
        with pytest.raises(InvalidRequestError, match="outside the allowed folders"):
            await plan_request(GenerateRequest.create(prompt="x", images=(str(path),)), default_provider="ark",
                               policy=policy)


async def test_prompts_must_be_present_bounded_and_free_of_control_characters():
    await refused("prompt", prompt="   ")
    await refused("prompt", prompt="x" * 100_000)
    await refused("prompt", prompt="fox\x00")
    assert (await plan(prompt="a fox 🦊\nin snow")).request.prompt.endswith("snow")
    # Only what a provider document requires is checked here: Chanjing's own refusal of emoji is its answer.
    assert (await plan(prompt="45° angle, © 2026 🦊", provider="chanjing")).request.prompt.startswith("45°")


async def test_wrong_types_and_unknown_fields_become_invalid_request_errors():
    with pytest.raises(InvalidRequestError) as info:
        GenerateRequest.create(prompt="x", count="many")
    assert info.value.field == "count"
    with pytest.raises(InvalidRequestError) as info:
        GenerateRequest.create(prompt="x", n=3)
    assert info.value.field == "n"


async def test_unknown_models_and_providers_are_refused_with_what_exists():
    error = await refused("model", prompt="x", model="dall-e-3")
    assert "seedream-4.0" in error.allowed
    error = await refused("model", prompt="x", provider="visual", model="seedream-4.5")
    assert "served by ark" in error.allowed
    await refused("provider", prompt="x", provider="openai")


def test_every_model_default_size_resolves_within_its_own_rules():
    from core.requests import resolve_size

    for spec in MODELS:
        resolved = resolve_size(spec.sizes, None, None)
        assert resolved.adaptive or resolved.tier or resolved.wxh, spec
        for tier, ratios in spec.sizes.tiers.items():
            for (w, h) in ratios.values():
                if spec.sizes.custom:
                    assert spec.sizes.min_pixels <= w * h <= spec.sizes.max_pixels, (spec.key, tier, w, h)


def test_aliases_resolve_to_one_model_per_provider():
    assert find_model("ark", "doubao-seedream-4-5-251128").key == "seedream-4.5"
    assert find_model("sandbox", "5.0").key == "seedream-5.0-lite"
    assert find_model("gateway", "bytedance-seedream-5.0").wire_name == "bytedance-seedream-5.0"
