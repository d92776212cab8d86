"""Bot configuration (environment, config file) and the pure rendering helpers."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from bots.discord.defaults import UserDefaults
from bots.discord.imaging import fit_image
from bots.discord.policy import describe_policy
from bots.discord.settings import BotSettings
from bots.discord.shape import keep_shape
from bots.discord.wording import KIND_WORDS, JobProgress, kind_words, outcome_text, status_text
from core.catalog import find_model
from core.errors import ConfigurationError, FailureKind
from core.results import GeneratedImage, Generation, ImageFailure, JobStatus


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DISCORD_TOKEN",
        "SEEDREAM_DISCORD_CONFIG",
        "SEEDREAM_DISCORD_COOLDOWN_SECONDS",
        "SEEDREAM_DISCORD_ALLOWED_CHANNELS",
        "SEEDREAM_DISCORD_GENERATOR_ROLES",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_modest() -> None:
    policy = BotSettings(_env_file=None).policy()

    assert (policy.cooldown_seconds, policy.max_concurrent_jobs) == (10, 3)
    assert (policy.user_daily_images, policy.guild_daily_images) == (50, 500)
    assert policy.allow_dms and not policy.allowed_guilds and not policy.generator_roles


def test_environment_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "abc")
    monkeypatch.setenv("SEEDREAM_DISCORD_ALLOWED_CHANNELS", "11, 22")
    monkeypatch.setenv("SEEDREAM_DISCORD_GENERATOR_ROLES", "Artists,123")

    settings = BotSettings(_env_file=None)

    assert settings.token is not None and settings.token.get_secret_value() == "abc"
    assert settings.allowed_channels == frozenset({11, 22})
    assert settings.generator_roles == ("Artists", "123")
    assert "abc" not in repr(settings)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_config_file_sets_the_policy_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    values = {"allowed_guilds": [1, 2], "cooldown_seconds": 30, "user_daily_images": 7, "allow_dms": False}
    path = tmp_path / f"bot{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(values))
    else:
        path.write_text(
            "allowed_guilds = [1, 2]\ncooldown_seconds = 30\nuser_daily_images = 7\nallow_dms = false\n"
        )
    monkeypatch.setenv("SEEDREAM_DISCORD_CONFIG", str(path))
    monkeypatch.setenv("SEEDREAM_DISCORD_COOLDOWN_SECONDS", "5")

    policy = BotSettings(_env_file=None).policy()

    assert (
        policy.allowed_guilds == frozenset({1, 2}) and policy.user_daily_images == 7 and not policy.allow_dms
    )
    assert policy.cooldown_seconds == 5


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        BotSettings(_env_file=None, config_file=tmp_path / "nope.toml")


def _noisy_png(size: int) -> bytes:
    image = Image.effect_noise((size, size), 80).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_fit_image_keeps_a_small_file_and_reencodes_a_large_one_under_the_limit() -> None:
    data = _noisy_png(512)

    kept = fit_image(data, limit=len(data), width=512, height=512, fmt="png")
    squeezed = fit_image(data, limit=20_000, width=512, height=512, fmt="png")

    assert kept.data == data and not kept.reencoded
    assert squeezed.reencoded and squeezed.format == "jpeg" and len(squeezed.data) <= 20_000
    with Image.open(io.BytesIO(squeezed.data)) as opened:
        assert opened.size == (squeezed.width, squeezed.height)


def test_status_text_stays_within_the_message_limit() -> None:
    progress = JobProgress(job_id="abcdefghijkl", prompt="w" * 4000, model="seedream-4.0", count=4)
    failures = [ImageFailure(i, "OutputImageRiskDetection", "x" * 500, "content_rejected") for i in range(3)]
    progress.outcome = Generation(
        job_id="abcdefghijkl",
        status=JobStatus.PARTIAL,
        provider="sandbox",
        model="seedream-4.0",
        prompt="w",
        failures=failures,
        error="e" * 3000,
    )

    assert len(status_text(progress)) <= 2000


def test_a_whole_refusal_reads_kindly() -> None:
    generation = Generation(
        job_id="j",
        status=JobStatus.FAILED,
        provider="ark",
        model="seedream-4.0",
        prompt="p",
        error="ark refused the content (InputTextSensitiveContentDetected)",
        error_kind="content_rejected",
    )

    text = outcome_text(generation, asked=1)

    assert "safety filter" in text and "Sensitive" not in text


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_failure_kind_reads_as_words_never_as_its_name(kind: str) -> None:
    text = kind_words(kind, reason="the service answered 418")

    assert re.search(r"\b[a-z]+_[a-z_]+\b", text) is None  # no identifier such as "rate_limited"
    if kind in KIND_WORDS:
        assert text == KIND_WORDS[kind] and "418" not in text  # a fixed sentence
    else:
        assert "the service answered 418" in text  # the kinds whose reason is the news


def test_a_safety_filter_refusal_advises_rephrasing() -> None:
    assert "Try describing it differently" in kind_words("content_rejected", reason="x")


def test_a_partial_job_says_which_images_the_safety_filter_held_back_and_what_to_do() -> None:
    generation = Generation(
        job_id="j",
        status=JobStatus.PARTIAL,
        provider="ark",
        model="seedream-4.0",
        prompt="p",
        images=[GeneratedImage(0, Path("one.png"), 64, 64, 100, "png", "seedream-4.0", "ark")],
        failures=[
            ImageFailure(1, "OutputImageRiskDetection", "may contain sensitive information", "content_rejected"),
            ImageFailure(2, "ContentSecurityDetectionError", "refused", "content_rejected"),
        ],
    )

    text = outcome_text(generation, asked=3)

    assert text.startswith("⚠️ Done: 1 of 3 images. 2 were held back by the safety filter (image 2, 3)")
    assert "describing them differently" in text and "The rest failed" not in text


@pytest.mark.parametrize(
    ("source", "size", "ratio", "expected"),
    [
        ((2848, 1600), None, None, ("2K", "16:9")),
        ((1024, 768), None, None, ("1K", "4:3")),
        ((1600, 2848), None, None, ("2K", "9:16")),
        ((3000, 1000), None, None, ("2K", "21:9")),  # the nearest documented shape
        ((1024, 768), "4K", None, ("4K", "4:3")),  # a tier asked for keeps the shape
        ((1024, 768), None, "1:1", ("1K", "1:1")),  # a ratio asked for keeps the tier
        ((1024, 768), "1536x1024", None, ("1536x1024", None)),  # exact dimensions pass through
    ],
)
def test_keep_shape_picks_the_documented_ratio_and_tier_nearest_the_source(
    source: tuple[int, int], size: str | None, ratio: str | None, expected: tuple[str | None, str | None]
) -> None:
    rules = find_model("ark", "seedream-4.0").sizes

    assert keep_shape(rules, *source, size=size, aspect_ratio=ratio) == expected


def test_keep_shape_leaves_adaptive_models_alone() -> None:
    assert keep_shape(find_model("ark", "seededit-3.0").sizes, 1280, 720) == (None, None)


def test_status_says_whether_a_job_is_independent_images_or_a_series_and_shows_the_eta() -> None:
    takes = JobProgress(job_id="j", prompt="p", model="m", count=4, phase="generating", ready=1, eta_seconds=75)
    series = JobProgress(job_id="j", prompt="p", model="m", count=4, series=True)

    assert status_text(takes).startswith("🎨 Generating… 1 of 4 ready. About 1 min 15 s left.\n")
    assert "m · 4 independent images · job `j`" in status_text(takes)
    assert "m · a series of up to 4 related images · job `j`" in status_text(series)


def test_a_cancelled_job_says_what_went_back_to_the_quota() -> None:
    generation = Generation(
        job_id="j",
        status=JobStatus.INTERRUPTED,
        provider="ark",
        model="seedream-4.0",
        prompt="p",
        images=[GeneratedImage(0, Path("one.png"), 64, 64, 100, "png", "seedream-4.0", "ark")],
        error="the job was cancelled",
        error_kind="cancelled",
    )

    assert outcome_text(generation, asked=4) == (
        "⏹️ Cancelled. 1 of 4 images was made before that; the other 3 went back to your quota."
    )


def test_damaged_user_settings_count_as_none() -> None:
    assert UserDefaults.from_json("{not json") == UserDefaults()
    assert UserDefaults.from_json('{"model": "seedream-4.0", "future": 1}') == UserDefaults(model="seedream-4.0")


def test_the_policy_line_names_every_rule() -> None:
    line = describe_policy(BotSettings(_env_file=None, allowed_channels=[5], mod_log_channel=9).policy())

    assert "channels=5" in line and "DMs=off (a channel rule is set)" in line and "mod log=9" in line
