"""Latency statistics and the timed loop: warm-up, then service and raw calls in alternating blocks so that
both see the same load on a shared machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Latency:
    calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    client_cpu_ms: float | None = None  # mean CPU time of the calling thread per call: Python's share


def latency(samples_ns: list[int], cpu_ns: list[int] | None = None) -> Latency:
    ms = sorted(ns / 1e6 for ns in samples_ns)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return Latency(
        calls=len(ms),
        p50_ms=round(cuts[49], 3),
        p95_ms=round(cuts[94], 3),
        p99_ms=round(cuts[98], 3),
        mean_ms=round(statistics.fmean(ms), 3),
        max_ms=round(ms[-1], 3),
        client_cpu_ms=round(statistics.fmean(cpu_ns) / 1e6, 3) if cpu_ns else None,
    )


def timed(call: Callable[[int], object], i: int) -> tuple[int, int]:
    """(wall, calling thread's CPU) nanoseconds of ``call(i)``."""
    cpu = time.thread_time_ns()
    began = time.perf_counter_ns()
    call(i)
    return time.perf_counter_ns() - began, time.thread_time_ns() - cpu


def alternate(
    service: Callable[[int], object], raw: Callable[[int], object], *, calls: int, warmup: int, block: int = 50
) -> tuple[Latency, Latency]:
    """``calls`` timed calls of each after ``warmup`` untimed ones, in alternating blocks of ``block`` calls
    (each side runs back to back, as a busy terminal would, and both see the same background load);
    call ``i`` of both gets the same input."""
    for i in range(warmup):
        service(i)
        raw(i)
    samples: dict[str, tuple[list[int], list[int]]] = {"service": ([], []), "raw": ([], [])}
    for first in range(0, calls, block):
        for name, call in (("service", service), ("raw", raw)):
            walls, cpus = samples[name]
            for i in range(first, min(first + block, calls)):
                wall, cpu = timed(call, i)
                walls.append(wall)
                cpus.append(cpu)
    return latency(*samples["service"]), latency(*samples["raw"])
