"""Seedream Studio core: one request model over every Seedream provider.

Adapters (the CLI, the MCP server, the Discord bot) import only the names re-exported here.
"""
