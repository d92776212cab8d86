"""The Seedream Discord bot: ``/imagine``, ``/edit``, ``/models``, ``/history``, ``/job``, ``/quota``.

Run it with ``seedream-bot`` (or ``seedream bot``); see ``bots.discord.__main__``. ``ImageBot`` takes its
resources (an open ``ImageService``, ``BotSettings``, a clock and a sleep) from the caller.

Layers, bottom-up; a module imports only from its own layer or those below (each docstring names its layer):

1. pure, no discord.py: ``stores`` (what the bot needs of the job store), ``settings``,
   ``wording`` (failure kinds → words, status text), ``policy``, ``access``, ``imaging``, ``rebuild``
2. Discord helpers: ``interactions``, ``render`` (embeds), ``attachments``, ``options``, ``endpoint``
3. delivery and the generation flow: ``delivery``, ``flow``
4. interface, depending on the ``BotServices`` protocol (``services``): ``actions``, ``buttons``, ``cogs``
5. assembly: ``bot`` (``ImageBot`` implements ``BotServices``), ``__main__``
"""

import warnings

with warnings.catch_warnings():
    # discord.py imports ``audioop`` (deprecated in Python 3.11–3.12) for voice, which this bot never uses.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

from bots.discord.settings import BotSettings  # noqa: E402

__all__ = ["BotSettings", "ImageBot"]


def __getattr__(name: str) -> object:
    # ImageBot is imported lazily so ``import bots.discord.settings`` stays light.
    if name == "ImageBot":
        from bots.discord.bot import ImageBot

        return ImageBot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
