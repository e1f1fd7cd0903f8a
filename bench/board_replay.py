"""Benchmark: a big shared board's replay to first paint in Chromium (issue 16), against an empty board.

    .venv/bin/python bench/board_replay.py                  # 5,000 strokes, 50 points each on average
    .venv/bin/python bench/board_replay.py --quick          # 500 strokes, 2 loads: a smoke run

A script, not a test: it prints figures and marks the target PASS or FAIL, and exits 0 either way.
Needs PostgreSQL at 127.0.0.1:5432 and Chromium at /usr/bin/chromium.

How it measures: a database with two running sessions, one board left empty (the baseline, same run)
and one with --strokes finished strokes of --points-avg points on average (random walks, a pen in
four colours and widths, every 25th stroke an eraser). The app runs as in production (uvicorn,
config.asgi). Headless Chromium, signed in as the big board's tutor, loads the whiteboard page
--loads times; the page itself marks (Performance API, milliseconds from the start of navigation):
`board:first-page:painted`, the frame after the first replay page (BOARD_REPLAY_PAGE strokes) was
drawn, i.e. first paint of the board; and `board:replayed:painted`, the frame after the last page.
So each figure includes the page load, the socket's handshake and welcome, the server's reads and the
drawing, as a user reloading the page would see it.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import cli, database, population  # noqa: E402
from bench.lib.report import verdict, write_json  # noqa: E402

TARGET_MS = 1000
CHROMIUM = "/usr/bin/chromium"
MARKS = ("board:first-page:painted", "board:replayed:painted")


def parse_args(argv=None):
    parser = cli.parser(__doc__, db_name="attendance_board_bench")
    parser.add_argument("--strokes", type=int, default=5000)
    parser.add_argument("--points-avg", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5, help="page loads per board")
    return cli.parse(parser, argv, quick={"strokes": "500", "loads": "2"})


def seed(args) -> dict:
    from attendance.models import TutoringSession
    from whiteboard.board import board_replay

    people = population.participants(4)
    boards = sorted({p["whiteboard_id"] for p in people})
    empty, full = boards
    session = TutoringSession.objects.get(whiteboard_id=full)
    TutoringSession.objects.filter(whiteboard_id=empty).update(tutor=session.tutor)  # one browser opens both
    points = population.board_strokes(
        whiteboard_id=full,
        author_ids=(session.tutor_id, session.student_id),
        count=args.strokes,
        points_avg=args.points_avg,
    )
    after, size = 0, 0
    while after is not None:
        page = board_replay(whiteboard_id=full, after=after)
        size += len(json.dumps(page))
        after = page["next_after"]
    return {"empty": empty, "full": full, "tutor": session.tutor, "points": points, "replay_bytes": size}


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def measure(server_url: str, cookie: str, boards: dict[str, int], loads: int) -> dict[str, list[dict]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict]] = {label: [] for label in boards}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        context = browser.new_context(base_url=server_url, viewport={"width": 1280, "height": 860})
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": server_url}])
        page = context.new_page()
        for _ in range(loads):
            for label, whiteboard_id in boards.items():  # interleaved, so both see the same machine
                page.goto(f"/whiteboard/{whiteboard_id}/")
                page.wait_for_function(
                    "() => performance.getEntriesByName('board:replayed:painted').length > 0", timeout=60_000
                )
                results[label].append(
                    page.evaluate(
                        "names => Object.fromEntries(names.map(n => [n, performance.getEntriesByName(n)[0].startTime]))",
                        list(MARKS),
                    )
                    | {"strokes": page.evaluate("window.whiteboardBoard.size")}
                )
        browser.close()
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    db_url = database.prepare(args)
    facts = seed(args)
    print(
        f"Board: {args.strokes:,} strokes, {facts['points']:,} points ({facts['points'] / args.strokes:.0f} a stroke), "
        f"replay {facts['replay_bytes'] / 1e6:.1f} MB of JSON"
    )
    cookie = session_cookie(facts["tutor"])
    database.close_connections()

    import os

    from tests.asgi_server import AsgiServer

    env = {
        "DATABASE_URL": db_url,
        "SECRET_KEY": os.environ["SECRET_KEY"],  # the session cookie made here must verify there
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "true",  # static files from the app folders, no collectstatic
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "LOG_LEVEL": "WARNING",
    }
    with (
        tempfile.TemporaryDirectory() as workdir,
        AsgiServer(env=env, log_path=Path(workdir) / "uvicorn.log") as server,
    ):
        results = measure(server.url, cookie, {"empty board": facts["empty"], "big board": facts["full"]}, args.loads)

    figures = {}
    print(
        f"\n{'board':<12} {'loads':>5} {'strokes':>8} {'first paint ms (median / max)':>30} {'all painted ms (median / max)':>30}"
    )
    for label, rows in results.items():
        first = [r[MARKS[0]] for r in rows]
        done = [r[MARKS[1]] for r in rows]
        figures[label] = {
            "first_paint_ms_median": statistics.median(first),
            "first_paint_ms_max": max(first),
            "all_painted_ms_median": statistics.median(done),
            "all_painted_ms_max": max(done),
            "strokes": rows[-1]["strokes"],
        }
        f = figures[label]
        print(
            f"{label:<12} {len(rows):>5} {f['strokes']:>8,} {f['first_paint_ms_median']:>18.0f} / {f['first_paint_ms_max']:<9.0f}"
            f" {f['all_painted_ms_median']:>18.0f} / {f['all_painted_ms_max']:<9.0f}"
        )
    big, empty = figures["big board"], figures["empty board"]
    print(
        f"\nBig board against the empty one (same run): first paint x{big['first_paint_ms_median'] / empty['first_paint_ms_median']:.2f},"
        f" all painted x{big['all_painted_ms_median'] / empty['all_painted_ms_median']:.2f}"
        f" (+{big['all_painted_ms_median'] - empty['all_painted_ms_median']:.0f} ms for {big['strokes']:,} strokes)"
    )
    ok = big["first_paint_ms_max"] < TARGET_MS and big["strokes"] == args.strokes
    print(f"Target: first paint of a {args.strokes:,}-stroke board under {TARGET_MS} ms (worst load): {verdict(ok)}")
    print(f"        whole board painted, worst load: {big['all_painted_ms_max']:.0f} ms")
    write_json(args.json, args=args, facts={k: v for k, v in facts.items() if k != "tutor"}, figures=figures)
    return 0


if __name__ == "__main__":
    cli.run(main)
