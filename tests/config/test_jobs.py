"""Beat's schedule without a broker (`dev.py run`): each task runs in-process when it is due (issue #17)."""

import pytest

from config.celery import app
from config.jobs import InProcessBeat

pytestmark = pytest.mark.django_db


def test_every_scheduled_entry_names_a_task_a_worker_registers():
    app.loader.import_default_modules()  # what a worker does at start: each app's tasks.py
    assert app.conf.beat_schedule  # the schedule is loaded from settings
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name


def test_each_task_runs_when_its_schedule_says_and_reports_what_it_did(clock, settings):
    beat = InProcessBeat()  # as beat on a fresh start: everything counts from now

    assert beat.tick()[0] == {}
    clock.advance(61)
    ran, wait = beat.tick()
    assert ran == {
        "presence-sweep": {"closed": 0},
        "notifications-redeliver": {"queued": 0},
        "webhooks-redeliver": {"queued": 0},
    }
    assert 0 < wait <= 60
    clock.advance(240)
    assert set(beat.tick()[0]) == {
        "presence-sweep",
        "notifications-redeliver",
        "webhooks-redeliver",
        "attendance-finalize",
    }


def test_the_digest_runs_once_a_day_at_its_time(clock):
    clock.at(clock.now.replace(hour=6, minute=59))  # T0's day, Europe/London = UTC in March
    beat = InProcessBeat()
    clock.advance(30)
    assert "decision-digest" not in beat.tick()[0]
    clock.advance(60)  # 07:00:30
    assert beat.tick()[0]["decision-digest"]["day"] == "2026-03-10"
    clock.advance(3600)
    assert "decision-digest" not in beat.tick()[0]


def test_a_failing_job_does_not_stop_the_others(clock, monkeypatch):
    beat = InProcessBeat()

    def broken():
        raise RuntimeError("sweeper bug")

    monkeypatch.setattr("whiteboard.tasks.presence_sweep", lambda: broken())
    clock.advance(61)
    ran, _ = beat.tick()
    assert isinstance(ran["presence-sweep"], RuntimeError)
    assert ran["notifications-redeliver"] == {"queued": 0}
