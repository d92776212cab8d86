"""``seedream-bot``: run the Discord bot (layer 5, assembly: the entry point).

Reads the core ``Settings`` (provider, keys, data directory…) and ``BotSettings`` (``DISCORD_TOKEN``,
``SEEDREAM_DISCORD_*``, optional config file) once, opens the image service, and runs ``ImageBot`` until
SIGINT/SIGTERM. ``--sync`` registers the slash commands even when their schema did not change.

Start-up never ends in a traceback: a configuration problem (an invalid or unknown setting, no provider or a
provider without its key, no token or a token Discord refuses) is one line on stderr and exit code 2; Discord out
of reach is one line and exit code 1.
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
from core.environment import check_environment
from core.errors import ConfigurationError
from core.factory import open_backends, running_service
from core.providers.registry import default_provider
from core.settings import Settings
from core.settings_errors import read_settings

log = logging.getLogger("bots.discord")

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2


class TokenRefused(Exception):
    """Discord refused the bot token."""


class DiscordUnreachable(Exception):
    """Discord (or the server configured in its place) could not be reached."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seedream-bot``; returns the exit code."""
    args = _parser().parse_args(argv)
    loaded = _load_settings(args.config)
    if isinstance(loaded, int):
        return loaded
    settings, bot_settings = loaded
    _setup_logging(bot_settings.log_level if not args.verbose else "DEBUG")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, bot_settings, force_sync=args.sync))
    except ConfigurationError as exc:
        return _refuse(exc.message)
    except TokenRefused:
        return _refuse(
            "Discord refused the bot token: set DISCORD_TOKEN to your application's current token "
            "(Developer Portal → your app → Bot → Reset Token)."
        )
    except DiscordUnreachable as exc:
        print(f"seedream-bot: can't reach Discord: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except Exception as exc:  # a bug of ours: one line here, the traceback in the log with -v
        log.debug("start-up failed", exc_info=exc)
        print(f"seedream-bot: stopped by an unexpected error: {exc!r} (run with -v for details)", file=sys.stderr)
        return EXIT_UNREACHABLE
    return EXIT_OK


def _load_settings(config: Path | None) -> tuple[Settings, BotSettings] | int:
    """Both settings, checked with the environment (job database, output folder), or the exit code after
    saying in one line what to fix: an invalid value names its variable (``core.settings_errors``), an unknown
    key the nearest known one (``bots.discord.settings``)."""
    try:
        bot_settings = read_settings(BotSettings, config_file=config) if config else read_settings(BotSettings)
        settings = read_settings(Settings)
        default_provider(settings)  # fail now, naming the variables to set, not on the first command
        check_environment(settings)
    except ConfigurationError as exc:
        return _refuse(exc.message)
    if bot_settings.token is None:
        return _refuse(
            "set DISCORD_TOKEN to the bot token of your Discord application "
            "(Developer Portal → your app → Bot → Reset Token)."
        )
    return settings, bot_settings


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
    if level.upper() != "DEBUG":  # the job database's migrations are details, not news for a bot admin
        logging.getLogger("alembic").setLevel(logging.WARNING)


async def serve(settings: Settings, bot_settings: BotSettings, *, force_sync: bool = False) -> None:
    """Open the image service and its counters, and run the bot until it is closed or the process is told to
    stop."""
    import aiohttp
    import discord

    from bots.discord.bot import image_bot

    assert bot_settings.token is not None
    async with open_backends(settings) as backends, running_service(backends) as service:
        service.providers.get(service.default_provider)  # its key is set: fail now, not on the first command
        bot = image_bot(
            service=service, counters=backends.counters, pace=backends.pace, settings=bot_settings,
            force_sync=force_sync,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no signal handlers
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
        async with bot:
            try:
                await bot.start(bot_settings.token.get_secret_value())
            except discord.LoginFailure:
                raise TokenRefused from None
            except (aiohttp.ClientConnectionError, OSError) as exc:
                where = bot_settings.api_base or "discord.com"
                raise DiscordUnreachable(f"{where}: {exc}") from None
        log.info("bot stopped; waiting for running jobs to save their images")


if __name__ == "__main__":
    sys.exit(main())
