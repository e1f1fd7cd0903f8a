"""Schemathesis hooks: aim generated requests at data that exists, so happy paths run as well as 404s.

Random integers almost never name a session the caller takes part in, and random UUIDs never name
one of their connections; left alone, schemathesis would only ever see 404s. These hooks swap three
generated ids in four for real ones (chosen from the generated value, so a derandomized run stays
deterministic), and keep a list of open connections: the one made before the run, which heartbeats
keep alive, and those `connect` opens, which disconnects close.

Used in-process by tests/test_schemathesis.py (which calls `aim_at`) and by the CLI run of
`make schemathesis` (`SCHEMATHESIS_HOOKS=tests.schemathesis_hooks`, ids from `SCHEMATHESIS_TARGETS`).
"""

import atexit
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field

import schemathesis

# Keep one generated value in this many as it is (mostly ids that do not exist: the 404 paths).
KEEP_ONE_IN = 4


@dataclass
class Targets:
    whiteboard_ids: list[int] = field(default_factory=list)
    session_ids: list[int] = field(default_factory=list)
    connection_ids: list[str] = field(default_factory=list)
    # Operations ("GET /api/ping") called, and those that answered 2xx at least once (the happy path ran).
    called: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)  # (operation, status) -> responses


TARGETS = Targets()


def aim_at(*, whiteboard_ids: list[int], session_ids: list[int], connection_ids: list[str]) -> None:
    """Point generated requests at these whiteboards, tutoring sessions and open connections."""
    TARGETS.whiteboard_ids = list(whiteboard_ids)
    TARGETS.session_ids = list(session_ids)
    TARGETS.connection_ids = list(connection_ids)
    TARGETS.called, TARGETS.succeeded, TARGETS.statuses = set(), set(), Counter()


def _print_statuses() -> None:
    print("\nresponses by operation and status (tests/schemathesis_hooks.py):")
    for operation in sorted(TARGETS.called):
        counts = sorted((status, n) for (op, status), n in TARGETS.statuses.items() if op == operation)
        print(f"  {operation}: " + ", ".join(f"{status} x{n}" for status, n in counts))


if os.environ.get("SCHEMATHESIS_TARGETS"):
    aim_at(**json.loads(os.environ["SCHEMATHESIS_TARGETS"]))
    atexit.register(_print_statuses)


def _pick(choices: list, seed: int):
    return choices[seed % len(choices)] if choices and seed % KEEP_ONE_IN else None


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    value = (path_parameters or {}).get("session_id")
    # Only well-formed ids are swapped: a negative test case's malformed id must stay malformed.
    if type(value) is not int:
        return path_parameters
    on_whiteboard = context.operation.path.startswith("/api/whiteboard/")
    real = _pick(TARGETS.whiteboard_ids if on_whiteboard else TARGETS.session_ids, abs(value))
    return path_parameters if real is None else {**path_parameters, "session_id": real}


@schemathesis.hook
def map_body(context, body):
    if not isinstance(body, dict) or not isinstance(body.get("connection_id"), str):
        return body
    try:
        seed = uuid.UUID(body["connection_id"]).int
    except ValueError:
        return body
    # The first connection (made before the run) is never disconnected, so heartbeats always have one open.
    closing = context.operation.path.endswith("/disconnect")
    real = _pick(TARGETS.connection_ids[1:] if closing else TARGETS.connection_ids, seed)
    return body if real is None else {**body, "connection_id": real}


@schemathesis.hook
def before_call(context, case, kwargs):
    # A cursor is opaque and issued by the server (a page's `next`); a generated string never is one,
    # and its 400 is tested in tests/attendance/test_session_list.py. Without it the filters run.
    # Here rather than in a map_query hook: the coverage phase's examples do not pass through those.
    if context.operation.path == "/api/sessions" and isinstance(case.query, dict) and "cursor" in case.query:
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() != case.operation.method.upper():
        return  # a check probing other methods (405)
    label = f"{case.method.upper()} {case.operation.path}"
    TARGETS.called.add(label)
    TARGETS.statuses[label, response.status_code] += 1
    if 200 <= response.status_code < 300:
        TARGETS.succeeded.add(label)
    opened = TARGETS.connection_ids
    if case.operation.path.endswith("/connect") and response.status_code == 200:
        connection_id = response.json()["connection_id"]
        if connection_id not in opened:
            opened.append(connection_id)
            del opened[1:-KEEP_ONE_IN]  # the first and the latest few
    elif case.operation.path.endswith("/disconnect") and response.status_code == 200:
        connection_id = response.json()["connection_id"]
        if connection_id in opened[1:]:
            opened.remove(connection_id)
