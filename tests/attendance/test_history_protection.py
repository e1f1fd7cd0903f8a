"""Issue 14: history nobody can rewrite: TRUNCATE refused by the database, flush and demo reset refused
while history exists, the test suite's clean-up switch, and the owner / app role split (PostgreSQL)."""

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from attendance.history_protection import history_truncate_switch, history_wipe_refuse
from attendance.models import AttendanceChange, TutoringSession
from attendance.services import attendance_mark_by_hand
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
END = T0 + timedelta(hours=1)


@pytest.fixture
def history(session, tutor):
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=END)
    return AttendanceChange.objects.get()


@pytest.mark.django_db
def test_flush_refuses_while_history_exists_unless_the_test_switch_is_on(history, settings):
    settings.ATTENDANCE_HISTORY_TRUNCATE_ALLOWED = False  # as in production
    with pytest.raises(CommandError, match=r"Refusing to flush the database: attendance_history holds 1 change"):
        call_command("flush", interactive=False, verbosity=0)
    assert AttendanceChange.objects.count() == 1
    assert TutoringSession.objects.count() == 1


def test_the_truncate_switch_is_off_in_production_settings_and_not_read_from_the_environment():
    source = (ROOT / "config" / "settings.py").read_text()
    assert "ATTENDANCE_HISTORY_TRUNCATE_ALLOWED = False" in source
    assert "ATTENDANCE_HISTORY_TRUNCATE_ALLOWED" not in "".join(line for line in source.splitlines() if "env." in line)
    assert settings.ATTENDANCE_HISTORY_TRUNCATE_ALLOWED  # the tests' own settings (config/test_settings.py)


@pytest.mark.django_db
def test_the_switch_itself_refuses_when_the_settings_do_not_allow_it(settings):
    settings.ATTENDANCE_HISTORY_TRUNCATE_ALLOWED = False
    with pytest.raises(CommandError, match="not allowed"), history_truncate_switch():
        pass


@pytest.mark.django_db
def test_the_refusal_counts_only_the_given_sessions(history, other_tutor, student):
    from tests.factories import TutoringSessionFactory

    other = TutoringSessionFactory(tutor=other_tutor, student=student, scheduled_start=T0, scheduled_end=END)
    history_wipe_refuse(action="x", sessions=TutoringSession.objects.filter(pk=other.pk))  # no history there
    with pytest.raises(CommandError, match="Refusing to reset: attendance_history holds 1 change"):
        history_wipe_refuse(action="reset", sessions=TutoringSession.objects.all())


# --- PostgreSQL: the database itself --------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["TRUNCATE attendance_history CASCADE", "TRUNCATE sessions CASCADE"])
def test_truncate_is_refused_even_for_the_owner_while_history_exists(statement, history):
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic(), connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own transaction has deferred checks pending
        c.execute(statement)
    assert AttendanceChange.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_owner_with_the_switch_on_may_truncate(history):
    with transaction.atomic():
        with history_truncate_switch(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE attendance_history CASCADE")
        assert AttendanceChange.objects.count() == 0
        transaction.set_rollback(True)
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic(), connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
        c.execute("TRUNCATE attendance_history CASCADE")  # the switch ended with the block


# --- PostgreSQL: the owner role and the app's role -------------------------------------------------


def _admin():
    params = settings.DATABASES["default"]
    return psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        port=params["PORT"] or 5432,
        user=params["USER"],
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture
def split_database():
    """A database owned by an owner role (not a superuser), migrated by it, and an app role."""
    params = settings.DATABASES["default"]
    suffix = uuid.uuid4().hex[:8]
    owner, app, name = f"att_h14_owner_{suffix}", f"att_h14_app_{suffix}", f"att_h14_split_{suffix}"
    with _admin() as admin:
        admin.execute(f'CREATE ROLE "{owner}" LOGIN')
        admin.execute(f'CREATE ROLE "{app}" LOGIN')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    host, port = params["HOST"] or "127.0.0.1", params["PORT"] or 5432
    urls = {role: f"postgres://{role}@{host}:{port}/{name}" for role in (owner, app)}
    try:
        yield {"owner": owner, "app": app, "name": name, "urls": urls, "host": host, "port": port}
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{app}"')
            admin.execute(f'DROP ROLE IF EXISTS "{owner}"')


def _manage(url, *args, app_role="", check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {"DATABASE_URL": url, "DATABASE_APP_ROLE": app_role, "DEBUG": "false", "LOG_LEVEL": "ERROR"}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


MARK_AS_THE_APP = """
from datetime import timedelta
from django.utils import timezone
from attendance.models import TutoringSession
from attendance.services import attendance_mark_by_hand
from whiteboard.models import WhiteboardSession
from django.contrib.auth import get_user_model
User = get_user_model()
tutor, student = User.objects.create_user("t"), User.objects.create_user("s")
start = timezone.now() - timedelta(hours=2)
session = TutoringSession.objects.create(tutor=tutor, student=student, scheduled_start=start,
    scheduled_end=start + timedelta(hours=1), whiteboard=WhiteboardSession.objects.create())
attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent")
print("marked")
"""


@pytest.mark.postgres
@pytest.mark.processes
def test_the_owner_migrates_and_the_app_role_can_only_read_and_append_history(split_database):
    db = split_database
    migrated = _manage(db["urls"][db["owner"]], "migrate", "--no-input", app_role=db["app"])
    assert migrated.returncode == 0, migrated.stderr

    # The app, as its own role, works: creates a session and marks it (one history row).
    marked = _manage(db["urls"][db["app"]], "shell", "-c", MARK_AS_THE_APP, check=False)
    assert "marked" in marked.stdout, marked.stderr

    connect = {"host": db["host"], "port": db["port"], "dbname": db["name"], "autocommit": True}
    with psycopg.connect(user=db["app"], **connect) as app:
        assert app.execute("SELECT count(*) FROM attendance_history").fetchone() == (1,)
        for statement in (
            "UPDATE attendance_history SET notes = 'rewritten'",
            "DELETE FROM attendance_history",
            "TRUNCATE attendance_history CASCADE",
            "ALTER TABLE attendance_history DISABLE TRIGGER USER",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
        app.execute("SET attendance.allow_history_truncate = 'on'")  # the switch does not help a non-owner
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("TRUNCATE attendance_history")

    with psycopg.connect(user=db["owner"], **connect) as owner:
        for statement in (
            "TRUNCATE attendance_history CASCADE",
            "TRUNCATE sessions CASCADE",
            "DELETE FROM attendance_history",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"TRUNCATE refused|append-only"):
                owner.execute(statement)

    # A plain flush, even by the owner, is refused with a clear message; the history is still there.
    flushed = _manage(db["urls"][db["owner"]], "flush", "--no-input", check=False)
    assert flushed.returncode != 0
    assert "Refusing to flush the database: attendance_history holds 1 change" in flushed.stderr
    with psycopg.connect(user=db["owner"], **connect) as owner:
        assert owner.execute("SELECT count(*) FROM attendance_history").fetchone() == (1,)
        # The deliberate way around, open to the owner alone: the session's switch.
        owner.execute("SET attendance.allow_history_truncate = 'on'")
        owner.execute("TRUNCATE attendance_history CASCADE")
        assert owner.execute("SELECT count(*) FROM attendance_history").fetchone() == (0,)
