"""The ``seedream`` command: generate, edit, models, jobs, emulator — and ``mcp`` / ``bot`` for the adapters."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from core.catalog import MODELS, provider_names_help
from core.errors import ConfigurationError, InvalidRequestError, SeedreamError
from core.events import Event, Finished, ImageFailed, ImageReady, Progress, Queued, Started
from core.factory import open_service
from core.jobs import Requester
from core.requests import GenerateRequest
from core.results import Generation, JobStatus
from core.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
ADAPTER_SCRIPTS = {"mcp": "seedream-mcp", "bot": "seedream-bot", "bundle": "seedream-bundle"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seedream``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ADAPTER_SCRIPTS:  # their options are theirs to parse
        return _run_script(ADAPTER_SCRIPTS[argv[0]], argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except SeedreamError as exc:
        print(f"seedream: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, InvalidRequestError | ConfigurationError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("seedream: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seedream", description="ByteDance Seedream images from the terminal.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="generate images from a prompt")
    gen.add_argument("prompt")
    _generation_options(gen)
    gen.set_defaults(handler=_run_generate)

    edit = sub.add_parser("edit", help="edit or combine reference images")
    edit.add_argument("refs", nargs="+", metavar="REF", help="reference image: path, URL or data URI")
    edit.add_argument("--prompt", required=True)
    _generation_options(edit, with_images=False)
    edit.set_defaults(handler=_run_generate)

    models = sub.add_parser("models", help="list models per provider")
    models.add_argument("--provider", help="only this provider")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=_run_models)

    jobs = sub.add_parser("jobs", help="list recent jobs, or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(handler=_run_jobs)

    emu = sub.add_parser("emulator", help="serve the provider emulator on loopback")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8790)
    emu.add_argument("--latency", type=float, default=0.0, help="seconds per generated image")
    emu.add_argument("--visual-secret", default="sandbox-secret",
                     help="the VOLC_SECRETKEY the Visual route verifies signatures with")
    emu.set_defaults(handler=_run_emulator)

    sub.add_parser("mcp", help="run the MCP server (same as seedream-mcp; see its --help)")
    sub.add_parser("bot", help="run the Discord bot (same as seedream-bot; see its --help)")
    sub.add_parser("bundle", help="build the Claude Desktop extension (.mcpb; see its --help)")
    return parser


def _generation_options(parser: argparse.ArgumentParser, *, with_images: bool = True) -> None:
    parser.add_argument("--provider", help=provider_names_help())
    parser.add_argument("--model", help="model name or alias (see `seedream models`)")
    parser.add_argument("--size", help="a tier (2K), WxH (2048x2048) or an aspect ratio (16:9)")
    parser.add_argument("--aspect-ratio", help="with a tier: e.g. --size 2K --aspect-ratio 16:9")
    parser.add_argument("--count", type=int, default=1, help="images (a ceiling in Ark group mode)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--watermark", action="store_true", help="add the provider's 'AI generated' mark")
    parser.add_argument("--format", dest="output_format", choices=["jpeg", "png"])
    parser.add_argument("--b64", action="store_true", help="ask for base64 results instead of URLs")
    parser.add_argument("--no-stream", action="store_true", help="do not stream group results")
    if with_images:
        parser.add_argument("--image", action="append", default=[], metavar="REF", help="reference image")
    parser.add_argument("--out", type=Path, help="output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _run_generate(args: argparse.Namespace) -> int:
    images = list(getattr(args, "refs", None) or getattr(args, "image", []))
    images = [str(Path(i).absolute()) if _looks_local(i) else i for i in images]
    request = GenerateRequest.create(
        prompt=args.prompt, provider=args.provider, model=args.model, size=args.size,
        aspect_ratio=args.aspect_ratio, count=args.count, seed=args.seed, guidance=args.guidance,
        watermark=args.watermark, output_format=args.output_format, images=tuple(images),
        response_format="b64_json" if args.b64 else "url", stream=False if args.no_stream else None)
    overrides: dict[str, Any] = {"output_dir": args.out.absolute()} if args.out else {}
    settings = Settings(**overrides)
    generation = asyncio.run(_generate(settings, request, show_progress=not args.json and sys.stderr.isatty()))
    if args.json:
        print(json.dumps(cli_json(generation), ensure_ascii=False))
    else:
        _print_summary(generation)
    return {JobStatus.SUCCEEDED: EXIT_OK, JobStatus.PARTIAL: EXIT_PARTIAL}.get(generation.status, EXIT_FAILED)


async def _generate(settings: Settings, request: GenerateRequest, *, show_progress: bool) -> Generation:
    async with open_service(settings) as service:
        return await service.generate(request, requester=Requester(adapter="cli"),
                                      on_event=_progress_printer() if show_progress else _quiet)


async def _quiet(event: Event) -> None:
    return None


def _progress_printer():  # type: ignore[no-untyped-def]
    from rich.console import Console

    console = Console(stderr=True)

    async def show(event: Event) -> None:
        if isinstance(event, Queued):
            console.print(f"[dim]queued: #{event.position} in line[/dim]")
        elif isinstance(event, Started):
            console.print(f"[dim]job {event.job_id}: generating…[/dim]")
        elif isinstance(event, Progress):
            console.print(f"[dim]{event.message}[/dim]")
        elif isinstance(event, ImageReady):
            i = event.image
            console.print(f"[green]✓[/green] image {i.index}: {i.width}x{i.height} → {i.path}")
        elif isinstance(event, ImageFailed):
            console.print(f"[red]✗[/red] image {event.failure.index}: {event.failure.message}")
        elif isinstance(event, Finished):
            console.print(f"[dim]{event.generation.status}[/dim]")

    return show


def cli_json(generation: Generation) -> dict[str, Any]:
    """The ``--json`` output: one object, stable keys."""
    return {
        "id": generation.job_id,
        "status": str(generation.status),
        "images": [{"path": str(i.path), "width": i.width, "height": i.height, "model": i.model,
                    "provider": i.provider, "seed": i.seed, "url": i.source_url} for i in generation.images],
        "failures": [f.to_dict() for f in generation.failures],
        "usage": generation.usage.to_dict(),
        "error": generation.error,
    }


def _print_summary(generation: Generation) -> None:
    for image in generation.images:
        print(image.path)
    for failure in generation.failures:
        print(f"image {failure.index} failed: {failure.message}", file=sys.stderr)
    if generation.error:
        print(f"seedream: {generation.error}", file=sys.stderr)


def _run_models(args: argparse.Namespace) -> int:
    from core.catalog import provider_kind

    kind = provider_kind(args.provider) if args.provider else None
    models = [m for m in MODELS if kind is None or m.provider == kind]
    if args.json:
        print(json.dumps([model_json(m) for m in models], ensure_ascii=False))
        return EXIT_OK
    for m in models:
        caps = ", ".join(filter(None, [
            f"refs {m.min_references}–{m.max_references}" if m.max_references else "text only",
            f"up to {m.max_outputs} images" if m.group else "1 image",
            "stream" if m.stream else "", "seed" if m.seed else "", "guidance" if m.guidance else ""]))
        print(f"{m.provider:<9} {m.key:<18} {m.wire_name:<34} {caps}")
        print(f"{'':<9} size: {m.sizes.describe()}")
    return EXIT_OK


def model_json(m: Any) -> dict[str, Any]:
    return {"provider": m.provider, "model": m.key, "id": m.wire_name, "title": m.title, "aliases": list(m.aliases),
            "sizes": m.sizes.describe(), "default_size": m.sizes.default, "tiers": list(m.sizes.tiers),
            "aspect_ratios": list(m.sizes.ratios), "references": [m.min_references, m.max_references],
            "max_images": m.max_outputs, "stream": m.stream, "seed": m.seed, "guidance": m.guidance,
            "output_formats": list(m.output_formats), "notes": m.notes}


def _run_jobs(args: argparse.Namespace) -> int:
    async def load() -> Any:
        async with open_service(Settings()) as service:
            if args.job_id:
                return (await service.get_job(args.job_id)).to_generation().to_dict()
            return [j.to_generation().to_dict() for j in await service.list_jobs(limit=args.limit)]

    data = asyncio.run(load())
    if args.json or args.job_id:
        print(json.dumps(data, ensure_ascii=False, indent=None if args.json else 2))
    else:
        for job in data:
            print(f"{job['id']}  {job['status']:<11} {job['provider']:<9} {job['model']:<18} "
                  f"{len(job['images'])} image(s)  {job['prompt'][:60]}")
    return EXIT_OK


def _run_emulator(args: argparse.Namespace) -> int:
    import uvicorn

    from core.emulator import EmulatorConfig, create_app

    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    app = create_app(EmulatorConfig(public_base_url=base, latency=args.latency, visual_secret_key=args.visual_secret))
    print(f"Seedream emulator on {base}: SEEDREAM_ARK_BASE_URL={base}/api/v3, SEEDREAM_VISUAL_BASE_URL / "
          f"SEEDREAM_CHANJING_BASE_URL / SEEDREAM_GATEWAY_BASE_URL={base}; any non-empty keys, "
          f"VOLC_SECRETKEY={args.visual_secret}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


def _run_script(script: str, rest: list[str]) -> int:
    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == script]
    sys.argv = [script, *rest]
    return int(entry.load()() or 0)


def _looks_local(ref: str) -> bool:
    return not ref.startswith(("http://", "https://", "data:", "file:"))


if __name__ == "__main__":
    sys.exit(main())
