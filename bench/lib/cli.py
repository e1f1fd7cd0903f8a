"""The command line every bench script shares: database, cache, --quick, --json; and how a script ends."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path

PG_URL = "postgres://postgres@127.0.0.1:5432"
CACHE_URL = "redis://127.0.0.1:6379/1"  # as in production: throttle counters shared by the workers


def parser(doc: str, *, db_name: str | None = None, cache: bool = False) -> argparse.ArgumentParser:
    """A parser described by the script's docstring, with --quick and --json; the database and cache on request."""
    result = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    result.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of seconds: proves the script works end to end; its figures mean little "
        "(flags given explicitly still win)",
    )
    if db_name is not None:
        result.add_argument("--pg", default=PG_URL, help="PostgreSQL server (no database name)")
        result.add_argument("--db-name", default=db_name, help="database to (re)create; dropped at each run")
        result.add_argument(
            "--sql-after-migrate",
            action="append",
            default=[],
            metavar="SQL",
            help="run this SQL on the bench database after migrating, to try a schema change before writing its "
            'migration (e.g. "ALTER TABLE whiteboard_connections SET (fillfactor = 50)"); repeatable',
        )
    if cache:
        result.add_argument(
            "--cache-url",
            default=CACHE_URL,
            help="CACHE_URL, where throttle counters live, as in production ('' for local memory)",
        )
    result.add_argument("--json", type=Path, help="also write every figure to this file")
    return result


def parse(parser: argparse.ArgumentParser, argv: list[str] | None, *, quick: dict) -> argparse.Namespace:
    """Parse `argv`; with --quick, `quick` replaces the defaults (strings go through each argument's type)."""
    first, _ = parser.parse_known_args(argv)
    if first.quick:
        parser.set_defaults(**quick)
    return parser.parse_args(argv)


def run(main: Callable[[], int]) -> None:
    """Run a script's main. SIGTERM unwinds like Ctrl-C, through the finally blocks that stop servers."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted; the server was stopped.", file=sys.stderr)
        sys.exit(130)
