"""FrontDesk benchmarks: ``python -m bench.run --scale hotel|chain``.

Builds (or reuses) the benchmark database, runs the read scenarios through the public services as the
runtime role with row-level security on, next to the same statements as raw prepared statements, then
the throughput runs and the event latency; writes bench/results/<scale>.json, the plans under
bench/results/plans/, and the results section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from bench import checkins, dataset, events, machine, report, throughput
from bench.latency import run_all
from bench.profile import profile
from bench.scenarios import load_hotel, scenarios
from core.db.engine import create_app_engine
from core.services.uow import bind_engine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(dataset.SCALES), default="hotel")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reseed", action="store_true", help="rebuild the benchmark database")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per scenario (after warm-up)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    parser.add_argument("--rounds", type=int, default=2, help="check-in rounds of each kind")
    parser.add_argument("--events", type=int, default=1000, help="events for the latency run")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: reads,throughput,checkins,events")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write results, plans or docs")
    parser.add_argument("--profile", default="", help="comma-separated scenarios to run under cProfile, then stop")
    args = parser.parse_args()
    if args.calls < 100:
        parser.error("--calls must be at least 100 (p99 needs them)")
    return args


def main() -> None:
    args = parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    scale = dataset.SCALES[args.scale]
    started = time.time()
    host = machine.describe()
    db = dataset.prepare(scale, args.seed, reseed=args.reseed)
    print(f"{db.name}: {'reused' if db.reused else 'seeded'} (seeding took {db.marker.seed_seconds:.1f} s)")
    engine = create_app_engine(db.app_url, pool_size=args.threads)
    bind_engine(engine)
    result: dict[str, object] = {
        "scale": scale.name,
        "seed": args.seed,
        "database": db.name,
        "reused": db.reused,
        "seeding": db.marker.__dict__,
        "machine": host,
        "calls": args.calls,
        "warmup": args.warmup,
    }
    try:
        hotel = load_hotel(db.owner_dsn())
        result["hotel_id"] = hotel.hotel_id
        result["business_date"] = hotel.business_date.isoformat()
        chosen = scenarios(hotel)
        gc.freeze()  # as the app does once its window is up (desk_app/app.py)
        if args.only:
            wanted = {name.strip() for name in args.only.split(",")}
            chosen = [s for s in chosen if s.name in wanted]
        if args.profile:
            for scenario in (s for s in chosen if s.name in args.profile.split(",")):
                print(f"profile: {profile(scenario, 200, RESULTS / 'profiles').relative_to(ROOT)}")
            return
        if "reads" not in skip:
            print(f"read scenarios, hotel {hotel.hotel_id}, {args.calls} calls each after {args.warmup} warm-up:")
            reads = run_all(
                chosen,
                engine,
                db.app_dsn(),
                hotel,
                calls=args.calls,
                warmup=args.warmup,
                plans=None if args.no_write else RESULTS / "plans",
            )
            result["scenarios"] = [r.as_json() for r in reads]
        if "throughput" not in skip:
            result["mixed_reads"] = throughput.mixed_reads(
                scenarios(hotel), engine, db.app_dsn(), hotel, threads=args.threads, seconds=args.seconds
            )
        if "checkins" not in skip:
            result["check_ins"] = checkins.run(db, hotel, terminals=args.threads, rounds=args.rounds)
        if "events" not in skip:
            result["event_latency"] = events.run(args.events, dataset.server_url())
    finally:
        bind_engine(None)
        engine.dispose()
    result["machine_after"] = machine.load()
    result["seconds"] = round(time.time() - started, 1)
    if args.no_write:
        print(json.dumps(result, indent=2, default=str))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{scale.name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    report.update_performance_doc(ROOT / "docs" / "PERFORMANCE.md", result)
    print(f"results: {path.relative_to(ROOT)}, docs/PERFORMANCE.md")


if __name__ == "__main__":
    main()
