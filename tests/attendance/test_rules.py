"""`tutor_change_refusal`: the one statement of when a tutor may mark, read by the page and raised by the service."""

from datetime import timedelta

import pytest

from attendance.models import AttendanceSource
from attendance.rules import tutor_change_refusal
from attendance.services import attendance_apply_suggestion, attendance_mark_by_hand
from core.errors import DomainError
from tests.conftest import T0

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)

CASES = [
    ("before the start", T0 - timedelta(seconds=1), AttendanceSource.SYSTEM_DEFAULT, "not_started"),
    ("at the start", T0, AttendanceSource.SYSTEM_DEFAULT, None),
    ("just after the end", END + timedelta(minutes=1), AttendanceSource.SYSTEM_DEFAULT, None),
    ("last moment of the window", END + timedelta(days=7), AttendanceSource.MANUAL, None),
    ("window closed", END + timedelta(days=7, seconds=1), AttendanceSource.SYSTEM_DEFAULT, "marking_window_closed"),
    ("admin override", END + timedelta(minutes=1), AttendanceSource.ADMIN_OVERRIDE, "admin_override_locked"),
    (
        "admin override, window closed",
        END + timedelta(days=9),
        AttendanceSource.ADMIN_OVERRIDE,
        "admin_override_locked",
    ),
]


@pytest.mark.parametrize(("case", "now", "source", "code"), CASES, ids=[c[0] for c in CASES])
def test_the_refusal_is_the_service_s_answer(session, tutor, case, now, source, code):
    session.attendance_source = source
    session.save(update_fields=["attendance_source"])

    refusal = tutor_change_refusal(session, now=now)

    assert (refusal and refusal.code) == code
    try:
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=now)
    except DomainError as error:
        assert (error.code, error.message) == (refusal.code, refusal.message)
    else:
        assert refusal is None


def test_accepting_the_suggestion_is_refused_for_the_same_reason(session, tutor):
    now = END + timedelta(days=8)
    refusal = tutor_change_refusal(session, now=now)
    with pytest.raises(DomainError) as raised:
        attendance_apply_suggestion(session=session, by=tutor, now=now)
    assert raised.value.code == refusal.code == "marking_window_closed"
