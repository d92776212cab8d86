"""``seedream generate`` and ``seedream edit``: read the prompt, run one job with progress on stderr, print
the saved paths (or one JSON object) on stdout, and handle Ctrl-C without losing anything paid for.

Ctrl-C once: no new provider request is sent, the images already being made are finished and saved, and
the result is printed as usual (exit 130 only if something was cut short). Ctrl-C again: the job stops at
once; whole images already saved are kept and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from core.cli.progress import Reporter, reporter_for
from core.errors import InvalidRequestError
from core.factory import open_service
from core.jobs import Requester
from core.references import reference_scheme
from core.requests import GenerateRequest
from core.results import Generation, JobStatus
from core.service import ImageService, JobHandle
from core.settings import Settings
from core.settings_errors import read_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: A prompt file or stdin is read up to this much (prompts are far shorter; /dev/zero must not hang us).
MAX_PROMPT_FILE_BYTES = 1024 * 1024


def run_generate(args: argparse.Namespace) -> int:
    """``generate`` and ``edit``: the exit code says how the job ended (see ``core.cli.main``)."""
    prompt = read_prompt(args)
    images = [local_reference(i) for i in (getattr(args, "refs", None) or getattr(args, "image", []))]
    request = GenerateRequest.create(
        prompt=prompt, provider=args.provider, model=args.model, size=args.size,
        aspect_ratio=args.aspect_ratio, count=args.count, series=args.series, seed=args.seed,
        guidance=args.guidance, watermark=args.watermark, output_format=args.output_format, images=tuple(images),
        response_format="b64_json" if args.b64 else "url", stream=False if args.no_stream else None)
    settings = read_settings(Settings)
    generation = asyncio.run(_generate(settings, request, quiet=args.quiet,
                                       output_dir=args.out.absolute() if args.out else None))
    if args.json:
        print(json.dumps(cli_json(generation), ensure_ascii=False))
    else:
        print_summary(generation)
    return exit_code(generation)


def exit_code(generation: Generation) -> int:
    """0 all saved, 3 partial, 130 cut short by Ctrl-C, 1 nothing saved."""
    if generation.status is JobStatus.INTERRUPTED:
        return EXIT_INTERRUPTED
    return {JobStatus.SUCCEEDED: EXIT_OK, JobStatus.PARTIAL: EXIT_PARTIAL}.get(generation.status, EXIT_FAILED)


async def _generate(settings: Settings, request: GenerateRequest, *, quiet: bool,
                    output_dir: Path | None) -> Generation:
    reporter = reporter_for(quiet=quiet)
    try:
        async with open_service(settings, output_dir=output_dir) as service:
            # The job's first step runs only once this awaits again, after ``begin``: no event is missed.
            handle = await service.start(request, requester=Requester(adapter="cli"), on_event=reporter.on_event)
            reporter.begin(handle.job_id, handle.plan.images)
            with _interrupts(handle, reporter):
                return await _outcome(service, handle)
    finally:
        reporter.close()


async def _outcome(service: ImageService, handle: JobHandle) -> Generation:
    """The job's ``Generation``; when it was cancelled (a second Ctrl-C), as the store recorded it."""
    await asyncio.wait({handle.task})
    if handle.task.cancelled():
        return (await service.get_job(handle.job_id)).to_generation()
    return handle.task.result()


@contextmanager
def _interrupts(handle: JobHandle, reporter: Reporter) -> Iterator[None]:
    """SIGINT while the job runs: the first winds it down, the second cancels it."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            in_flight = handle.wind_down()
            if in_flight:
                reporter.note(f"finishing {in_flight} image{'' if in_flight == 1 else 's'} in flight… "
                              "Ctrl-C again to stop")
            else:
                reporter.note("nothing in flight; stopping… Ctrl-C again to stop at once")
        elif presses == 2:
            reporter.note("stopping now; images already saved are kept")
            handle.task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C stays a KeyboardInterrupt
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def read_prompt(args: argparse.Namespace) -> str:
    """The prompt: the argument, ``-`` for stdin, or ``--prompt-file FILE`` (``-`` also stdin).

    Raises:
        InvalidRequestError: the file cannot be read or is not UTF-8 text.
    """
    source = getattr(args, "prompt_file", None)
    if source is None:
        if args.prompt != "-":
            return str(args.prompt)
        source = "-"
    if source == "-":
        return _decoded(_read_capped(sys.stdin.buffer), "stdin")
    path = Path(source).expanduser()
    try:
        with path.open("rb") as handle:
            return _decoded(_read_capped(handle), str(path))
    except OSError as exc:
        from core.filesystem import describe_os_error

        raise InvalidRequestError("prompt file", str(path), "a readable UTF-8 text file",
                                  reason=describe_os_error(exc)) from None


def _read_capped(handle: BinaryIO) -> bytes:
    data = handle.read(MAX_PROMPT_FILE_BYTES + 1)
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise InvalidRequestError("prompt", f"<more than {MAX_PROMPT_FILE_BYTES:,} bytes>",
                                  "at most 4000 characters")
    return data


def _decoded(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise InvalidRequestError("prompt", source, "UTF-8 text",
                                  reason=f"byte 0x{data[exc.start]:02X} at offset {exc.start} is not UTF-8") from None


def local_reference(ref: str) -> str:
    """A reference as the core wants it: a local path made absolute (``~`` expanded); URLs and URIs of any
    scheme as given (the core refuses the schemes it does not take, by name)."""
    if reference_scheme(ref):
        return ref
    try:
        return str(Path(ref).expanduser().absolute())
    except RuntimeError:  # "~nobody": left for the core to refuse
        return ref


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


def print_summary(generation: Generation) -> None:
    """Saved paths on stdout (one per line); failures and the job's error on stderr, numbered from 1."""
    for image in generation.images:
        print(image.path)
    sys.stdout.flush()
    for failure in generation.failures:
        print(f"seedream: image {failure.index + 1} failed: {failure.message}", file=sys.stderr)
    if generation.error:
        print(f"seedream: {generation.error}", file=sys.stderr)
