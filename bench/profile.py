"""cProfile of one scenario's service calls, written beside the results (``--profile name,...``): where the
client's time goes once the plans are right."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path

from bench.scenarios import Scenario


def profile(scenario: Scenario, calls: int, folder: Path) -> Path:
    for value in scenario.inputs[:20]:  # warm: connections, prepared statements, statement caches
        scenario.call(value)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        scenario.call(scenario.inputs[i % len(scenario.inputs)])
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scenario.name}.txt"
    path.write_text(f"-- {scenario.title}: {calls} service calls under cProfile\n" + text.getvalue())
    return path
