"""Seedream Studio core: one request model over every Seedream provider.

Adapters (the CLI, the MCP server, the Discord bot) build the engine with ``core.factory`` and use the public
names of ``core.service``, ``core.requests``, ``core.results``, ``core.events``, ``core.errors``,
``core.catalog``, ``core.jobs`` and ``core.settings`` — and at start-up ``core.settings_errors.read_settings``
(settings read into one line naming the variable), ``core.environment`` (the checks of the output folder and
the job database) and ``core.about.version``; the rest is internal.
"""
