"""Status and source names have one definition (`attendance.statuses`); every copy people read is held to it."""

from datetime import UTC

from attendance import labels, statuses, suggestions
from attendance.admin import TutoringSessionAdmin
from attendance.api import AttendanceSerializer, ParticipantSuggestionSerializer
from attendance.models import ATTENDANCE_FIELDS, AttendanceSource, AttendanceStatus, TutoringSession
from attendance.templatetags.attendance_tags import BADGE, status_badge
from reports import exports, figures


def test_the_models_choices_are_the_vocabulary_with_its_words():
    assert tuple(AttendanceStatus.values) == statuses.STATUSES
    assert dict(AttendanceStatus.choices) == labels.STATUS_LABELS
    assert tuple(AttendanceSource.values) == statuses.SOURCES
    assert dict(AttendanceSource.choices) == labels.SOURCE_DESCRIPTIONS


def test_every_word_list_covers_every_value():
    assert labels.STATUS_LABELS.keys() == set(statuses.STATUSES)
    assert labels.SUGGESTED_STATUS_LABELS.keys() == {*statuses.STATUSES, statuses.UNKNOWN}
    for words in (labels.SOURCE_LABELS, labels.SOURCE_DESCRIPTIONS, labels.SOURCE_HOW):
        assert words.keys() == set(statuses.SOURCES)
    assert BADGE.keys() == {*statuses.STATUSES, statuses.UNKNOWN}


def test_the_suggestion_rules_reports_and_badges_speak_the_same_statuses():
    assert {suggestions.PRESENT, suggestions.LATE, suggestions.LEFT_EARLY, suggestions.ABSENT} == set(
        statuses.SUGGESTED
    )
    assert suggestions.UNKNOWN == statuses.UNKNOWN
    assert set(ParticipantSuggestionSerializer().fields["status"].choices) == {*statuses.STATUSES, statuses.UNKNOWN}
    assert figures.STATUSES == statuses.STATUSES
    assert figures.STATUS_LABELS == labels.STATUS_LABELS
    assert status_badge("left_early")["label"] == "Left early"
    assert status_badge("unknown")["label"] == "Unknown"


def test_the_csv_names_statuses_and_sources_in_the_same_words():
    row = {
        "pk": 1,
        "title": "",
        "scheduled_start": None,
        "scheduled_end": None,
        **{
            f"{p}__{c}": None
            for p in ("tutor", "student", "attendance_marked_by")
            for c in ("first_name", "last_name", "username")
        },
        "tutor_attendance_status": "left_early",
        "student_attendance_status": "absent",
        "attendance_source": "parent_reported",
        "attendance_marked_at": None,
        "attendance_notes": "",
        "whiteboard_id": None,
    }
    line = exports.session_line(row, UTC)
    assert line[7:10] == ["Left early", "Absent", "Reported by a parent"]


def test_the_attendance_fields_are_the_models_and_every_door_uses_the_same_list():
    model_fields = {field.name for field in TutoringSession._meta.get_fields()}
    assert set(ATTENDANCE_FIELDS) <= model_fields
    assert AttendanceSerializer.Meta.fields == ["session_id", *ATTENDANCE_FIELDS]
    assert set(ATTENDANCE_FIELDS) <= set(TutoringSessionAdmin.readonly_fields)
    attendance_fieldset = dict(TutoringSessionAdmin.fieldsets)["Attendance"]["fields"]
    assert [name for name in attendance_fieldset if name in ATTENDANCE_FIELDS] == list(ATTENDANCE_FIELDS)
