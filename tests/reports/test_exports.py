"""CSV lines from plain rows: formula guard and formatting, without a database."""

import zoneinfo
from datetime import UTC, datetime

import pytest

from reports.exports import csv_lines, safe_text, session_line

LONDON = zoneinfo.ZoneInfo("Europe/London")


@pytest.mark.parametrize("value", ["=1+1", "+44 20", "-5", "@cmd", "\tx", "\rx"])
def test_formula_characters_are_defused(value):
    assert safe_text(value) == "'" + value


@pytest.mark.parametrize("value", ["Algebra", "", "a=b", "5-3", None])
def test_ordinary_text_is_kept(value):
    assert safe_text(value) == (value or "")


def row(**changes):
    base = {
        "pk": 7,
        "title": "Algebra",
        "scheduled_start": datetime(2026, 7, 1, 9, tzinfo=UTC),
        "scheduled_end": datetime(2026, 7, 1, 10, tzinfo=UTC),
        "tutor__first_name": "Tina",
        "tutor__last_name": "T",
        "tutor__username": "tina",
        "student__first_name": "",
        "student__last_name": "",
        "student__username": "sam",
        "tutor_attendance_status": "present",
        "student_attendance_status": "absent",
        "attendance_source": "whiteboard_auto",
        "attendance_marked_by__first_name": None,
        "attendance_marked_by__last_name": None,
        "attendance_marked_by__username": None,
        "attendance_marked_at": None,
        "attendance_notes": "",
        "whiteboard_id": None,
        "billing_outcome": "student_no_show",
    }
    for role in ("tutor", "student"):
        for column in ("connected_at", "last_activity_at", "total_active_seconds", "reconnects"):
            base[f"whiteboard__{role}_{column}"] = None
    return base | changes


def test_a_line_names_people_and_statuses_in_words():
    line = session_line(row(), LONDON)
    assert line[:14] == [
        7,
        "Algebra",
        "2026-07-01",
        "10:00",
        "11:00",
        "Tina T",
        "sam",
        "Present",
        "Absent",
        "From whiteboard presence",
        "",
        "",
        "",
        "no",
    ]
    assert line[14:22] == [""] * 8
    assert line[22:] == ["Student no-show"]


def test_a_session_with_nothing_to_bill_yet_has_an_empty_billing_cell():
    assert session_line(row(billing_outcome=None), LONDON)[22] == ""


def test_csv_starts_with_a_byte_order_mark_and_the_header():
    lines = list(csv_lines([row()], zone=LONDON, zone_name="Europe/London"))
    assert lines[0] == "\ufeff"
    assert lines[1].startswith("Session,Title,Date (Europe/London)")
    assert len(lines) == 3
