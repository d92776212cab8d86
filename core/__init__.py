"""Seedream Studio core: one request model over every Seedream provider.

Adapters (the CLI, the MCP server, the Discord bot) build the engine with ``core.factory`` and use the public
names of ``core.service``, ``core.requests``, ``core.results``, ``core.events``, ``core.errors``,
``core.catalog``, ``core.jobs`` and ``core.settings``; the rest is internal.
"""
