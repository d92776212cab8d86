"""Chat-platform adapters over ``core`` (``bots.discord``: the Discord bot)."""
