"""The results section of docs/PERFORMANCE.md, one per scale, rewritten by each run; the prose around
the sections is kept as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SKELETON = """# Performance

Results of `make bench` (hotel scale) and `make bench-chain` (chain scale); see the end of this page for
how they are measured and what was changed because of them.

<!-- bench:hotel -->
<!-- /bench:hotel -->

<!-- bench:chain -->
<!-- /bench:chain -->
"""


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _machine(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    pg = m["postgresql"]
    settings = ", ".join(f"{k} {v}" for k, v in sorted(pg["settings"].items()))
    after = result.get("machine_after", {})
    return [
        f"Machine: {m['cpus']} x {m['cpu']}, {m['memory_gb']} GB, {m['os']}; PostgreSQL {pg['version']} on "
        f"loopback ({settings}); Python {m['python']}, psycopg {m['psycopg']}, SQLAlchemy {m['sqlalchemy']}. "
        f"Load average at start {m['load_1min']} / {m['load_5min']} / {m['load_15min']}, at the end "
        f"{after.get('load_1min', '?')} / {after.get('load_5min', '?')} / {after.get('load_15min', '?')} "
        "(the machine is shared; figures move with the load).",
    ]


def _seeding(result: dict[str, Any]) -> list[str]:
    seeding = result["seeding"]
    per_hotel = ", ".join(f"{s:.1f}" for s in seeding["per_hotel_seconds"])
    reused = "reused from an earlier run" if result["reused"] else "built by this run"
    return [
        f"Data: {seeding['hotels']} x 1,000-room hotel, seed {seeding['seed']}, business date "
        f"{seeding['business_date']} ({reused}). Seeding, migrating and VACUUM ANALYZE took "
        f"**{seeding['seed_seconds']:.1f} s** (per hotel: {per_hotel} s; target "
        f"{'< 60 s' if result['scale'] == 'hotel' else '< 10 min'}).",
    ]


def _scenarios(result: dict[str, Any]) -> list[str]:
    lines = [
        f"Read scenarios, hotel {result['hotel_id']}, runtime role with RLS on, {result['calls']} calls each after "
        f"{result['warmup']} warm-up calls (service and raw calls in alternating blocks of 50):",
        "",
        "| scenario | statements | service p50 | p95 | p99 | raw p50 | raw p95 | p95 ratio | client CPU service / raw "
        "| target p95 | p95 met? | <= 2x raw? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|:---:|",
    ]
    for s in result.get("scenarios", []):
        svc, raw = s["service"], s["raw"]
        lines.append(
            f"| {s['title']} | {s['statements']} | {svc['p50_ms']:.2f} | {svc['p95_ms']:.2f} | {svc['p99_ms']:.2f} "
            f"| {raw['p50_ms']:.2f} | {raw['p95_ms']:.2f} | {s['ratio_p95']:.2f} "
            f"| {svc['client_cpu_ms']:.2f} / {raw['client_cpu_ms']:.2f} | {s['target_ms']:g} "
            f"| {_yes(s['service']['p95_ms'] <= s['target_ms'])} | {_yes(s['ratio_p95'] <= 2.0)} |"
        )
    lines += [
        "",
        "Times in ms. *Statements*: what one service call sends besides setting the tenant; the raw columns "
        "replay exactly those statements as prepared statements on a plain psycopg connection in one round "
        "trip (`set_config` and the statements in one pipeline). *Client CPU*: mean CPU time of the calling "
        "thread per call (Python and the driver; the rest is waiting for the server).",
    ]
    return lines


def _throughput(result: dict[str, Any]) -> list[str]:
    lines = []
    mixed = result.get("mixed_reads")
    if mixed:
        lines += [
            "",
            f"Mixed reads, {mixed['threads']} threads: service **{mixed['service_reads_per_s']:.0f} reads/s**, raw "
            f"{mixed['raw_reads_per_s']:.0f} reads/s, ratio {mixed['service_to_raw']:.2f} "
            f"(targets >= 1,500/s: {_yes(mixed['service_reads_per_s'] >= 1500)}; >= 0.8x raw: "
            f"{_yes(mixed['service_to_raw'] >= 0.8)}).",
        ]
    checkins = result.get("check_ins")
    if checkins:
        lines += [
            "",
            f"Concurrent check-ins, {checkins['terminals']} terminal processes: **{checkins['check_ins_per_s']:.0f} "
            f"check-ins/s** (target >= 150/s: {_yes(checkins['check_ins_per_s'] >= 150)}), double assignments: "
            f"**{checkins['double_assignments']}**, every arrival in house once with one key issue: "
            f"{_yes(checkins['all_in_house_once'])}.",
            "",
            "| round | attempts | in house | seconds | per second | p50 ms | p95 ms | outcomes |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in checkins["rounds"]:
            outcomes = ", ".join(f"{name} {count}" for name, count in sorted(r["outcomes"].items()))
            lines.append(
                f"| {r['kind']} | {r['attempts']} | {r['checked_in']} | {r['seconds']:.2f} | "
                f"{r['check_ins_per_s']:.0f} | {r['latency']['p50_ms']:.1f} | {r['latency']['p95_ms']:.1f} | "
                f"{outcomes} |"
            )
    events = result.get("event_latency")
    if events:
        e = events["commit_start_to_handler"]
        lines += [
            "",
            f"Event latency, COMMIT sent in one process to the handler in another ({events['delivered']} of "
            f"{events['events']} events delivered): p50 {e['p50_ms']:.2f} ms, **p95 {e['p95_ms']:.2f} ms**, "
            f"p99 {e['p99_ms']:.2f} ms (target p95 <= 5 ms: {_yes(e['p95_ms'] <= 5)}).",
        ]
    return lines


def section(result: dict[str, Any]) -> str:
    lines = [
        f"## {result['scale'].capitalize()} scale",
        "",
        f"`python -m bench.run --scale {result['scale']}` ({result['seconds']:.0f} s in all).",
        "",
        *_machine(result),
        "",
        *_seeding(result),
        "",
        *_scenarios(result),
        *_throughput(result),
    ]
    return "\n".join(lines)


def update_performance_doc(path: Path, result: dict[str, Any]) -> None:
    text = path.read_text() if path.exists() else SKELETON
    scale = result["scale"]
    start, end = f"<!-- bench:{scale} -->", f"<!-- /bench:{scale} -->"
    block = f"{start}\n{section(result)}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
