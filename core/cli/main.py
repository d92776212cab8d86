"""The ``seedream`` command: generate, edit, models, jobs, emulator, db, doctor — and ``mcp`` / ``bot`` /
``bundle`` for the adapters. Results go to stdout, everything else (progress, errors) to stderr, each error on one line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import NoReturn

from core.about import version
from core.catalog import provider_names_help
from core.cli.generate import provider_options, run_generate
from core.cli.listing import run_emulator, run_jobs, run_models
from core.cli.ops import run_db_current, run_db_upgrade, run_doctor
from core.errors import ConfigurationError, InvalidRequestError, SeedreamError
from core.requests import MAX_COUNT

log = logging.getLogger("core.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141
ADAPTER_SCRIPTS = {"mcp": "seedream-mcp", "bot": "seedream-bot", "bundle": "seedream-bundle"}

EXIT_CODES = """\
exit codes:
  generate, edit  0 every image saved · 3 some saved, some failed · 1 nothing saved ·
                  2 invalid input, settings or environment (nothing was sent to a provider) ·
                  4 still running at the provider (`seedream jobs ID` saves the rest) ·
                  130 Ctrl-C cut the job short (what was saved is printed)
  models          0 listed · 2 unknown provider
  jobs            0 listed (a job waiting on its provider's task is checked on first) · 1 no such job ·
                  2 invalid option, settings or job database
  emulator        0 stopped with Ctrl-C · 2 invalid option or the port cannot be used
  db upgrade      0 upgraded, or already at this version's revision · 1 the database server does not answer ·
                  2 invalid settings, not a job database, or one written by a newer version
  db current      0 shown · 1 and 2 as for db upgrade
  doctor          0 every needed check passed · 1 some check failed (its line says what to do) · 2 invalid settings
  any command     141 stdout was closed early (e.g. piped into head)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seedream``; returns the exit code (see ``EXIT_CODES``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ADAPTER_SCRIPTS:  # their options are theirs to parse
        return _run_script(ADAPTER_SCRIPTS[argv[0]], argv[1:])
    # Paths and prompts may hold bytes that are not UTF-8: write them back as they came, never crash on them.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handling below
        return code
    except SeedreamError as exc:
        print(f"seedream: {exc.message}", file=sys.stderr)
        if isinstance(exc, InvalidRequestError | ConfigurationError):
            return EXIT_USAGE
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("seedream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader is gone (``seedream models | head -1``): nothing more to say, and nowhere to say it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug of ours: one line, the details only with -v
        log.debug("unexpected error", exc_info=True)
        print(f"seedream: internal error ({type(exc).__name__}: {exc}); run with -v for details",
              file=sys.stderr)
        return EXIT_FAILED


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the usage itself is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seedream", description="ByteDance Seedream images from the terminal.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"seedream {version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    gen = _command(sub, "generate", "generate images from a prompt")
    gen.add_argument("prompt", nargs="?", help="what to draw; - reads it from stdin")
    gen.add_argument("--prompt-file", metavar="FILE", help="read the prompt from FILE (- for stdin)")
    _generation_options(gen)
    gen.set_defaults(handler=_generate_handler)

    edit = _command(sub, "edit", "edit or combine reference images")
    edit.add_argument("refs", nargs="+", metavar="REF", help="reference image: path, URL or data URI")
    prompt = edit.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="what to change; - reads it from stdin")
    prompt.add_argument("--prompt-file", metavar="FILE", help="read the prompt from FILE (- for stdin)")
    _generation_options(edit, with_images=False)
    edit.set_defaults(handler=run_generate)

    models = _command(sub, "models", "list models per provider")
    models.add_argument("--provider", help="only this provider")
    models.add_argument("--json", action="store_true", help="print one JSON array on stdout")
    models.set_defaults(handler=run_models)

    jobs = _command(sub, "jobs", "list recent jobs (one line each), or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--limit", type=_bounded(1, 10_000), default=20, help="how many (default 20)")
    jobs.add_argument("--json", action="store_true", help="print JSON on stdout")
    jobs.set_defaults(handler=run_jobs)

    emu = _command(sub, "emulator", "serve the provider emulator on loopback")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=_bounded(0, 65535), default=8790, help="0 picks a free one")
    emu.add_argument("--latency", type=_bounded(0, 3600, float), default=0.0, help="seconds per generated image")
    emu.add_argument("--visual-secret", default="sandbox-secret",
                     help="the VOLC_SECRETKEY the Visual route verifies signatures with")
    emu.set_defaults(handler=run_emulator)

    db = _command(sub, "db", "the job database's schema (SEEDREAM_DATABASE_URL or the embedded file)")
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations (safe to run again, and from several hosts)")
    upgrade.set_defaults(handler=run_db_upgrade)
    current = db_sub.add_parser("current", help="show the schema revision, changing nothing")
    current.set_defaults(handler=run_db_current)

    doctor = _command(sub, "doctor", "check every configured backend, the output folder and the provider keys")
    doctor.add_argument("--json", action="store_true", help="print one JSON array on stdout")
    doctor.set_defaults(handler=run_doctor)

    sub.add_parser("mcp", help="run the MCP server (same as seedream-mcp; see its --help)")
    sub.add_parser("bot", help="run the Discord bot (same as seedream-bot; see its --help)")
    sub.add_parser("bundle", help="build the Claude Desktop extension (.mcpb; see its --help)")
    return parser


def _generation_options(parser: argparse.ArgumentParser, *, with_images: bool = True) -> None:
    """The flags ``generate`` and ``edit`` share (add new generation flags here)."""
    parser.add_argument("--provider", help=provider_names_help())
    parser.add_argument("--model", help="model name or alias (see `seedream models`)")
    parser.add_argument("--size", help="a tier (2K), WxH (2048x2048) or an aspect ratio (16:9)")
    parser.add_argument("--aspect-ratio", help="with a tier: e.g. --size 2K --aspect-ratio 16:9")
    parser.add_argument("--count", type=_bounded(1, MAX_COUNT), default=1, metavar="N",
                        help=f"N independent images to pick from, one request each (1–{MAX_COUNT})")
    parser.add_argument("--series", type=_bounded(1, MAX_COUNT), metavar="N",
                        help="one group request for up to N related images (a story, a set); the model decides "
                             "how many")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--watermark", action="store_true", help="add the provider's 'AI generated' mark")
    parser.add_argument("--format", dest="output_format", choices=["jpeg", "png"])
    parser.add_argument("--b64", action="store_true", help="ask for base64 results instead of URLs")
    parser.add_argument("--no-stream", action="store_true", help="do not stream group results")
    if with_images:
        parser.add_argument("--image", action="append", default=[], metavar="REF", help="reference image")
    parser.add_argument("--out", type=_user_path, metavar="DIR", help="output directory (~ is expanded)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    provider_options(parser)


def _command(sub: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=summary, epilog=EXIT_CODES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _generate_handler(args: argparse.Namespace) -> int:
    if (args.prompt is None) == (args.prompt_file is None):
        print("seedream generate: give the prompt as PROMPT, - (read from stdin) or --prompt-file FILE (one of "
              "them)", file=sys.stderr)
        return EXIT_USAGE
    return run_generate(args)


def _bounded(low: float, high: float, kind: type = int):  # type: ignore[no-untyped-def]
    """An argparse type: a number of ``kind`` from ``low`` to ``high``."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is out of range: allowed {low:g}–{high:g}")
        return value

    return parse


def _user_path(text: str) -> Path:
    """A path with ``~`` expanded (a shell leaves ``--out=~/x`` alone)."""
    return Path(os.path.expanduser(text))


def _run_script(script: str, rest: list[str]) -> int:
    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == script]
    sys.argv = [script, *rest]
    return int(entry.load()() or 0)

