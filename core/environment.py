"""Checks of the environment, made before anything billable: once a provider has been paid, finding out that
the images have nowhere to go is too late.

* ``check_output_folder(folder, needed_bytes=…)`` — the output folder exists or can be created, is a folder,
  can be written, and has room for what a request is expected to produce (``expected_bytes(plan)``).
  ``ImageService.start`` runs it for every job (through ``OutputFolderCheck``, which repeats the write probe
  at most once a minute and the free-space check every time), so every adapter gets it.
* ``check_environment(settings)`` / ``environment_problems(settings)`` — everything an entry point can check
  at start-up: the job database (``core.jobs_check``) and the output folder. Settings themselves (numbers,
  provider base URLs) are checked when they are read (``core.settings_errors.read_settings``).

Every problem is a ``ConfigurationError`` of one line naming the variable or path, what is wrong and what
to do.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from core.clocks import SecondsClock
from core.errors import ConfigurationError
from core.filesystem import folder_problem, free_bytes, megabytes
from core.jobs_check import check_jobs_database
from core.requests import Plan
from core.settings import CommonSettings

OUTPUT_VARIABLE = "SEEDREAM_OUTPUT_DIR"
#: Bytes per pixel a saved image is assumed to take: generous for Seedream's JPEGs (a 2K JPEG is ~0.5–1 MB),
#: a photo-like PNG. Only to refuse a request whose images clearly cannot fit.
BYTES_PER_PIXEL = {"jpeg": 0.25, "png": 1.5}
SIDECAR_BYTES = 4096
_UNKNOWN_PIXELS = 2048 * 2048


def expected_bytes(plan: Plan) -> int:
    """About how many bytes the images of ``plan`` will take on disk (with their sidecars)."""
    size, sizes = plan.size, plan.model.sizes
    if size.width and size.height:
        pixels = size.width * size.height
    elif size.tier and sizes.tiers.get(size.tier):  # an endpoint of unknown model has tiers without sizes
        width, height = next(iter(sizes.tiers[size.tier].values()))
        pixels = width * height
    elif plan.references and plan.references[0].width and plan.references[0].height:
        pixels = plan.references[0].width * plan.references[0].height  # adaptive: follows the reference
    else:
        pixels = _UNKNOWN_PIXELS
    per_image = int(pixels * BYTES_PER_PIXEL.get(plan.output_format, 1.5)) + SIDECAR_BYTES
    return per_image * plan.images


def check_output_folder(folder: Path, *, needed_bytes: int = 0) -> None:
    """The output folder can take ``needed_bytes`` more (creating it if missing).

    Raises:
        ConfigurationError: naming the folder, the problem and ``SEEDREAM_OUTPUT_DIR``.
    """
    problem = folder_problem(folder)
    if problem:
        raise ConfigurationError(f"The output folder {folder} cannot be used: {problem}. Set {OUTPUT_VARIABLE} "
                                 "(the command line's --out) to a folder you can write to.",
                                 variables=(OUTPUT_VARIABLE,))
    _check_room(folder, needed_bytes)


class OutputFolderCheck:
    """``check_output_folder`` for every job, cheaply: a folder proven writable is probed again only after
    ``probe_seconds`` (a file created and removed costs a thread hop and several system calls per job); its
    free space is checked every time. A folder that turns unwritable in between is still caught when an
    image is saved (it becomes that image's ``save_failed`` failure, with its link)."""

    def __init__(self, *, probe_seconds: float = 60.0, clock: SecondsClock = time.monotonic) -> None:
        self._probe_seconds = probe_seconds
        self._clock = clock
        self._proven: dict[Path, float] = {}  # folder → when its write probe last passed

    async def check(self, folder: Path, *, needed_bytes: int = 0) -> None:
        """Raises ``ConfigurationError`` as ``check_output_folder`` does."""
        proven = self._proven.get(folder)
        if proven is None or self._clock() - proven > self._probe_seconds:
            await asyncio.to_thread(check_output_folder, folder, needed_bytes=needed_bytes)
            self._proven[folder] = self._clock()
            return
        _check_room(folder, needed_bytes)


def _check_room(folder: Path, needed_bytes: int) -> None:
    free = free_bytes(folder) if needed_bytes else None
    if free is not None and free < needed_bytes:
        raise ConfigurationError(
            f"The output folder {folder} cannot be used: its disk has {megabytes(free)} free and this request "
            f"needs about {megabytes(needed_bytes)}. Free some space, or set {OUTPUT_VARIABLE} (the command "
            "line's --out) to another disk.", variables=(OUTPUT_VARIABLE,))


def jobs_database_variable(settings: CommonSettings) -> str:
    """The setting that moves the job database: its own when set, else the data folder's."""
    return "SEEDREAM_JOBS_DB" if settings.jobs_db is not None else "SEEDREAM_DATA_DIR (or SEEDREAM_JOBS_DB)"


def environment_problems(settings: CommonSettings, *, newest_schema: int | None = None) -> list[ConfigurationError]:
    """Every problem an entry point can see at start-up: the job database, then the output folder."""
    problems = []
    try:
        if settings.database_url is None:  # a database server is checked when the store connects
            check_jobs_database(settings.jobs_path, variable=jobs_database_variable(settings),
                                newest_schema=newest_schema)
    except ConfigurationError as exc:
        problems.append(exc)
    try:
        check_output_folder(settings.images_dir)
    except ConfigurationError as exc:
        problems.append(exc)
    return problems


def check_environment(settings: CommonSettings, *, newest_schema: int | None = None) -> None:
    """Raise the first start-up problem (see ``environment_problems``).

    Raises:
        ConfigurationError: one line naming the variable or path, what is wrong and what to do.
    """
    problems = environment_problems(settings, newest_schema=newest_schema)
    if problems:
        raise problems[0]
