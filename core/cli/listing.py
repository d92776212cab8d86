"""``seedream models``, ``seedream jobs`` and ``seedream emulator``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import shlex
import socket
import sys
from typing import Any

from core.catalog import MODELS, provider_kind
from core.factory import open_service
from core.filesystem import describe_os_error
from core.jobs import JobRecord
from core.settings import Settings
from core.settings_errors import read_settings

EXIT_OK, EXIT_USAGE = 0, 2
PROMPT_WIDTH = 48


def run_models(args: argparse.Namespace) -> int:
    """Every model per provider, one line of capabilities and one of sizes (or ``--json``)."""
    kind = provider_kind(args.provider) if args.provider else None
    models = [m for m in MODELS if kind is None or m.provider == kind]
    if args.json:
        print(json.dumps([model_json(m) for m in models], ensure_ascii=False))
        return EXIT_OK
    for m in models:
        caps = ", ".join(filter(None, [
            f"refs {m.min_references}–{m.max_references}" if m.max_references else "text only",
            f"--series up to {m.max_outputs}" if m.series else "no series",
            "stream" if m.stream else "", "seed" if m.seed else "", "guidance" if m.guidance else ""]))
        print(f"{m.provider:<9} {m.key:<18} {m.wire_name:<34} {caps}")
        print(f"{'':<9} size: {m.sizes.describe()}")
    return EXIT_OK


def model_json(m: Any) -> dict[str, Any]:
    """One model in ``seedream models --json``."""
    return {"provider": m.provider, "model": m.key, "id": m.wire_name, "title": m.title, "aliases": list(m.aliases),
            "sizes": m.sizes.describe(), "default_size": m.sizes.default, "tiers": list(m.sizes.tiers),
            "aspect_ratios": list(m.sizes.ratios), "references": [m.min_references, m.max_references],
            "max_images": m.max_outputs, "series": m.series, "stream": m.stream, "seed": m.seed,
            "guidance": m.guidance, "output_formats": list(m.output_formats), "notes": m.notes}


def run_jobs(args: argparse.Namespace) -> int:
    """Recent jobs, one line each (date, id, status, model, images, prompt, paths), or one job as JSON.

    Raises:
        JobNotFoundError: no job with that id (exit 1).
    """
    async def load() -> list[JobRecord]:
        async with open_service(read_settings(Settings)) as service:
            if args.job_id:
                return [await service.get_job(args.job_id)]
            return await service.list_jobs(limit=args.limit)

    records = asyncio.run(load())
    if args.job_id:
        print(json.dumps(records[0].to_generation().to_dict(), ensure_ascii=False, indent=None if args.json else 2))
    elif args.json:
        print(json.dumps([r.to_generation().to_dict() for r in records], ensure_ascii=False))
    else:
        for record in records:
            print(job_line(record))
        if not records:
            print("No jobs yet.", file=sys.stderr)
    return EXIT_OK


def job_line(record: JobRecord) -> str:
    """One line whatever the prompt: its line breaks and control characters become spaces."""
    when = record.created_at.astimezone().strftime("%Y-%m-%d %H:%M") if record.created_at else "?"
    prompt = " ".join("".join(c if c.isprintable() else " " for c in record.prompt).split())
    if len(prompt) > PROMPT_WIDTH:
        prompt = prompt[: PROMPT_WIDTH - 1] + "…"
    count = len(record.images)
    paths = " ".join(shlex.quote(str(i.path)) for i in record.images)
    return (f"{when}  {record.job_id}  {record.status:<11} {record.provider}/{record.model:<16} "
            f"{count} image{'' if count == 1 else 's'}  {json.dumps(prompt, ensure_ascii=False)}  {paths}").rstrip()


def run_emulator(args: argparse.Namespace) -> int:
    """The provider emulator on ``--host``/``--port`` until Ctrl-C (exit 0); a port it cannot have: exit 2."""
    import uvicorn

    from core.emulator import EmulatorConfig, create_app

    try:
        sock = listening_socket(args.host, args.port)
    except OSError as exc:
        print(f"seedream: cannot listen on {args.host}:{args.port}: {_bind_words(exc)}; choose another with "
              "--port (or --host)", file=sys.stderr)
        return EXIT_USAGE
    port = sock.getsockname()[1]
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{port}"
    app = create_app(EmulatorConfig(public_base_url=base, latency=args.latency, visual_secret_key=args.visual_secret))
    print(f"Seedream emulator on {base}: SEEDREAM_ARK_BASE_URL={base}/api/v3, SEEDREAM_VISUAL_BASE_URL / "
          f"SEEDREAM_CHANJING_BASE_URL / SEEDREAM_GATEWAY_BASE_URL={base}; any non-empty keys, "
          f"VOLC_SECRETKEY={args.visual_secret}", file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return EXIT_OK


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (taken before anything says it is serving).

    Raises:
        OSError: the address is in use, not allowed, or the host is unknown.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family, backlog=128)


def _bind_words(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "no such host"
    if error.errno == errno.EADDRINUSE:
        return "the port is in use"
    return describe_os_error(error)
