"""Run each read scenario: record its statements, time service and raw calls alternately, save its plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.raw import RawClient, explain, record_calls
from bench.scenarios import Hotel, Scenario
from bench.timing import Latency, alternate


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    title: str
    group: str
    target_ms: float
    statements: int  # statements per call besides the tenant setting (first input)
    service: Latency
    raw: Latency

    @property
    def ratio(self) -> float:
        return round(self.service.p95_ms / self.raw.p95_ms, 2) if self.raw.p95_ms else 0.0

    @property
    def met_target(self) -> bool:
        return self.service.p95_ms <= self.target_ms

    @property
    def met_ratio(self) -> bool:
        return self.ratio <= 2.0

    @property
    def met(self) -> bool:
        return self.met_target and self.met_ratio

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "ratio_p95": self.ratio,
            "met_target": self.met_target,
            "met_ratio": self.met_ratio,
            "met": self.met,
        }


def run_scenario(
    scenario: Scenario,
    engine: Engine,
    app_dsn: str,
    hotel: Hotel,
    *,
    calls: int,
    warmup: int,
    plans: Path | None,
) -> ScenarioResult:
    recorded = record_calls(engine, scenario.call, scenario.inputs)
    count = len(scenario.inputs)
    raw = RawClient(app_dsn, hotel.hotel_id)
    try:
        service_latency, raw_latency = alternate(
            lambda i: scenario.call(scenario.inputs[i % count]),
            lambda i: raw.run(recorded[i % count]),
            calls=calls,
            warmup=warmup,
        )
    finally:
        raw.close()
    if plans is not None:
        plans.mkdir(parents=True, exist_ok=True)
        header = (
            f"-- {scenario.title}: input {scenario.inputs[0]!r}, database {engine.url.database}, hotel "
            f"{hotel.hotel_id}, runtime role, RLS on\n\n"
        )
        (plans / f"{scenario.name}.txt").write_text(header + explain(app_dsn, hotel.hotel_id, recorded[0]))
    return ScenarioResult(
        scenario.name,
        scenario.title,
        scenario.group,
        scenario.target_ms,
        len(recorded[0]),
        service_latency,
        raw_latency,
    )


def run_all(
    chosen: list[Scenario],
    engine: Engine,
    app_dsn: str,
    hotel: Hotel,
    *,
    calls: int,
    warmup: int,
    plans: Path | None,
    log: Callable[[str], None] = print,
) -> list[ScenarioResult]:
    results = []
    for scenario in chosen:
        result = run_scenario(scenario, engine, app_dsn, hotel, calls=calls, warmup=warmup, plans=plans)
        s, r = result.service, result.raw
        log(
            f"  {scenario.name:<26} service p50 {s.p50_ms:6.2f}  p95 {s.p95_ms:6.2f}  p99 {s.p99_ms:6.2f} ms | "
            f"raw p95 {r.p95_ms:6.2f} | x{result.ratio:<5} {'met' if result.met else 'MISSED'} "
            f"| cpu {s.client_cpu_ms:.2f}/{r.client_cpu_ms:.2f} "
            f"(target {scenario.target_ms} ms, {result.statements} statements)"
        )
        results.append(result)
    return results
