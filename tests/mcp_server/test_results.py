"""Result shaping for the clients' limits: inline previews within the budget, files always named and kept."""

from __future__ import annotations

import base64
import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp_types import ImageContent, ResourceLink, TextContent
from PIL import Image

from core.emulator.images import render_image
from core.results import GeneratedImage, Generation, JobStatus
from mcp_server.content import ResultShaper
from mcp_server.preview_cache import PreviewCache
from mcp_server.previews import PreviewLimits, b64_length, make_preview, make_previews

MIB = 1_048_576


def inline_chars(result) -> int:
    return sum(len(b.data) for b in result.content if isinstance(b, ImageContent))


def noisy_image(path: Path, size: tuple[int, int]) -> Path:
    """Random noise: the hardest case for JPEG, so previews must shrink to fit."""
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(path, "JPEG", quality=95)
    return path


async def test_a_4k_group_of_four_stays_well_under_the_client_limit_while_every_original_is_saved(connect):
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "four seasons", "size": "4K", "count": 4}
        )
    assert not result.is_error
    assert len(result.model_dump_json(by_alias=True)) < 0.8 * MIB
    assert inline_chars(result) <= 700_000
    images = result.structured_content["images"]
    assert len(images) == 4 and len([b for b in result.content if isinstance(b, ImageContent)]) == 4
    for image in images:
        with Image.open(image["path"]) as original:
            assert original.size == (4096, 4096)
        assert image["path"] in result.content[0].text
    assert len([b for b in result.content if isinstance(b, ResourceLink)]) == 4


async def test_a_small_budget_shrinks_previews_instead_of_breaking_the_result(connect):
    async with connect(inline_budget=60_000) as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "four seasons", "size": "4K", "count": 4}
        )
    assert not result.is_error and inline_chars(result) <= 60_000
    assert len(result.structured_content["images"]) == 4


async def test_previews_are_capped_in_number_and_the_text_says_which_are_shown(connect):
    async with connect(max_inline_images=2) as client:
        result = await client.call_tool("generate_image", {"prompt": "six ships", "size": "1K", "count": 6})
    previews = [b for b in result.content if isinstance(b, ImageContent)]
    assert len(previews) == 2 and len(result.structured_content["images"]) == 6
    text = result.content[0].text
    assert "image(s) 1, 2" in text
    assert all(image["path"] in text for image in result.structured_content["images"])


def test_hard_to_compress_images_get_previews_that_use_most_of_their_share_of_the_budget(tmp_path):
    paths = [noisy_image(tmp_path / f"noise-{i}.jpg", (2048, 2048)) for i in range(3)]
    previews = make_previews(paths, PreviewLimits(budget=2_100_000))
    assert all(p is not None for p in previews) and sum(len(p.data) for p in previews) <= 2_100_000
    assert len(previews[0].data) >= 0.6 * 700_000  # the first had a third: it used most of it
    for preview in previews:  # full preview size, the quality lowered where needed
        assert (preview.width, preview.height) == (1024, 1024) and preview.encodes <= 2
        with Image.open(io.BytesIO(base64.b64decode(preview.data))) as img:
            assert img.size == (preview.width, preview.height) and img.format == "JPEG"
    assert previews[0].quality < 88 and previews[0].encodes == 2


def test_when_even_the_lowest_quality_would_not_fit_the_preview_shrinks_but_stays_useful(tmp_path):
    path = noisy_image(tmp_path / "noise.jpg", (2048, 2048))
    limits = PreviewLimits(budget=300_000)
    preview = make_preview(path, budget=300_000, limits=limits)
    assert preview is not None and len(preview.data) <= 300_000
    assert limits.min_side <= preview.width < 1024 and preview.encodes == 2


def test_a_2k_or_4k_jpeg_is_decoded_at_a_reduced_scale_and_encoded_once_when_it_fits(tmp_path):
    for side in (2048, 4096):
        path = tmp_path / f"render-{side}.jpg"
        path.write_bytes(render_image("a lighthouse", 7, side, side))
        preview = make_preview(path, budget=700_000, limits=PreviewLimits(budget=700_000))
        assert preview is not None and (preview.width, preview.height, preview.encodes) == (1024, 1024, 1)


@pytest.mark.parametrize("budget", [20_000, 60_000, 150_000, 400_000, 1_000_000])
@pytest.mark.parametrize("kind", ["noise", "smooth"])
def test_a_preview_fits_its_budget_after_at_most_two_encodes_or_is_left_out(tmp_path, budget, kind):
    path = tmp_path / f"{kind}.jpg"
    if kind == "noise":
        noisy_image(path, (1536, 1536))
    else:
        path.write_bytes(render_image("a calm sea", 3, 3072, 3072))
    preview = make_preview(path, budget=budget, limits=PreviewLimits(budget=budget))
    if preview is not None:
        assert len(preview.data) <= budget and preview.encodes <= 2
        assert max(preview.width, preview.height) >= 384
    else:
        assert kind == "noise" and budget <= 150_000  # only pathological content at small budgets


def test_a_preview_never_exceeds_the_long_edge_or_pixel_limit(tmp_path):
    wide = noisy_image(tmp_path / "wide.jpg", (3136, 1344))
    (preview,) = make_previews([wide], PreviewLimits(budget=5_000_000))
    assert preview.width <= 1568 and preview.width * preview.height <= 1_150_000
    assert abs(preview.width / preview.height - 3136 / 1344) < 0.01


def test_when_no_preview_can_fit_none_is_sent(tmp_path):
    path = noisy_image(tmp_path / "n.jpg", (1024, 1024))
    assert make_previews([path], PreviewLimits(budget=10_000)) == [None]
    assert b64_length(3) == 4 and b64_length(4) == 8


async def test_a_file_outside_the_output_and_allowed_folders_is_never_read_for_a_preview(tmp_path):
    inside, outside = tmp_path / "out", tmp_path / "elsewhere"
    inside.mkdir(), outside.mkdir()
    secret = noisy_image(outside / "secret.jpg", (64, 64))
    image = GeneratedImage(
        index=0,
        path=secret,
        width=64,
        height=64,
        bytes=secret.stat().st_size,
        format="jpeg",
        model="seedream-4.0",
        provider="sandbox",
    )
    generation = Generation(
        job_id="j1",
        status=JobStatus.SUCCEEDED,
        provider="sandbox",
        model="seedream-4.0",
        prompt="p",
        images=[image],
        created_at=datetime.now(UTC),
    )
    shaper = ResultShaper(PreviewCache(PreviewLimits(budget=700_000), (inside.resolve(),)))
    result = await shaper.job(generation, pending=False)
    assert not any(isinstance(b, ImageContent) for b in result.content)
    assert isinstance(result.content[0], TextContent) and "No inline previews" in result.content[0].text
