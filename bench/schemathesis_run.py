#!/usr/bin/env python3
"""Schemathesis against a real server, fuller than CI's in-process run: `make schemathesis`.

    .venv/bin/python bench/schemathesis_run.py                    # 100 examples per operation and phase
    .venv/bin/python bench/schemathesis_run.py --max-examples 500 # longer
    .venv/bin/python bench/schemathesis_run.py --quick            # 5 examples: a smoke run of the run itself

1. Migrates a scratch SQLite database and creates a tutor and their student with a running and
   an ended session, an open whiteboard connection each, and a bearer token each.
2. Starts gunicorn (DEBUG=false) on a free port over it.
3. Runs the schemathesis CLI with every check (`--checks all`), once with the tutor's token and
   once with the student's; tests/schemathesis_hooks.py aims most generated ids at their own
   session and connections, so the happy paths run as well as the 404s.
4. Stops the server; exits non-zero if either run found a failure.

Throttling: the server runs with raised THROTTLE_HEARTBEAT / THROTTLE_CONNECT (so the fuzzing
reaches the presence rules instead of the throttle) and long presence timeouts (so the connection
made before the run is still open when heartbeats are generated). The schema documents the 429
those operations answer at the production rates; tests/test_security.py tests it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lib import cli  # noqa: E402 - after the path set-up above
from tests.live_server import LiveServer  # noqa: E402

SERVER_ENV = {
    "THROTTLE_HEARTBEAT": "100000/min",
    "THROTTLE_CONNECT": "100000/min",
    "PRESENCE_TIMEOUT_VISIBLE": "3600",
    "PRESENCE_TIMEOUT_HIDDEN": "3600",
    # The API serves no static files; plain storage needs no collectstatic.
    "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
}


def make_personas() -> dict:
    """In the scratch database: the tutor and the student, their sessions, connections and tokens."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.utils import timezone

    from accounts.services import token_issue
    from tests.factories import TutoringSessionFactory, UserFactory
    from whiteboard.services import presence_connect

    tutor, student = UserFactory(username="tina_tutor"), UserFactory(username="sam_student")
    now = timezone.now()
    running = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=now - timedelta(minutes=30),
        scheduled_end=now + timedelta(hours=2),
    )
    ended = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=now - timedelta(hours=3), scheduled_end=now - timedelta(hours=2)
    )
    personas = {}
    for name, user in (("tutor", tutor), ("student", student)):
        _, key = token_issue(user=user, name="schemathesis")
        # The first connection stays open for heartbeats, the second is there for a disconnect to close.
        connections = [presence_connect(whiteboard_id=running.whiteboard_id, user=user) for _ in range(2)]
        personas[name] = {
            "token": key,
            "targets": {
                "whiteboard_ids": [running.whiteboard_id],
                "session_ids": [running.pk, ended.pk],
                "connection_ids": [str(c.connection_id) for c in connections],
            },
        }
    return personas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase (default 100)")
    parser.add_argument(
        "--max-time",
        type=int,
        default=None,
        help="a time budget per run, seconds: fuzzing then repeats until it is spent",
    )
    parser.add_argument("--seed", type=int, default=None, help="reproduce an earlier run")
    parser.add_argument("--quick", action="store_true", help="5 examples per operation and phase: a smoke run")
    parser.add_argument("--make-personas", action="store_true", help=argparse.SUPPRESS)
    args = cli.parse(parser, None, quick={"max_examples": 5})
    if args.make_personas:
        print(json.dumps(make_personas()))
        return 0

    python = sys.executable
    schemathesis = str(Path(python).with_name("schemathesis"))
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as scratch:
        scratch = Path(scratch)
        env = {
            **os.environ,
            **SERVER_ENV,
            "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
            "PYTHONPATH": str(ROOT),
            "DEBUG": "false",
        }
        print("migrating a scratch SQLite database ...", flush=True)
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        personas = json.loads(
            subprocess.run(
                [python, __file__, "--make-personas"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
        )

        failed = []
        with LiveServer(env=env, log_path=scratch / "gunicorn.log") as server:
            print(f"gunicorn serving on {server.url}", flush=True)
            for name, persona in personas.items():
                print(f"\n=== schemathesis as the {name}", flush=True)
                command = [
                    schemathesis,
                    "run",
                    f"{server.url}/api/schema?format=json",
                    "--checks",
                    "all",
                    "--header",
                    f"Authorization: Bearer {persona['token']}",
                    "--max-examples",
                    str(args.max_examples),
                    "--request-timeout",
                    "10",
                    "--suppress-health-check",
                    "all",
                    "--warnings",
                    "off",
                    "--report-dir",
                    str(scratch / f"report-{name}"),
                ]
                if args.seed is not None:
                    command += ["--seed", str(args.seed)]
                if args.max_time is not None:
                    command += ["--max-time", str(args.max_time)]
                run_env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                    "SCHEMATHESIS_TARGETS": json.dumps(persona["targets"]),
                }
                # A hard stop, should a run hang: far beyond what --max-examples takes.
                if subprocess.run(command, cwd=ROOT, env=run_env, timeout=1800).returncode != 0:
                    failed.append(name)
            if failed:
                print(f"\nserver log ({server.log_path}):\n{server.log()[-5000:]}")
    print(f"\nschemathesis: {'FAILED for ' + ', '.join(failed) if failed else 'no failures'} (tutor, student)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
