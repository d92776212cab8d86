"""The real ``seedream-bot`` entry point, as a subprocess, against the fake Discord on its real port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bots.discord.__main__ import main
from tests.bots.conftest import decoded_size, settled
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
