#!/usr/bin/env python3
"""Heartbeat latency at a fixed rate, and capacity: how many participants one machine carries with p99 < 100 ms.

    .venv/bin/python bench/heartbeat_capacity.py            # about 2 minutes
    .venv/bin/python bench/heartbeat_capacity.py --quick    # a smoke run of seconds
    .venv/bin/python bench/heartbeat_capacity.py --help     # participants, rates, durations

1. Makes its own PostgreSQL database (dropped and made again each run), migrates it, and
   creates N participants: N/2 running tutoring sessions, each with a whiteboard, a tutor
   and a student, and an API token per participant.
2. Starts the production server (gunicorn config.wsgi) against it, and always stops it.
3. From another process (bench/lib/driver.py) every participant connects, then beats:
   - open loop at the rate that carries the target participants at a 15 s interval
     (3,000 -> 200 heartbeats/s): requests leave on a fixed schedule whatever the server
     does, latency counts from the scheduled time (no coordinated omission);
   - closed loop, C concurrent clients: the most heartbeats/s the server gives, the
     reference for the next steps (or --reference-rate);
   - open loop at fractions of that maximum, to find the highest rate still under 100 ms at p99.

Prints a row per phase, the PostgreSQL write side and a summary with the target (p99 < 100 ms
and no errors at 3,000 participants) marked PASS or FAIL; exits 0 either way.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, load, population, report
from bench.lib.server import ServerConfig, server_env

TARGET_PARTICIPANTS = 3_000
TARGET_P99_MS = 100.0
QUICK = {
    "participants": 400,
    "target_participants": 400,
    "open_seconds": 4,
    "closed_seconds": 3,
    "capacity_fractions": "0.5",
    "capacity_seconds": 3,
}


def parse_args(argv: list[str] | None):
    parser = cli.parser(__doc__, db_name="attendance_bench_capacity", cache=True)
    parser.add_argument("--participants", type=int, default=TARGET_PARTICIPANTS, help="simulated participants (even)")
    parser.add_argument(
        "--target-participants",
        type=int,
        default=TARGET_PARTICIPANTS,
        help="the first open-loop rate is this many participants beating every 15 s",
    )
    parser.add_argument("--open-seconds", type=float, default=40, help="duration of the open loop at the target rate")
    parser.add_argument(
        "--closed-seconds", type=float, default=8, help="closed-loop heartbeats, for the reference rate"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop concurrent clients")
    parser.add_argument(
        "--reference-rate",
        type=float,
        help="heartbeats/s the capacity steps are fractions of, instead of measuring the closed-loop maximum",
    )
    parser.add_argument(
        "--capacity-fractions",
        default="0.6,0.75,0.9",
        help="open-loop steps, as fractions of the reference rate ('' to skip)",
    )
    parser.add_argument("--capacity-seconds", type=float, default=12, help="duration of each capacity step")
    parser.add_argument("--server", type=ServerConfig.parse, default="sync:2", help="the configuration measured")
    args = cli.parse(parser, argv, quick=QUICK)
    if args.participants < 2 or args.participants % 2:
        parser.error("--participants must be an even number >= 2")
    return args


def summary(rows: list[dict], args, facts: dict) -> dict:
    target_rate = args.target_participants / load.HEARTBEAT_INTERVAL
    open_row = next((r for r in rows if r["phase"] == "heartbeat open"), None)
    closed = next((r for r in rows if r["phase"] == "heartbeat closed"), None)
    result: dict = {"server": args.server.label}
    report.print_summary_header(facts, server=args.server.label, concurrency=args.concurrency)
    if open_row:
        ok = open_row["p99_ms"] < TARGET_P99_MS and open_row["errors"] == 0
        verdict = report.verdict(ok)
        if args.target_participants != TARGET_PARTICIPANTS:
            verdict = f"(the issue's target is at {TARGET_PARTICIPANTS:,} participants)"
        result.update(
            open_rate=target_rate,
            open_p50_ms=open_row["p50_ms"],
            open_p99_ms=open_row["p99_ms"],
            open_errors=open_row["errors"],
            p99_pass=ok,
        )
        print(
            f"  at {target_rate:.0f} heartbeats/s ({args.target_participants:,} participants): "
            f"p50 {open_row['p50_ms']:.1f} ms  p99 {open_row['p99_ms']:.1f} ms  errors {open_row['errors']}  "
            f"target p99 < {TARGET_P99_MS:.0f} ms, no errors   {verdict}"
        )
    if closed:
        result["closed_per_second"] = closed["per_second"]
        print(
            f"  heartbeats/s (closed loop)        {closed['per_second']:8.0f}   p99 {closed['p99_ms']:.1f} ms "
            "(saturation: the reference for the steps)"
        )
    steps = [r for r in rows if r["phase"].startswith("capacity") or r["phase"] == "heartbeat open"]
    good = [
        r
        for r in steps
        if r["p99_ms"] < TARGET_P99_MS and r["errors"] == 0 and r["per_second"] >= 0.97 * (r["target_rate"] or 0)
    ]
    if good:
        best = max(good, key=lambda r: r["target_rate"])
        carried = best["target_rate"] * load.HEARTBEAT_INTERVAL
        result.update(carried_participants=carried, carried_rate=best["target_rate"], carried_p99_ms=best["p99_ms"])
        print(
            f"  one machine carries               {carried:8,.0f}   participants at a {load.HEARTBEAT_INTERVAL} s "
            f"interval (highest rate tried with p99 < {TARGET_P99_MS:.0f} ms: {best['target_rate']:.0f}/s, "
            f"p99 {best['p99_ms']:.1f} ms)"
        )
    report.warn_disturbed(rows)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    facts, db_url, participants = population.prepare_heartbeat_bench(args)

    def phases(bench: load.Bench) -> None:
        bench.connect_all(concurrency=args.concurrency)
        rate = args.target_participants / load.HEARTBEAT_INTERVAL
        bench.phase("heartbeat open", "heartbeat", mode="open", rate=rate, seconds=args.open_seconds)
        reference = args.reference_rate
        if reference is None:
            closed = bench.closed_turns(
                ["heartbeat"], concurrency=args.concurrency, seconds=args.closed_seconds, rounds=1
            )
            reference = closed["heartbeat"]["per_second"]
        for fraction in (float(f) for f in args.capacity_fractions.split(",") if f):
            rate = round(reference * fraction)
            if rate <= 0:
                continue
            bench.phase(f"capacity {fraction:.0%}", "heartbeat", mode="open", rate=rate, seconds=args.capacity_seconds)

    with tempfile.TemporaryDirectory(prefix="heartbeat-capacity-") as log_dir:
        print(
            f"\nLoad: {len(participants):,} participants, open loop at the rate of "
            f"{args.target_participants:,} participants for {args.open_seconds:.0f} s, then capacity steps; "
            f"CPU in cores (this machine has {facts['cores']})"
        )
        report.print_row_header()
        rows = load.measure(
            args.server,
            phases,
            participants=participants,
            db_url=db_url,
            db_name=args.db_name,
            env=server_env(args.cache_url),
            log_dir=Path(log_dir),
        )
    writes = database.write_side(args.pg, args.db_name) if rows else []
    report.print_write_side(writes)
    figures = summary(rows, args, facts)
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    report.write_json(args.json, machine=facts, args=args, phases=rows, write_side=writes, summary=figures)
    return 0


if __name__ == "__main__":
    cli.run(main)
