"""The ``seedream`` command (``core.cli:main``): ``main`` parses and dispatches, ``generate`` runs a job with
Ctrl-C handling, ``progress`` shows it on stderr, ``listing`` lists models and jobs and serves the emulator."""

from core.cli.generate import cli_json
from core.cli.listing import model_json
from core.cli.main import EXIT_CODES, main

__all__ = ["EXIT_CODES", "cli_json", "main", "model_json"]
