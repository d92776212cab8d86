"""Entry point of the Seedream Studio MCP Bundle (copied to the bundle's root; ``uv run`` starts it there).

The arguments are the folders chosen in the form's "Reference image folders": a host expands a multiple
directory field into separate arguments and cannot put a list into one environment variable, so they are
joined here into the server's ``SEEDREAM_MCP_ALLOWED_DIRS``. Everything else arrives in the environment.
"""

from __future__ import annotations

import os
import sys

from mcp_server.__main__ import main

if __name__ == "__main__":
    folders = [folder for folder in sys.argv[1:] if folder.strip()]
    if folders:
        os.environ["SEEDREAM_MCP_ALLOWED_DIRS"] = os.pathsep.join(folders)
    sys.exit(main([]))
