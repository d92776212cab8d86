"""What ``seedream generate`` shows on stderr while a job runs (stdout is for the results alone).

On a terminal: a live line (spinner, what the job is doing — its place in the queue, generating —, images
done of N, elapsed time) with each saved or failed image printed above it, paths never broken by the
renderer. Elsewhere (a pipe, a log file, CI): one plain line per event, with the elapsed time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from core.events import Event, Finished, ImageFailed, ImageReady, Progress, Queued, Started


class Reporter(Protocol):
    """Receives a job's events and the command's own notes (e.g. about Ctrl-C)."""

    def begin(self, job_id: str, images: int) -> None: ...

    async def on_event(self, event: Event) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


def event_line(event: Event, *, images: int) -> str | None:
    """One event in words, image numbers counted from 1 (``None``: nothing worth a line)."""
    if isinstance(event, Queued):
        return f"waiting for the provider: position {event.position} in line"
    if isinstance(event, Started):
        return f"job {event.job_id}: generating"
    if isinstance(event, Progress):
        return event.message
    if isinstance(event, ImageReady):
        image = event.image
        return f"image {image.index + 1} of {images} saved ({image.width}x{image.height}): {image.path}"
    if isinstance(event, ImageFailed):
        return f"image {event.failure.index + 1} of {images} failed: {event.failure.message}"
    if isinstance(event, Finished):
        saved = len(event.generation.images)
        return f"job {event.job_id}: {event.generation.status}, {saved} image{'' if saved == 1 else 's'} saved"
    return None


class PlainReporter:
    """One line per event on ``stream``: ``seedream: [  2.1s] image 1 of 4 saved (…): /path``."""

    def __init__(self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream or sys.stderr
        self._clock = clock
        self._start = clock()
        self._images = 0

    def begin(self, job_id: str, images: int) -> None:
        self._images = images

    async def on_event(self, event: Event) -> None:
        line = event_line(event, images=self._images)
        if line:
            self.note(line)

    def note(self, text: str) -> None:
        self._stream.write(f"seedream: [{self._clock() - self._start:6.1f}s] {text}\n")
        self._stream.flush()

    def close(self) -> None:
        return None


class LiveReporter:
    """A ``rich`` live status line on the terminal, with each event printed above it."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console = Console(stderr=True, highlight=False)
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                                  MofNCompleteColumn(), TextColumn("images"), TimeElapsedColumn(),
                                  console=self._console, transient=True)
        self._task = self._progress.add_task("starting", total=None)
        self._images = 0
        self._done = 0

    def begin(self, job_id: str, images: int) -> None:
        """Start the live line (only once the job exists: a refused request stays one plain line)."""
        self._images = images
        self._progress.update(self._task, description=f"job {job_id}", total=images, completed=0)
        self._progress.start()

    async def on_event(self, event: Event) -> None:
        if isinstance(event, ImageReady | ImageFailed):
            self._done += 1
            self._progress.update(self._task, completed=self._done)
        if isinstance(event, Queued):
            self._progress.update(self._task, description=f"queued: position {event.position}")
            return
        if isinstance(event, Started):
            self._progress.update(self._task, description="generating")
            return
        line = event_line(event, images=self._images)
        if line:
            style = "green" if isinstance(event, ImageReady) else "red" if isinstance(event, ImageFailed) else "dim"
            self._print(line, style)

    def note(self, text: str) -> None:
        self._print(text, "yellow")

    def close(self) -> None:
        self._progress.stop()

    def _print(self, text: str, style: str) -> None:
        from rich.text import Text

        # soft_wrap: the terminal may fold a long path on screen, but rich never inserts a line break in it,
        # so it copies whole; Text (not markup) so a "[" in a path or prompt is printed as it is.
        self._progress.console.print(Text(text, style=style), soft_wrap=True)


class QuietReporter:
    """``--quiet``: nothing but the notes about Ctrl-C."""

    def begin(self, job_id: str, images: int) -> None:
        return None

    async def on_event(self, event: Event) -> None:
        return None

    def note(self, text: str) -> None:
        sys.stderr.write(f"seedream: {text}\n")
        sys.stderr.flush()

    def close(self) -> None:
        return None


def reporter_for(*, quiet: bool) -> Reporter:
    """Live on a terminal, plain lines elsewhere, or quiet."""
    if quiet:
        return QuietReporter()
    if sys.stderr.isatty():
        return LiveReporter()
    return PlainReporter()
