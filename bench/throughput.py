"""Mixed reads from several threads: the services against the same statements replayed raw.

The mix weights what a busy desk asks most (guest look-ups as people type, availability, the day's lists,
housekeeping boards) over the heavy screens (room rack, whole-hotel lists). Service and raw runs alternate
in two rounds each, so both see the same background load.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from bench.raw import RawClient, record_calls
from bench.scenarios import Hotel, Scenario

MIX = {
    "guest_search_name": 4,
    "guest_search_email": 2,
    "guest_search_phone": 2,
    "availability_1_night": 2,
    "availability_7_nights": 2,
    "arrivals": 2,
    "departures": 1,
    "in_house": 1,
    "room_rack_14_days": 1,
    "housekeeping_queue_floor": 2,
    "housekeeping_queue_hotel": 1,
    "audit_by_resource": 1,
    "audit_by_type_window": 1,
    "audit_page": 1,
}
PLAN_LENGTH = 5000


def _plan(chosen: list[Scenario]) -> list[tuple[Scenario, int]]:
    rng = random.Random(11)
    weights = [MIX[s.name] for s in chosen]
    picks = rng.choices(chosen, weights, k=PLAN_LENGTH)
    return [(s, rng.randrange(len(s.inputs))) for s in picks]


Worker = Callable[[int], None]


def _run_threads(threads: int, seconds: float, make_worker: Callable[[int], Worker]) -> tuple[int, float]:
    """Calls completed by ``threads`` workers in ``seconds``; each worker gets a call number to run."""
    counts = [0] * threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(n: int) -> None:
        work = make_worker(n)
        barrier.wait()
        i = n * (PLAN_LENGTH // threads)
        try:
            while time.perf_counter() < deadline[0]:
                work(i)
                counts[n] += 1
                i += 1
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + seconds + 3600  # set properly once everyone is ready
    barrier.wait()
    began = time.perf_counter()
    deadline[0] = began + seconds
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return sum(counts), time.perf_counter() - began


def mixed_reads(
    all_scenarios: list[Scenario], engine: Engine, app_dsn: str, hotel: Hotel, *, threads: int, seconds: float
) -> dict[str, Any]:
    chosen = [s for s in all_scenarios if s.name in MIX]
    print(f"mixed reads: {threads} threads, {seconds:.0f} s service and {seconds:.0f} s raw in two rounds each")
    recorded = {s.name: record_calls(engine, s.call, s.inputs) for s in chosen}
    plan = _plan(chosen)

    def service_worker(_n: int) -> Callable[[int], None]:
        def work(i: int) -> None:
            scenario, k = plan[i % PLAN_LENGTH]
            scenario.call(scenario.inputs[k])

        return work

    clients: list[RawClient] = []

    def raw_worker(_n: int) -> Callable[[int], None]:
        client = RawClient(app_dsn, hotel.hotel_id)
        clients.append(client)

        def work(i: int) -> None:
            scenario, k = plan[i % PLAN_LENGTH]
            client.run(recorded[scenario.name][k])

        return work

    totals = {"service": [0, 0.0], "raw": [0, 0.0]}
    try:
        for _round in range(2):
            for name, worker in (("service", service_worker), ("raw", raw_worker)):
                calls, took = _run_threads(threads, seconds / 2, worker)
                totals[name][0] += calls
                totals[name][1] += took
    finally:
        for client in clients:
            client.close()
    service_qps = totals["service"][0] / totals["service"][1]
    raw_qps = totals["raw"][0] / totals["raw"][1]
    result = {
        "threads": threads,
        "seconds_each": seconds,
        "mix": MIX,
        "service_reads_per_s": round(service_qps, 1),
        "raw_reads_per_s": round(raw_qps, 1),
        "service_to_raw": round(service_qps / raw_qps, 2),
    }
    print(f"  service {service_qps:.0f} reads/s, raw {raw_qps:.0f} reads/s (service/raw {result['service_to_raw']})")
    return result
