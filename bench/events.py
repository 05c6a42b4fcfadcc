"""Cross-process event latency: runs bench/event_latency.py and keeps the JSON line it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

SCRIPT = Path(__file__).with_name("event_latency.py")


def run(events: int, server: URL) -> dict[str, Any]:
    """The script's own figures, on the benchmark's server (it creates and drops a database of its own)."""
    print(f"event latency: {events} events, commit in this process, handler in another")
    env = dict(os.environ, FRONTDESK_TEST_DATABASE_URL=server.render_as_string(hide_password=False))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", str(events)],
        capture_output=True,
        text=True,
        check=True,
        cwd=SCRIPT.parents[1],
        env=env,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    latency = result["commit_start_to_handler"]
    print(f"  COMMIT sent -> handler p50 {latency['p50_ms']} p95 {latency['p95_ms']} p99 {latency['p99_ms']} ms")
    return result
