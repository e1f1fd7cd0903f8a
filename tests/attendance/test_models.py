"""The two tables of the design note: what the database itself refuses, and what it fills in by default."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from attendance.models import TutoringSession
from tests.conftest import T0
from whiteboard.models import WhiteboardSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejected(session):
    """`rejected(**values)`: True if the database refuses these values for the session (no ORM check runs)."""

    def attempt(**values) -> bool:
        try:
            with transaction.atomic():
                TutoringSession.objects.filter(pk=session.pk).update(**values)
        except IntegrityError:
            return True
        return False

    return attempt


@pytest.mark.parametrize("column", ["tutor_attendance_status", "student_attendance_status"])
def test_the_database_rejects_an_unknown_attendance_status(rejected, column):
    assert rejected(**{column: "sick"})
    assert rejected(**{column: ""})
    assert rejected(**{column: "PRESENT"})


@pytest.mark.parametrize("column", ["tutor_attendance_status", "student_attendance_status"])
@pytest.mark.parametrize("status", ["present", "late", "left_early", "absent", "excused"])
def test_the_database_accepts_every_attendance_status_of_the_design_note(rejected, column, status):
    assert not rejected(**{column: status})


def test_the_database_rejects_an_unknown_attendance_source(rejected):
    assert rejected(attendance_source="guessed")
    assert rejected(attendance_source="")


@pytest.mark.parametrize("source", ["manual", "whiteboard_auto", "parent_reported", "admin_override", "system_default"])
def test_the_database_accepts_every_attendance_source_of_the_design_note(rejected, source):
    assert not rejected(attendance_source=source)


def test_the_database_rejects_a_session_that_ends_when_it_starts(rejected, session):
    assert rejected(scheduled_end=session.scheduled_start)


def test_the_database_rejects_a_session_that_ends_before_it_starts(rejected, session):
    assert rejected(scheduled_end=session.scheduled_start - timedelta(minutes=1))
    assert not rejected(scheduled_end=session.scheduled_start + timedelta(seconds=1))


def test_the_database_rejects_a_tutor_teaching_themself(rejected, session):
    assert rejected(student=session.tutor)


def test_a_raw_insert_of_a_bad_row_is_rejected_too(tutor, student):
    table = TutoringSession._meta.db_table
    quote = connection.ops.quote_name
    good = {
        "tutor_id": tutor.pk,
        "student_id": student.pk,
        "title": "",
        "scheduled_start": T0,
        "scheduled_end": T0 + timedelta(hours=1),
        "tutor_attendance_status": "present",
        "student_attendance_status": "present",
        "attendance_source": "system_default",
        "attendance_notes": "",
        "created_at": T0,
    }

    def insert(**changes):
        row = {**good, **changes}
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(table), ", ".join(quote(c) for c in row), ", ".join(["%s"] * len(row))
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql, [connection.ops.adapt_datetimefield_value(v) if hasattr(v, "tzinfo") else v for v in row.values()]
            )

    insert()  # the baseline row is fine...
    for bad in (
        {"student_attendance_status": "sick"},
        {"attendance_source": "guessed"},
        {"scheduled_end": T0},
        {"student_id": tutor.pk},
    ):
        with pytest.raises(IntegrityError):
            insert(**bad)  # ...and each single change makes it unacceptable


def test_a_session_needs_only_tutor_student_start_and_end(tutor, student):
    created = TutoringSession.objects.create(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=T0 + timedelta(minutes=45)
    )

    created.refresh_from_db()
    assert created.whiteboard is None  # an in-person session
    assert created.tutor_attendance_status == "present"
    assert created.student_attendance_status == "present"
    assert created.attendance_source == "system_default"
    assert created.attendance_marked_by is None
    assert created.attendance_marked_at is None
    assert created.attendance_notes == ""


def test_a_whiteboard_needs_no_fields_at_all():
    created = WhiteboardSession.objects.create()

    created.refresh_from_db()
    for role in ("tutor", "student"):
        assert getattr(created, f"{role}_connected_at") is None
        assert getattr(created, f"{role}_disconnected_at") is None
        assert getattr(created, f"{role}_last_activity_at") is None
        assert getattr(created, f"{role}_total_active_seconds") == 0
    assert created.connection_logs == []


def test_a_whiteboard_can_be_attached_to_a_session_after_it_was_made(tutor, student):
    session = TutoringSession.objects.create(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1)
    )
    session.whiteboard = WhiteboardSession.objects.create()
    session.save()

    assert WhiteboardSession.objects.get(pk=session.whiteboard.pk).tutoring_session == session


def test_deleting_a_whiteboard_keeps_the_session(session):
    session.whiteboard.delete()
    session.refresh_from_db()
    assert session.whiteboard is None


# --- PostgreSQL: the schema documents itself ------------------------------------------------


WHITEBOARD_COLUMNS = [
    f"{role}_{field}"
    for role in ("tutor", "student")
    for field in ("connected_at", "disconnected_at", "last_activity_at", "total_active_seconds")
] + ["connection_logs"]
SESSION_COLUMNS = [
    "tutor_attendance_status",
    "student_attendance_status",
    "whiteboard_id",
    "attendance_marked_by_id",
    "attendance_marked_at",
    "attendance_source",
    "attendance_notes",
]


def column_comments(table: str) -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.attname, col_description(a.attrelid, a.attnum)
            FROM pg_attribute a
            WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
            """,
            [table],
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres
def test_connection_logs_is_jsonb():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            ["whiteboard_sessions", "connection_logs"],
        )
        assert cursor.fetchone() == ("jsonb",)


@pytest.mark.postgres
def test_connection_logs_of_a_new_whiteboard_is_a_jsonb_array():
    created = WhiteboardSession.objects.create()
    with connection.cursor() as cursor:
        cursor.execute("SELECT jsonb_typeof(connection_logs) FROM whiteboard_sessions WHERE id = %s", [created.pk])
        assert cursor.fetchone() == ("array",)


@pytest.mark.postgres
@pytest.mark.parametrize("column", WHITEBOARD_COLUMNS)
def test_the_whiteboard_columns_of_the_design_note_have_a_db_comment(column):
    assert column_comments("whiteboard_sessions")[column]


@pytest.mark.postgres
@pytest.mark.parametrize("column", SESSION_COLUMNS)
def test_the_session_columns_of_the_design_note_have_a_db_comment(column):
    assert column_comments("sessions")[column]


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["sessions", "whiteboard_sessions"])
def test_both_tables_have_a_comment(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description(%s::regclass, 'pg_class')", [table])
        assert cursor.fetchone()[0]
