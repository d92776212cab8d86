"""The real ``seedream-bot`` entry point, as a subprocess, against the fake Discord on its real port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from bots.discord.__main__ import main
from tests.bots.conftest import decoded_size, settled, world_of
from tests.fakes.discord import FakeDiscord

STARTUP = 120.0  # a cold interpreter importing discord.py can be slow on a busy machine


def bot_environment(fake: FakeDiscord, tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SEEDREAM_", "DISCORD_", "ARK_", "VOLC_"))
    }
    env |= {
        "SEEDREAM_PROVIDER": "sandbox",
        "SEEDREAM_DATA_DIR": str(tmp_path / "data"),
        "DISCORD_TOKEN": fake.token,
        "SEEDREAM_DISCORD_API_BASE": fake.api_base,
        "SEEDREAM_DISCORD_GATEWAY_URL": fake.gateway_url,
    }
    return env


async def test_the_seedream_bot_command_answers_an_imagine(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "seedream-bot"
    if not script.exists():
        pytest.fail(f"{script} is missing: install the project (pip install -e .)")
    log = tmp_path / "bot.log"
    async with FakeDiscord() as fake:
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                str(script),
                env=bot_environment(fake, tmp_path),
                cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                await fake.wait_until_connected(timeout=STARTUP)
                record = await fake.slash("imagine", {"prompt": "a harbour from the hills", "size": "1K"})
                await record.wait_for(settled, timeout=STARTUP)
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), timeout=STARTUP)

    output = log.read_text(errors="replace")
    assert code == 0, output
    assert record.original is not None and record.original.content.startswith("✅ Done: 1 image"), output
    [file] = record.files()
    assert decoded_size(file.data) == (1024, 1024)
    assert [call.guild_id for call in fake.sync_calls] == [None]
    assert (tmp_path / "data" / "jobs.sqlite3").exists()
    fake.assert_clean()


@pytest.fixture
def bare_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("SEEDREAM_", "DISCORD_", "ARK_", "VOLC_", "CHANJING_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SEEDREAM_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("bare_environment")
def test_without_a_token_the_command_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEEDREAM_PROVIDER", "sandbox")

    assert main([]) == 2
    assert "set DISCORD_TOKEN" in capsys.readouterr().err


@pytest.mark.usefixtures("bare_environment")
def test_without_a_provider_the_command_names_the_keys_and_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token")

    assert main([]) == 2
    err = capsys.readouterr().err
    assert "ARK_API_KEY" in err and "SEEDREAM_PROVIDER=sandbox" in err and "secret-token" not in err


async def run_command(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run ``seedream-bot`` as an admin would and return its exit code and stderr."""
    script = Path(sys.executable).parent / "seedream-bot"
    process = await asyncio.create_subprocess_exec(
        str(script), env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=STARTUP)
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


async def test_a_token_discord_refuses_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = bot_environment(fake, tmp_path) | {"DISCORD_TOKEN": "not-the-token"}
        code, err = await run_command(env, tmp_path)

    assert code == 2, err
    *log_lines, line = err.strip().splitlines()  # the log says it is logging in; then the problem, in one line
    assert line == (
        "seedream-bot: Discord refused the bot token: set DISCORD_TOKEN to your application's current token "
        "(Developer Portal → your app → Bot → Reset Token)."
    )
    assert len(log_lines) <= 1 and "Traceback" not in err and "not-the-token" not in err


async def test_discord_out_of_reach_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = bot_environment(fake, tmp_path)
    closed = fake.api_base  # the fake has stopped: nothing listens there any more
    code, err = await run_command(env | {"SEEDREAM_DISCORD_API_BASE": closed}, tmp_path)

    assert code == 1, err
    *log_lines, line = err.strip().splitlines()
    assert line.startswith(f"seedream-bot: can't reach Discord: {closed}: ")
    assert len(log_lines) <= 1 and "Traceback" not in err


@pytest.mark.usefixtures("bare_environment")
def test_an_unknown_key_in_the_config_file_exits_2_naming_the_nearest_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("user_daily_image = 5\n")
    monkeypatch.setenv("SEEDREAM_PROVIDER", "sandbox")
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token")

    assert main(["--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seedream-bot: unknown setting 'user_daily_image' in {config}; did you mean 'user_daily_images'?"
    )


@pytest.mark.usefixtures("bare_environment")
def test_an_unknown_variable_exits_2_naming_the_nearest_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEEDREAM_PROVIDER", "sandbox")
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token")
    monkeypatch.setenv("SEEDREAM_DISCORD_COOLDOWN", "30")

    assert main([]) == 2
    assert capsys.readouterr().err.strip() == (
        "seedream-bot: unknown setting 'SEEDREAM_DISCORD_COOLDOWN' in the environment; "
        "did you mean 'SEEDREAM_DISCORD_COOLDOWN_SECONDS'?"
    )


@pytest.mark.usefixtures("bare_environment")
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SEEDREAM_DISCORD_USER_DAILY_IMAGES", "lots", "Invalid SEEDREAM_DISCORD_USER_DAILY_IMAGES: 'lots'. Allowed: "),
        ("SEEDREAM_IMAGE_TIMEOUT", "soon", "Invalid SEEDREAM_IMAGE_TIMEOUT: 'soon'. Allowed: "),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("SEEDREAM_PROVIDER", "sandbox")
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token")
    monkeypatch.setenv(variable, value)

    assert main([]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"seedream-bot: {expected}")


@pytest.mark.usefixtures("bare_environment")
def test_a_provider_without_its_key_exits_2_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEEDREAM_PROVIDER", "ark")
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token")

    assert main([]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("seedream-bot: The ark provider needs ARK_API_KEY to be set")


async def test_start_up_logs_the_policy_in_force_and_the_exact_invite_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bots")
    async with world_of(tmp_path, user_daily_images=7, generator_roles=["Artists"]) as world:
        application_id = world.fake.application_id

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("bots")]
    [policy] = [m for m in messages if m.startswith("policy in force: ")]
    assert "roles=Artists" in policy and "images per user per day=7" in policy
    assert "DMs=members of an allowed server only" in policy
    invite = (
        f"https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot+applications.commands"
        "&permissions=274878024704"
    )
    assert any(m.endswith(invite) for m in messages)


@pytest.mark.usefixtures("bare_environment")
def test_an_output_folder_that_cannot_be_used_exits_2_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "images"
    not_a_folder.write_text("a file where the folder should be")
    monkeypatch.setenv("SEEDREAM_PROVIDER", "sandbox")
    monkeypatch.setenv("DISCORD_TOKEN", "secret-token")
    monkeypatch.setenv("SEEDREAM_OUTPUT_DIR", str(not_a_folder))

    assert main([]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("seedream-bot: ") and "SEEDREAM_OUTPUT_DIR" in line
