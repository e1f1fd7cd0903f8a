"""Load driver: simulated whiteboard participants over plain HTTP/1.1, in one asyncio loop.

Runs in its own process (started by bench.lib.load.run_driver with multiprocessing "spawn") and
imports nothing but the standard library: no Django, no HTTP library. A hand-written
HTTP/1.1 client over asyncio streams costs a few tens of microseconds of CPU per request,
several times less than httpx or http.client in threads (see bench/README.md), and on a
2-core machine every cycle the driver burns is a cycle the server under test does not get.

Every loop is bounded by a request count and a deadline, and stops by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field

# Each reason an in-flight request gives up, so a stuck server cannot hold the driver.
REQUEST_TIMEOUT = 10.0
_SOURCE_ADDRESSES = itertools.cycle(range(2, 34))  # 127.0.0.2 .. 127.0.0.33


@dataclass
class Participant:
    """One simulated tab: who (token), where (whiteboard), and its current connection."""

    index: int
    whiteboard_id: int
    token: str
    visibility: str
    connection_id: str = ""


@dataclass
class PhaseResult:
    name: str
    requests: int = 0
    ok: int = 0
    reconnects: int = 0  # 409 connection_closed answered to a heartbeat: the client connects again
    throttled: int = 0  # 429
    errors: dict[str, int] = field(default_factory=dict)  # status or exception name -> count
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    wall: float = 0.0
    driver_cpu: float = 0.0
    target_rate: float | None = None
    late_starts: int = 0  # open loop: requests sent more than 10 ms after their scheduled time
    # Connections opened (or reopened after a 409) in this phase, by participant index: the
    # parent keeps them so the next phase beats on them.
    connection_ids: dict[int, str] = field(default_factory=dict)
    # When each participant was last heard by the server (wall clock), so the next phase starts
    # with those who waited longest, as their 15 s timers would.
    last_beat: dict[int, float] = field(default_factory=dict)

    def error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; reopened transparently when the server closes it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reused = False

    async def _open(self) -> None:
        # gunicorn's sync workers close every connection, so the driver opens thousands a second and
        # each one waits 60 s in TIME_WAIT: one source address would run out of its ~28,000 ports and
        # slow every connect() down. Loopback has 16 million addresses; spread over some of them.
        local = None
        if self.host == "127.0.0.1":
            local = (f"127.0.0.{next(_SOURCE_ADDRESSES)}", 0)
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, local_addr=local)
        self.reused = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send a ready-made request; retry once on a fresh connection if a reused one was stale."""
        for attempt in (1, 2):
            if self.writer is None:
                await self._open()
            was_reused = self.reused
            try:
                return await self._exchange(raw)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                # A keep-alive connection the server closed while idle fails before any answer:
                # sending again is what every HTTP client does. A fresh connection failing is an error.
                if not was_reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is not None:
            body = await self.reader.readexactly(length)
        elif close:
            body = await self.reader.read()
        else:
            body = b""
        if close:
            self.close()  # gunicorn's sync workers answer one request per connection
        else:
            self.reused = True
        return status, body


def _request(method: str, path: str, *, host: str, token: str, body: dict | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n"
    if body is None:
        return (head + "\r\n").encode()
    payload = json.dumps(body).encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


class Client:
    """The whiteboard client's calls, as the browser tracker makes them."""

    def __init__(self, host: str, port: int, baseline_path: str):
        self.host, self.port = host, port
        self.hostport = f"{host}:{port}"
        self.baseline_path = baseline_path

    def connect_request(self, p: Participant) -> bytes:
        return _request(
            "POST",
            f"/api/whiteboard/sessions/{p.whiteboard_id}/connect",
            host=self.hostport,
            token=p.token,
            body={"connection_id": p.connection_id, "visibility": p.visibility},
        )

    def heartbeat_request(self, p: Participant) -> bytes:
        return _request(
            "POST",
            f"/api/whiteboard/sessions/{p.whiteboard_id}/heartbeat",
            host=self.hostport,
            token=p.token,
            body={"connection_id": p.connection_id, "visibility": p.visibility},
        )

    def baseline_request(self, p: Participant) -> bytes:
        path = self.baseline_path.format(whiteboard_id=p.whiteboard_id)
        return _request("GET", path, host=self.hostport, token=p.token)

    async def connect(self, conn: HttpConnection, p: Participant, result: PhaseResult) -> bool:
        p.connection_id = str(uuid.uuid4())
        status, _ = await asyncio.wait_for(conn.request(self.connect_request(p)), REQUEST_TIMEOUT)
        if status == 200:
            result.connection_ids[p.index] = p.connection_id
            return True
        result.error(f"connect {status}")
        return False

    async def call(self, kind: str, conn: HttpConnection, p: Participant, result: PhaseResult, started: float) -> None:
        """One request of `kind` (connect, heartbeat, baseline); latency counted from `started`."""
        try:
            if kind == "connect":
                status = 200 if await self.connect(conn, p, result) else 0
            else:
                raw = self.heartbeat_request(p) if kind == "heartbeat" else self.baseline_request(p)
                status, _ = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        except TimeoutError:
            conn.close()
            result.requests += 1
            result.error("timeout")
            return
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            result.requests += 1
            result.error(type(exc).__name__)
            return
        result.requests += 1
        if status == 200:
            result.ok += 1
            result.latencies.append(time.perf_counter() - started)
            if kind != "baseline":  # a baseline request keeps no connection alive
                result.last_beat[p.index] = time.time()
        elif status == 409 and kind == "heartbeat":
            # The server closed this connection (timed out between phases): do as the client does.
            result.reconnects += 1
            try:
                if await self.connect(conn, p, result):
                    result.last_beat[p.index] = time.time()
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                conn.close()
                result.error(f"reconnect {type(exc).__name__}")
        elif status == 429:
            result.throttled += 1
        elif status != 0:
            result.error(str(status))


async def _closed_loop(
    client: Client,
    kind: str,
    participants: list[Participant],
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    result: PhaseResult,
) -> None:
    """`concurrency` clients, each sending its next request as soon as the previous one is answered."""
    deadline = time.perf_counter() + seconds
    budget = [max_requests]
    # Client k takes participants k, k+C, k+2C, ...: no two clients ever speak for one participant.
    shares = [participants[k::concurrency] for k in range(concurrency)]

    async def one_client(share: list[Participant]) -> None:
        conn = HttpConnection(client.host, client.port)
        i = 0
        try:
            while share and budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                p = share[i % len(share)]
                i += 1
                await client.call(kind, conn, p, result, time.perf_counter())
                if kind == "connect" and i >= len(share):
                    return  # every participant of this share connected once
        finally:
            conn.close()

    await asyncio.gather(*(one_client(share) for share in shares))


async def _open_loop(
    client: Client,
    kind: str,
    participants: list[Participant],
    *,
    rate: float,
    seconds: float,
    max_connections: int,
    result: PhaseResult,
) -> None:
    """Requests at fixed times whatever the server does; latency counted from the scheduled time.

    Counting from the schedule, not from the actual send, keeps a slow server from hiding its
    queueing (coordinated omission). Request i goes to participant i mod P, so with P
    participants at `rate` per second each one beats every P / rate seconds.
    """
    total = int(rate * seconds)
    idle: list[HttpConnection] = []
    slots = asyncio.Semaphore(max_connections)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()
    offset = time.perf_counter() - loop.time()  # the loop's clock to perf_counter

    async def one(p: Participant, due: float) -> None:
        async with slots:
            conn = idle.pop() if idle else HttpConnection(client.host, client.port)
            if loop.time() - due > 0.010:
                result.late_starts += 1
            await client.call(kind, conn, p, result, due + offset)
            idle.append(conn)

    start = loop.time() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(participants[i % len(participants)], due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    # Let the last requests finish, but not forever.
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 2)
        for task in pending:
            task.cancel()
            result.requests += 1
            result.error("unfinished")
    for conn in idle:
        conn.close()


def run_phase(spec: dict) -> PhaseResult:
    """Entry point in the driver process. `spec` is plain data (picklable)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    participants = [Participant(**p) for p in spec["participants"]]
    client = Client(spec["host"], spec["port"], spec.get("baseline_path", "/api/ping"))
    result = PhaseResult(name=spec["name"], target_rate=spec.get("rate"))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if spec["mode"] == "open":
        coro = _open_loop(
            client,
            spec["kind"],
            participants,
            rate=spec["rate"],
            seconds=spec["seconds"],
            max_connections=spec.get("max_connections", 512),
            result=result,
        )
    else:
        coro = _closed_loop(
            client,
            spec["kind"],
            participants,
            concurrency=spec["concurrency"],
            seconds=spec["seconds"],
            max_requests=spec.get("max_requests", 10_000_000),
            result=result,
        )
    asyncio.run(coro)
    result.wall = time.perf_counter() - wall0
    result.driver_cpu = time.process_time() - cpu0
    return result


def child_main(spec: dict, pipe) -> None:
    """multiprocessing target: run the phase and send the result back through `pipe`."""
    try:
        pipe.send(("ok", run_phase(spec)))
    except BaseException as exc:  # reported to the parent, which decides
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()
        os._exit(0)
