#!/usr/bin/env python3
"""Login flood vs presence (issue 14): is whiteboard presence disturbed while the sign-in form is flooded?

Self-contained (standard library, psycopg, redis, bench.lib.machine; Django only in the subprocesses it starts):

1. Makes a scratch PostgreSQL database (default `bench_h14`), migrates it and fills it with
   `--participants` students, each in a session running now, with a token; flushes its Redis database.
2. Starts the production server (`--server uvicorn`, the default: README's uvicorn config.asgi command with
   `--workers`; or `--server gunicorn`: config.wsgi on sync workers), DEBUG off, Redis for the shared
   counters, real PBKDF2 password hashing.
3. Each participant connects and then heartbeats every 15 s, as the tracker does, from a process of its
   own (so the flood's client work cannot delay the heartbeats' clock); latency of every heartbeat kept.
4. Phases "quiet" (`--seconds` of heartbeats alone) and "flood" (the same, while `--clients` concurrent
   clients, another process, post wrong passwords to /accounts/login/ as fast as they are answered, each
   with a CSRF token, from 4 source addresses, to a mix of real and made-up usernames) alternate for
   `--rounds`, so that other work on a shared machine weighs on both alike.
5. Prints heartbeat p50/p95/p99/max per phase and for all quiet and all flood phases together, the CPU
   the server and everything else used, the load average, the flood's answers, and checks that nobody
   was falsely disconnected: no heartbeat answered 409 `connection_closed`, every student connected at
   the end.

Target: heartbeat p99 during the flood within 2x of the quiet phase, zero false disconnects.
Bounded: every phase by time, every request by a timeout; traffic only to 127.0.0.1.

    .venv/bin/python bench/login_flood.py [--server uvicorn|gunicorn] [--seconds 30] [--rounds 2] [--clients 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
REQUEST_TIMEOUT = 60.0
FLOOD_ADDRESSES = [f"127.0.0.{i}" for i in range(101, 105)]  # the attacker's 4 source addresses
BEAT_SECONDS = 15.0


# --- a minimal HTTP/1.1 client: a new connection for every request, as gunicorn's sync workers force ---


async def http(port: int, method: str, path: str, *, headers: dict, body: bytes = b"", local: str | None = None):
    """One request on a new connection; (status, headers, body)."""
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(local, 0) if local else None)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    header_blob, _, payload = raw.partition(b"\r\n\r\n")
    lines = header_blob.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    parsed: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        parsed.setdefault(name.strip().lower(), []).append(value.strip())
    return status, parsed, payload


# --- the participants: connect, then heartbeat every 15 s -------------------------------------------


def participants_main(port: int, participants: list[dict], phases: list[tuple[str, float]], out) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.send(("done", asyncio.run(_participants(port, participants, phases, out))))


async def _participants(port: int, participants: list[dict], phases: list[tuple[str, float]], out) -> dict:
    def headers(p):
        return {"Authorization": f"Bearer {p['token']}", "Content-Type": "application/json"}

    for p in participants:
        status, _, body = await http(
            port, "POST", f"/api/whiteboard/sessions/{p['whiteboard_id']}/connect", headers=headers(p), body=b"{}"
        )
        assert status == 200, (status, body[:200])
        p["connection_id"] = json.loads(body)["connection_id"]

    # One steady beat every 15 s per participant from start to end, as a tab keeps; each beat counts for
    # the phase it started in. (Restarting the beats at each phase would leave gaps over the timeout.)
    schedule, start = [], time.monotonic()
    for name, seconds in phases:
        schedule.append((name, start, start + seconds))
        start += seconds
    end = start
    out.send(("schedule", schedule))  # CLOCK_MONOTONIC: the same clock in every process here
    results = {name: {"latencies": [], "at": [], "statuses": {}} for name, _ in phases}  # at: s into the phase

    def phase_at(moment: float) -> tuple[str, float]:
        """The phase `moment` falls in, and when it began."""
        return next((name, begins) for name, begins, ends in schedule if begins <= moment < ends)

    async def announce():
        for name, begins, _ in schedule:
            await asyncio.sleep(max(0.0, begins - time.monotonic()))
            out.send(("phase", name))

    async def beat_loop(p, offset):
        await asyncio.sleep(offset)
        while (started := time.monotonic()) < end:
            body = json.dumps({"connection_id": p["connection_id"], "visibility": "visible"}).encode()
            try:
                status, _, _ = await asyncio.wait_for(
                    http(
                        port,
                        "POST",
                        f"/api/whiteboard/sessions/{p['whiteboard_id']}/heartbeat",
                        headers=headers(p),
                        body=body,
                    ),
                    REQUEST_TIMEOUT,
                )
            except (TimeoutError, OSError) as error:
                status = type(error).__name__
            phase, begins = phase_at(started)
            result = results[phase]
            result["latencies"].append(time.monotonic() - started)
            result["at"].append(started - begins)
            result["statuses"][str(status)] = result["statuses"].get(str(status), 0) + 1
            await asyncio.sleep(max(0.0, started + BEAT_SECONDS - time.monotonic()))

    # Staggered over one interval, as real tabs are.
    await asyncio.gather(
        announce(), *(beat_loop(p, BEAT_SECONDS * i / len(participants)) for i, p in enumerate(participants))
    )
    return results


# --- the flood: wrong passwords as fast as they can --------------------------------------------------


def flood_main(port: int, clients: int, begins: float, seconds: float, usernames: list[str], out) -> None:
    """Started ahead, so that its start-up does not fall in a measured phase; floods from `begins`
    (time.monotonic) for `seconds`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(max(0.0, begins - time.monotonic()))
    out.send(asyncio.run(_flood(port, clients, seconds, usernames)))


async def _flood(port: int, clients: int, seconds: float, usernames: list[str]) -> dict:
    statuses: dict[str, int] = {}
    retry_after: set[str] = set()
    deadline = time.monotonic() + seconds

    async def client(i):
        local = FLOOD_ADDRESSES[i % len(FLOOD_ADDRESSES)]
        status, headers, page = await http(port, "GET", "/accounts/login/", headers={}, local=local)
        cookie = next(c.split(";")[0] for c in headers.get("set-cookie", []) if c.startswith("csrftoken="))
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        rng = random.Random(i)
        while time.monotonic() < deadline:
            # Half the time a real account, half the time a made-up name (each costs a hash until throttled).
            username = rng.choice(usernames) if rng.random() < 0.5 else f"guess{rng.randrange(10**9)}"
            form = urllib.parse.urlencode(
                {"csrfmiddlewaretoken": token, "username": username, "password": secrets.token_hex(6)}
            ).encode()
            try:
                status, headers, _ = await asyncio.wait_for(
                    http(
                        port,
                        "POST",
                        "/accounts/login/",
                        local=local,
                        body=form,
                        headers={
                            "Content-Type": "application/x-www-form-urlencoded",
                            "Cookie": cookie,
                            "Referer": f"http://{HOST}:{port}/accounts/login/",
                        },
                    ),
                    max(0.1, deadline - time.monotonic() + 5),
                )
                if status == 429:
                    retry_after.update(headers.get("retry-after", []))
            except (TimeoutError, OSError) as error:
                status = type(error).__name__
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"statuses": statuses, "wall": time.monotonic() - started, "retry_after": sorted(retry_after)[:5]}


# --- set-up -----------------------------------------------------------------------------------------


def make_data(count: int) -> None:
    """In the scratch database (run as a subprocess): participants in sessions running now, with tokens."""
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.services import token_issue
    from attendance.models import TutoringSession
    from whiteboard.models import WhiteboardSession

    User = get_user_model()
    password = make_password("the-real-password-123")  # hashed once: PBKDF2 is slow on purpose
    tutor = User.objects.create(username="bench_tutor", password=password)
    User.objects.create(username="admin", password=password, is_staff=True, is_superuser=True)
    now = timezone.now()
    out = []
    for i in range(count):
        student = User.objects.create(username=f"student{i}", password=password)
        session = TutoringSession.objects.create(
            tutor=tutor,
            student=student,
            scheduled_start=now - timedelta(minutes=5),
            scheduled_end=now + timedelta(hours=3),
            whiteboard=WhiteboardSession.objects.create(),
        )
        _, key = token_issue(user=student, name="bench")
        out.append({"whiteboard_id": session.whiteboard_id, "token": key, "username": student.username})
    print(json.dumps(out))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of each quiet and each flood phase")
    parser.add_argument("--rounds", type=int, default=2, help="quiet-then-flood rounds, alternating")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--participants", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--server",
        choices=["uvicorn", "gunicorn"],
        default="uvicorn",
        help="uvicorn config.asgi (production, README) or gunicorn config.wsgi sync workers (HTTP-only deployments)",
    )
    parser.add_argument("--database", default="bench_h14")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument(
        "--login-pool",
        type=int,
        default=0,
        help="also start a separate server with this many workers for the sign-in paths and flood it instead, "
        "as a proxy routing /accounts/ and /admin/login/ to their own pool would (0: one pool for everything)",
    )
    parser.add_argument("--make-data", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_data is not None:
        make_data(args.make_data)
        return 0

    import psycopg
    import redis

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    redis.Redis.from_url(args.redis).flushdb()  # the bench's own Redis database
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{args.pg}/{args.database}",
        "CACHE_URL": args.redis,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }
    python = sys.executable
    print(f"migrating {args.database} ...", flush=True)
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    participants = json.loads(
        subprocess.run(
            [python, __file__, "--make-data", str(args.participants)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    log = open(ROOT / "bench" / "login_flood.server.log", "wb")  # noqa: SIM115 - closed below

    def start(workers: int) -> tuple[int, subprocess.Popen]:
        port = free_port()
        if args.server == "uvicorn":
            # README, Production: the same command, on this port, without the proxy's headers.
            command = [python, "-m", "uvicorn", "config.asgi:application", "--host", HOST, "--port", str(port)]
            command += ["--workers", str(workers), "--ws", "websockets", "--ws-per-message-deflate", "false"]
            command += ["--timeout-graceful-shutdown", "10"]
        else:
            command = [python, "-m", "gunicorn", "config.wsgi", "--bind", f"{HOST}:{port}"]
            command += ["--worker-class", "sync", "--workers", str(workers), "--timeout", "120"]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        for _ in range(300):
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        return port, process

    port, server = start(args.workers)
    servers = [server]
    flood_port = port
    if args.login_pool:
        flood_port, login_server = start(args.login_pool)
        servers.append(login_server)
    try:
        context = multiprocessing.get_context("spawn")
        beats_out, beats_in = context.Pipe()
        # Warm-up (unmeasured: workers' first requests, database connections), quiet, flood, and after.
        # Quiet and flood alternate (--rounds), so that other work on a shared machine, which comes and
        # goes, weighs on both alike; a few unmeasured seconds after each flood let its last answers out.
        phases = [("warmup", BEAT_SECONDS)]
        for round_ in range(1, args.rounds + 1):
            phases += [(f"quiet{round_}", args.seconds), (f"flood{round_}", args.seconds), ("settle", 10.0)]
        phases.append(("after", BEAT_SECONDS * 2))
        beats = context.Process(target=participants_main, args=(port, participants, phases, beats_in))
        beats.start()
        # CPU per phase (in cores): the server's processes, and everything else on this shared machine.
        sys.path.insert(0, str(ROOT))
        from bench.lib.machine import CpuMeter

        meter, current = CpuMeter(server_pid=server.pid, db_name=args.database), None
        cpu: dict[str, dict] = {}
        redis_server = redis.Redis.from_url(args.redis)

        def redis_connections() -> int:
            return redis_server.info("stats")["total_connections_received"]

        def redis_commands() -> int:
            return redis_server.info("stats")["total_commands_processed"]

        def phase_started(name):
            nonlocal current, connections_before, commands_before, started_at
            if current is not None:
                cpu[current] = {
                    **meter.stop(),
                    "load": os.getloadavg()[0],
                    "redis_connections": redis_connections() - connections_before,
                    "redis_commands": (redis_commands() - commands_before) / (time.monotonic() - started_at),
                }
            meter.start()
            connections_before, commands_before, started_at = redis_connections(), redis_commands(), time.monotonic()
            current = name

        connections_before = commands_before = 0
        started_at = time.monotonic()

        usernames = ["admin", "bench_tutor", *[p["username"] for p in participants[:20]]]
        kind, schedule = beats_out.recv()
        assert kind == "schedule"
        floods, flood_results = [], []
        while (message := beats_out.recv())[0] != "done":
            phase_started(message[1])
            print(f"{message[1]} ...", flush=True)
            # Each flood's process starts in the phase before its round's quiet phase (warm-up, settle).
            if message[1] in ("warmup", "settle") and len(floods) < args.rounds:
                begins = next(b for name, b, _ in schedule if name == f"flood{len(floods) + 1}")
                flood_out, flood_in = context.Pipe()
                flood = context.Process(
                    target=flood_main,
                    args=(flood_port, args.clients, begins, args.seconds, usernames, flood_in),
                )
                flood.start()
                floods.append((flood, flood_out))
        phase_started(None)
        beat_results = message[1]
        for name in ("warmup", "settle"):
            beat_results.pop(name, None)
        for flood, flood_out in floods:
            flood_results.append(flood_out.recv())
            flood.join(10)
        beats.join(10)
        flood_result = {
            "statuses": {
                status: sum(r["statuses"].get(status, 0) for r in flood_results)
                for status in {s for r in flood_results for s in r["statuses"]}
            },
            "wall": sum(r["wall"] for r in flood_results),
            "retry_after": sorted({v for r in flood_results for v in r["retry_after"]})[:5],
        }

        # Nobody falsely disconnected: every student still connected, as the server reads it.
        async def still_connected():
            connected, refused = 0, {}
            for p in participants:
                status, _, body = await http(
                    port,
                    "GET",
                    f"/api/whiteboard/sessions/{p['whiteboard_id']}/connection-status",
                    headers={"Authorization": f"Bearer {p['token']}"},
                )
                if status == 200:
                    connected += bool(json.loads(body)["student"]["connected"])
                else:
                    refused[status] = body[:200]
            if refused:
                print(f"connection-status not answered 200: {refused}")
            return connected

        connected = asyncio.run(still_connected())
    finally:
        for process in servers:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        log.close()

    label = "uvicorn (config.asgi) x" if args.server == "uvicorn" else "gunicorn sync x"
    print(
        f"\n{args.participants} participants heartbeating every {BEAT_SECONDS:.0f} s; {label} {args.workers}"
        + (f" (sign-in paths flooded on their own {label} {args.login_pool})" if args.login_pool else "")
        + "; "
        f"PostgreSQL; Redis; {args.rounds} rounds of {args.seconds:.0f} s quiet then {args.seconds:.0f} s flood"
    )
    print(
        f"{'phase':<6} {'beats':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'server':>7} {'busiest':>7} {'pg':>5} {'others':>7} {'machine':>7} {'load':>5} {'redis+':>6} {'cmd/s':>6}  "
        "statuses   (CPU in cores; busiest: the busiest server process; pg: PostgreSQL for this database; load: "
        "1-min average; redis+: connections opened to Redis; cmd/s: Redis commands a second)"
    )
    # Each kind's rounds together (the ratio's figures), after the rounds one by one.
    for kind in ("quiet", "flood"):
        rounds = [(name, r) for name, r in beat_results.items() if name.startswith(kind)]
        beat_results[kind] = {
            "latencies": [v for _, r in rounds for v in r["latencies"]],
            "at": [v for _, r in rounds for v in r["at"]],
            "round": [name[len(kind) :] for name, r in rounds for _ in r["latencies"]],
            "statuses": {
                s: sum(r["statuses"].get(s, 0) for _, r in rounds)
                for s in {s for _, r in rounds for s in r["statuses"]}
            },
        }
        cpu[kind] = {
            key: sum(cpu[name][key] for name in beat_results if name.startswith(kind) and name != kind) / args.rounds
            for key in (
                "gunicorn",
                "gunicorn_busiest",
                "postgres",
                "other",
                "machine",
                "load",
                "redis_connections",
                "redis_commands",
            )
        }
    beat_results["after"] = beat_results.pop("after")
    p99 = {}
    for name, result in beat_results.items():
        lat = result["latencies"]
        p99[name] = percentile(lat, 0.99)
        used = cpu.get(name, {})
        print(
            f"{name:<6} {len(lat):>6} {percentile(lat, 0.5) * 1000:>8.1f} {percentile(lat, 0.95) * 1000:>8.1f} "
            f"{p99[name] * 1000:>8.1f} {max(lat) * 1000:>8.1f} {used.get('gunicorn', 0):>7.2f} "
            f"{used.get('gunicorn_busiest', 0):>7.2f} {used.get('postgres', 0):>5.2f} "
            f"{used.get('other', 0):>7.2f} {used.get('machine', 0):>7.2f} {used.get('load', 0):>5.1f} "
            f"{used.get('redis_connections', 0):>6.0f} {used.get('redis_commands', 0):>6.0f}  {result['statuses']}"
        )
    # When in their phase the slowest beats started: at the flood's start (its clients' first requests) or
    # all along (the refusals themselves); and p99 without each phase's first 3 s.
    settled = {}
    for kind in ("quiet", "flood"):
        result = beat_results[kind]
        beats = list(zip(result["latencies"], result["at"], result["round"], strict=True))
        slowest = sorted(beats, reverse=True)[: max(1, len(beats) // 20)]
        early = sum(1 for _, at, _ in slowest if at < 5)
        print(
            f"{kind}: the slowest 5 % of beats ({len(slowest)}, from {slowest[-1][0] * 1000:.1f} ms) started, as "
            f"round:seconds into their phase, at "
            f"{' '.join(f'{r}:{at:.0f}' for _, at, r in sorted(slowest, key=lambda x: (x[2], x[1])))}; "
            f"{early} in its first 5 s ({5 / args.seconds:.0%} of the time)"
        )
        settled[kind] = percentile([latency for latency, at, _ in beats if at >= 3], 0.99)
    print(
        f"p99 of the beats after each phase's first 3 s: quiet {settled['quiet'] * 1000:.1f} ms, flood "
        f"{settled['flood'] * 1000:.1f} ms ({settled['flood'] / settled['quiet']:.2f}x; for reading only: the target "
        "counts every beat)"
    )
    total = sum(flood_result["statuses"].values())
    print(
        f"flood: {total} sign-in posts in {flood_result['wall']:.1f} s ({total / flood_result['wall']:.0f}/s), "
        f"answers {flood_result['statuses']}, Retry-After seen {flood_result['retry_after']}; "
        f"checked (200) per round: {[r['statuses'].get('200', 0) for r in flood_results]}"
    )
    measured = [r for name, r in beat_results.items() if name[-1].isdigit() or name == "after"]
    false_disconnects = sum(r["statuses"].get("409", 0) for r in measured)
    failed = sum(n for r in measured for s, n in r["statuses"].items() if s != "200")
    ratio = p99["flood"] / p99["quiet"]
    print(f"heartbeat p99 flood/quiet: {ratio:.2f}x (target <= 2x)")
    print(
        f"false disconnects: {false_disconnects} heartbeats answered 409; {failed} heartbeats not 200; "
        f"{connected}/{len(participants)} students connected at the end (target: 0, 0, all)"
    )
    ok = ratio <= 2 and false_disconnects == 0 and failed == 0 and connected == len(participants)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
