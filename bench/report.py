"""The Markdown table of a run (and its full details as JSON beside it), written to ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import ScenarioResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: The side-by-side figure worth a column in the table, per scenario (keys of ``details``).
COMPARISONS: dict[str, tuple[str, ...]] = {
    "overhead": ("ours_median_ms", "bare_median_ms", "added_ms"),
    "saturation": ("rejected", "sdk_ratio", "sdk_rejected", "sdk_failed_jobs"),
    "streaming": ("non_streaming_ratio",),
    "memory": ("url_peak_mib", "b64_json_peak_mib", "sdk_b64_json_peak_mib"),
    "startup": ("seedream_mcp_ms", "minimal_ms"),
    "discord_ack": ("missed_acks", "p50_s"),
    "cost": ("requests_per_image", "sdk_billed_per_image", "sdk_requests_per_image"),
    "mcp": ("single_2k_ratio", "group_4x4k_ratio", "single_2k_ours_added_ms", "single_2k_bare_added_ms",
            "group_4x4k_ours_added_ms", "group_4x4k_bare_added_ms", "group_4x4k_result_chars"),
    "burst": ("rejected", "makespan_s", "ideal_s", "bare_rejected"),
}


def _verdict(result: ScenarioResult) -> str:
    if result.skipped:
        return "skipped"
    return {True: "pass", False: "**FAIL**", None: "—"}[result.passed]


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown_table(results: Mapping[str, ScenarioResult]) -> str:
    """One row per scenario: what is divided, the ratio, the target, the verdict, the side-by-side figures."""
    lines = ["| scenario | metric | ratio | target | result | side by side |", "|---|---|---|---|---|---|"]
    for name, result in results.items():
        ratio = "—" if result.ratio is None else _format(result.ratio)
        if result.skipped:
            extra = result.skipped
        elif "error" in result.details:
            extra = f"error: {result.details['error']}"
        else:
            extra = ", ".join(
                f"{key} {_format(result.details[key])}"
                for key in COMPARISONS.get(name, ())
                if key in result.details
            )
        lines.append(
            f"| {name} | {result.metric} | {ratio} | ≤ {_format(result.target)} | {_verdict(result)} "
            f"| {extra} |"
        )
    return "\n".join(lines)


def write_results(results: Mapping[str, ScenarioResult], *, quick: bool, path: Path | None = None) -> Path:
    """Write the table (plus the machine it ran on and any notes) and return its path."""
    path = path or RESULTS_DIR / ("latest-quick.md" if quick else "latest.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average at the end {load}"
    )
    notes = [f"- **{name}**: {r.note}" for name, r in results.items() if r.note]
    body = [
        f"# Seedream Studio benchmarks ({'quick' if quick else 'full'} run, {stamp}, {machine})",
        "",
        markdown_table(results),
        "",
    ]
    if notes:
        body += ["Notes:", "", *notes, ""]
    path.write_text("\n".join(body), encoding="utf-8")
    # Every detail, beside the table, for whoever wants more than its columns.
    details = {name: result.to_json() for name, result in results.items()}
    path.with_suffix(".json").write_text(json.dumps(details, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
