"""The MCP scenarios' plumbing: ``burst`` runs ten calls through a real ``seedream-mcp`` over stdio. Only what
is not a duration is asserted (timings are ``python -m bench``'s business, as ratios)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_burst_of_mcp_calls_at_the_cap_is_queued_by_the_server_where_a_bare_client_is_refused(tmp_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "burst", "--quick", "--json", "--out", str(tmp_path / "t.md")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    burst = json.loads(completed.stdout)["burst"]
    assert (burst["rejected"], burst["succeeded"], burst["calls"], burst["cap"]) == (0, 10, 10, 2)
    assert burst["bare_rejected"] == 8 and burst["bare_succeeded"] == 2  # the cap, unmanaged
    assert burst["makespan_s"] > 0 and burst["ideal_s"] > 0 and isinstance(burst["pass"], bool)
    assert {"before_first_request_ms", "slot_idle_ms", "after_last_answer_ms"} <= set(burst)
