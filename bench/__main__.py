"""``python -m bench [--quick] [--json] [--only NAME ...] [--verbose]``.

Runs the timed scenarios one after the other against one emulator process, then the untimed ones (memory,
cost) together, each on its own emulator process; prints one JSON object (``{scenario: {"ratio", "target",
"pass", ...}}``) with ``--json`` or a table otherwise, and writes the Markdown table to
``bench/results/latest.md`` (``latest-quick.md`` for ``--quick``; ``--out`` elsewhere). The exit code is 1
when a scenario misses its target or fails to run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import (
    burst,
    cost,
    discord_ack,
    mcp_latency,
    memory,
    overhead,
    saturation,
    scaleout,
    startup,
    streaming,
)
from bench.harness import EmulatorProcess, RunOptions, ScenarioResult, log
from bench.report import markdown_table, write_results


@dataclass(frozen=True)
class Scenario:
    """How to run one scenario. ``timed`` ones run one at a time on the shared emulator; the others (nothing
    in them is a duration) run together at the end, each on an emulator process of its own."""

    run: Callable[..., Awaitable[ScenarioResult]]
    metric: str
    target: float
    needs_emulator: bool = True
    timed: bool = True


SCENARIOS: dict[str, Scenario] = {
    overhead.NAME: Scenario(overhead.run, overhead.METRIC, overhead.TARGET),
    saturation.NAME: Scenario(saturation.run, saturation.METRIC, saturation.TARGET),
    streaming.NAME: Scenario(streaming.run, streaming.METRIC, streaming.TARGET),
    memory.NAME: Scenario(memory.run, memory.METRIC, memory.TARGET, timed=False),
    startup.NAME: Scenario(startup.run, startup.METRIC, startup.TARGET, needs_emulator=False),
    discord_ack.NAME: Scenario(discord_ack.run, discord_ack.METRIC, discord_ack.TARGET),
    cost.NAME: Scenario(cost.run, cost.METRIC, cost.TARGET, timed=False),
    mcp_latency.NAME: Scenario(mcp_latency.run, mcp_latency.METRIC, mcp_latency.TARGET),
    burst.NAME: Scenario(burst.run, burst.METRIC, burst.TARGET),
    scaleout.NAME: Scenario(scaleout.run, scaleout.METRIC, scaleout.TARGET),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Seedream Studio performance suite: "
        "every figure a ratio measured side by side in the same run.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller runs (the whole suite in under a minute)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only these scenarios ({', '.join(SCENARIOS)})",
    )
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the Markdown table "
        "(default bench/results/latest.md, latest-quick.md with --quick)",
    )
    return parser


async def run_one(name: str, emulator: EmulatorProcess | None, options: RunOptions) -> ScenarioResult:
    """One scenario; a crash is reported as a failed result with its error, never fatal to the suite."""
    scenario = SCENARIOS[name]
    log(options, f"{name}: running")
    started = time.perf_counter()
    try:
        if scenario.needs_emulator:
            if emulator is None:
                async with EmulatorProcess.start() as own:
                    result = await scenario.run(own, options)
            else:
                result = await scenario.run(emulator, options)
        else:
            result = await scenario.run(options)
    except Exception as exc:  # report it and go on: one broken scenario must not hide the others
        traceback.print_exc(file=sys.stderr)
        result = ScenarioResult(
            name=name,
            metric=scenario.metric,
            target=scenario.target,
            passed=False,
            details={"error": f"{type(exc).__name__}: {exc}"},
        )
    result.details["seconds"] = round(time.perf_counter() - started, 2)
    log(options, f"{name}: done in {result.details['seconds']} s")
    return result


async def run_suite(names: Sequence[str], options: RunOptions) -> dict[str, ScenarioResult]:
    """The timed scenarios one at a time on a shared emulator, then the untimed ones together."""
    results: dict[str, ScenarioResult] = {}
    timed = [n for n in names if SCENARIOS[n].timed]
    untimed = [n for n in names if not SCENARIOS[n].timed]
    if timed:
        async with EmulatorProcess.start() as emulator:
            for name in timed:
                results[name] = await run_one(name, emulator, options)
    together = await asyncio.gather(*(run_one(name, None, options) for name in untimed))
    results.update(zip(untimed, together, strict=True))
    return {name: results[name] for name in names}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("discord").setLevel(logging.ERROR)  # "PyNaCl is not installed": voice is not used
    options = RunOptions(quick=args.quick, verbose=args.verbose)
    names = args.only or list(SCENARIOS)
    results = asyncio.run(run_suite(names, options))
    path = write_results(results, quick=args.quick, path=args.out)
    if args.json:
        print(json.dumps({name: result.to_json() for name, result in results.items()}, ensure_ascii=False))
    else:
        print(markdown_table(results))
        print(f"\n(written to {path})")
    return 0 if all(r.passed is not False for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
