"""A fake Discord (REST + gateway on 127.0.0.1) for testing real discord.py bots.

Quick start::

    async with FakeDiscord(attachment_size_limit=1024) as fake:
        fake.point_discord_py_here()  # or build the bot pointed at fake.api_base / fake.gateway_url
        async with running_client(make_bot(), fake):
            record = await fake.slash("imagine", {"prompt": "a cat"})
            await record.acknowledged()
            ...
        fake.assert_clean()
"""

import warnings

with warnings.catch_warnings():
    # discord.py imports ``audioop`` (deprecated since Python 3.11): keep ``filterwarnings = error`` happy.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

from .clock import FakeClock
from .fake import FakeDiscord
from .gateway import CLOSE_INVALID_SHARD, shard_of
from .models import BOT_PERMISSIONS, MEMBER_PERMISSIONS, FakeChannel, FakeGuild, FakeRole, FakeUser, Upload
from .records import (
    CallbackRecord,
    InteractionRecord,
    MessageVersion,
    RequestRecord,
    StoredAttachment,
    StoredMessage,
    SyncCall,
    Violation,
)
from .rules import ApiError
from .runner import fake_discord, running_client
from .server import Stall

__all__ = [
    "BOT_PERMISSIONS",
    "CLOSE_INVALID_SHARD",
    "MEMBER_PERMISSIONS",
    "ApiError",
    "CallbackRecord",
    "FakeChannel",
    "FakeClock",
    "FakeDiscord",
    "FakeGuild",
    "FakeRole",
    "FakeUser",
    "InteractionRecord",
    "MessageVersion",
    "RequestRecord",
    "Stall",
    "StoredAttachment",
    "StoredMessage",
    "SyncCall",
    "Upload",
    "Violation",
    "fake_discord",
    "running_client",
    "shard_of",
]
