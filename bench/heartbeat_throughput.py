#!/usr/bin/env python3
"""Heartbeat throughput against the baseline: the most heartbeats/s gunicorn gives, as a share of GET /api/ping.

    .venv/bin/python bench/heartbeat_throughput.py            # about 2 minutes
    .venv/bin/python bench/heartbeat_throughput.py --quick    # a smoke run of seconds
    .venv/bin/python bench/heartbeat_throughput.py --help     # participants, durations, server configurations

1. Makes its own PostgreSQL database (dropped and made again each run), migrates it, and
   creates N participants: N/2 running tutoring sessions, each with a whiteboard, a tutor
   and a student, and an API token per participant.
2. Starts the production server (gunicorn config.wsgi) against it, for each server
   configuration measured, and always stops it (also on Ctrl-C).
3. From another process (bench/lib/driver.py) every participant connects, then C concurrent
   clients each send their next request as soon as the previous one is answered: heartbeats,
   and in turns the baseline (GET /api/ping: authenticate, answer JSON), so heartbeat/baseline
   says what presence tracking costs above the bare framework on this machine, this minute.

Prints a row per phase, the PostgreSQL write side (HOT updates) and a summary with the
target (heartbeat/baseline >= 0.70) marked PASS or FAIL; exits 0 either way.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, load, population, report
from bench.lib.server import ServerConfig, server_env

TARGET_RATIO = 0.70
QUICK = {"participants": 400, "closed_seconds": 4, "compare": ""}


def parse_args(argv: list[str] | None):
    parser = cli.parser(__doc__, db_name="attendance_bench_throughput", cache=True)
    parser.add_argument("--participants", type=int, default=3_000, help="simulated participants (even)")
    parser.add_argument(
        "--closed-seconds", type=float, default=16, help="closed-loop time per endpoint (split over the rounds)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop concurrent clients")
    parser.add_argument("--rounds", type=int, default=2, help="heartbeat and baseline runs take this many turns each")
    parser.add_argument("--server", type=ServerConfig.parse, default="sync:2", help="the configuration measured first")
    parser.add_argument(
        "--compare",
        type=ServerConfig.parse_list,
        default="sync:4,gthread:2:4",
        help="other configurations, measured the same way (comma-separated; '' for none)",
    )
    args = cli.parse(parser, argv, quick=QUICK)
    if args.participants < 2 or args.participants % 2:
        parser.error("--participants must be an even number >= 2")
    return args


def summary(rows: list[dict], args, facts: dict) -> dict:
    heartbeats = {r["server"]: r for r in rows if r["phase"] == "heartbeat closed"}
    baselines = {r["server"]: r for r in rows if r["phase"] == "baseline closed"}
    main_label = args.server.label
    hb, base = heartbeats.get(main_label), baselines.get(main_label)
    result: dict = {"server": main_label}
    report.print_summary_header(facts, server=main_label, concurrency=args.concurrency)
    if hb and base:
        ratio = hb["per_second"] / base["per_second"] if base["per_second"] else 0.0
        result.update(
            heartbeat_per_second=hb["per_second"],
            baseline_per_second=base["per_second"],
            ratio=ratio,
            baseline_endpoint=base["endpoint"],
            ratio_pass=ratio >= TARGET_RATIO,
        )
        print(
            f"  heartbeats/s (closed loop)        {hb['per_second']:8.0f}   p50 {hb['p50_ms']:.1f} ms  "
            f"p99 {hb['p99_ms']:.1f} ms  errors {hb['errors']}"
        )
        print(
            f"  {base['endpoint'] + ' /s':33} {base['per_second']:8.0f}   p50 {base['p50_ms']:.1f} ms  "
            f"p99 {base['p99_ms']:.1f} ms  errors {base['errors']}"
        )
        print(
            f"  heartbeat / baseline throughput   {ratio:8.2f}   target >= {TARGET_RATIO:.2f}   "
            f"{report.verdict(ratio >= TARGET_RATIO)}"
        )
        print(
            f"  participants at saturation        {hb['per_second'] * load.HEARTBEAT_INTERVAL:8,.0f}   "
            f"(closed-loop heartbeats/s x {load.HEARTBEAT_INTERVAL} s; latency is unbounded there; "
            "bench/heartbeat_capacity.py finds the planning figure)"
        )
    if len(heartbeats) > 1:
        print("  server configurations (closed loop):")
        for label, r in heartbeats.items():
            b = baselines.get(label)
            ratio = f"{r['per_second'] / b['per_second']:.2f}" if b and b["per_second"] else "-"
            print(
                f"    {label:13} heartbeats/s {r['per_second']:6.0f} (p99 {r['p99_ms']:5.1f} ms)   "
                f"baseline/s {b['per_second'] if b else 0:6.0f}   ratio {ratio}"
            )
    report.warn_disturbed(rows)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    facts, db_url, participants = population.prepare_heartbeat_bench(args)

    def phases(bench: load.Bench) -> None:
        bench.connect_all(concurrency=args.concurrency)
        bench.closed_turns(
            ["heartbeat", "baseline"], concurrency=args.concurrency, seconds=args.closed_seconds, rounds=args.rounds
        )

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="heartbeat-throughput-") as log_dir:
        print(
            f"\nLoad: {len(participants):,} participants, closed loop with {args.concurrency} clients for "
            f"{args.closed_seconds:.0f} s per endpoint; CPU in cores (this machine has {facts['cores']})"
        )
        report.print_row_header()
        for config in [args.server, *[c for c in args.compare if c != args.server]]:
            rows += load.measure(
                config,
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
