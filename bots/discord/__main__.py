"""``seedream-bot``: run the Discord bot (layer 5, assembly: the entry point).

Reads the core ``Settings`` (provider, keys, data directory…) and ``BotSettings`` (``DISCORD_TOKEN``,
``SEEDREAM_DISCORD_*``, optional config file) once, opens the image service, and runs ``ImageBot`` until
SIGINT/SIGTERM. ``--sync`` registers the slash commands even when their schema did not change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bots.discord.settings import BotSettings
from core.about import version
from core.errors import ConfigurationError
from core.factory import open_backends, running_service
from core.providers.registry import default_provider
from core.settings import Settings

log = logging.getLogger("bots.discord")

EXIT_OK, EXIT_CONFIG = 0, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seedream-bot``; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        bot_settings = BotSettings(config_file=args.config) if args.config else BotSettings()
        settings = Settings()
        default_provider(settings)  # fail now, naming the variables to set, not on the first command
    except ConfigurationError as exc:
        return _refuse(exc.message)
    except (ValueError, FileNotFoundError) as exc:
        return _refuse(f"invalid configuration: {exc}")
    if bot_settings.token is None:
        return _refuse(
            "set DISCORD_TOKEN to the bot token of your Discord application "
            "(Developer Portal → your app → Bot → Reset Token)."
        )
    _setup_logging(bot_settings.log_level if not args.verbose else "DEBUG")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, bot_settings, force_sync=args.sync))
    return EXIT_OK


def _refuse(message: str) -> int:
    print(f"seedream-bot: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seedream-bot", description="Run the Seedream Discord bot.")
    parser.add_argument(
        "--sync", action="store_true", help="register the slash commands now, even if unchanged"
    )
    parser.add_argument(
        "--config", type=Path, help="TOML or JSON file with the bot policy (SEEDREAM_DISCORD_CONFIG)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--version", action="version", version=f"seedream-bot {version()}")
    return parser


def _setup_logging(level: str) -> None:
    import discord

    discord.utils.setup_logging(level=logging.getLevelName(level.upper()), root=True)


async def serve(settings: Settings, bot_settings: BotSettings, *, force_sync: bool = False) -> None:
    """Open the image service and its counters, and run the bot until it is closed or the process is told to
    stop."""
    from bots.discord.bot import ImageBot

    assert bot_settings.token is not None
    async with open_backends(settings) as backends, running_service(backends) as service:
        bot = ImageBot(service=service, counters=backends.counters, settings=bot_settings, force_sync=force_sync)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no signal handlers
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
        async with bot:
            await bot.start(bot_settings.token.get_secret_value())
        log.info("bot stopped; waiting for running jobs to save their images")


if __name__ == "__main__":
    sys.exit(main())
