"""Calibrated confidence (issue 19): the fit is stored, the request path only reads it, below the
minimum the rule confidence stands, and the finalising job applies its threshold to calibrated figures."""

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from attendance.calibration import Calibrator, calibration_current, calibration_fit
from attendance.models import AttendanceChange, SuggestionCalibration, TutoringSession
from attendance.services import attendance_finalize
from tests.conftest import T0
from tests.factories import AttendanceChangeFactory, TutoringSessionFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
AFTER = END + timedelta(minutes=16)


def history(tutor, student, *, student_suggested, student_confidence, student_decided, n, action="chose_status"):
    """n history rows in which a person chose the student's status against a suggestion."""
    for _ in range(n):
        session = TutoringSessionFactory(
            tutor=tutor,
            student=student,
            scheduled_start=T0,
            scheduled_end=END,
            student_attendance_status=student_decided,
        )
        AttendanceChangeFactory(
            session=session,
            action=action,
            suggestion={
                "tutor": {"status": "present", "confidence": 0.9},
                "student": {"status": student_suggested, "confidence": student_confidence},
            },
        )


@pytest.fixture
def decided(tutor, student):
    """80 student decisions: `late` at 0.9 kept only half the time; `present` at 0.6 always kept."""
    history(tutor, student, student_suggested="late", student_confidence=0.9, student_decided="late", n=20)
    history(tutor, student, student_suggested="late", student_confidence=0.9, student_decided="present", n=20)
    history(tutor, student, student_suggested="present", student_confidence=0.6, student_decided="present", n=40)


def test_the_fit_is_stored_with_its_sample_and_scores(decided, settings):
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 50
    report = calibration_fit(now=AFTER)
    student = SuggestionCalibration.objects.get(role="student")
    assert (student.fitted, student.sample_size, student.fitted_at) == (True, 80, AFTER)
    assert student.brier_after < student.brier_before
    assert set(student.parameters["intercepts"]) == {"late", "present"}
    calibrator = calibration_current()
    assert calibrator.confidence(role="student", status="late", confidence=0.9) == pytest.approx(0.5, abs=0.1)
    assert calibrator.confidence(role="student", status="present", confidence=0.6) > 0.85
    # A status the fit never saw keeps its rule confidence.
    assert calibrator.confidence(role="student", status="absent", confidence=0.7) == 0.7
    # The tutors' statuses were all kept (one outcome only): nothing to fit, the rule confidence stands.
    tutor_fit = next(f for f in report.fits if f.role == "tutor")
    assert (tutor_fit.sample_size, tutor_fit.fitted) == (80, False)
    assert calibrator.confidence(role="tutor", status="present", confidence=0.9) == 0.9


def test_applied_suggestions_are_not_fitted_on(tutor, student, settings):
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 10
    history(
        tutor,
        student,
        student_suggested="late",
        student_confidence=0.9,
        student_decided="late",
        n=12,
        action="accepted_suggestion",
    )
    calibration_fit(now=AFTER)
    assert SuggestionCalibration.objects.get(role="student").sample_size == 0


def test_below_the_minimum_the_rule_confidence_stands(decided, settings):
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 200  # the default
    out = StringIO()
    call_command("calibrate_suggestions", stdout=out)
    assert "student: 80 of the 200 decisions needed; the rule confidence stands" in out.getvalue()
    fit = SuggestionCalibration.objects.get(role="student")
    assert (fit.fitted, fit.sample_size, fit.parameters) == (False, 80, {})
    assert calibration_current().confidence(role="student", status="late", confidence=0.9) == 0.9


def test_a_fit_stops_applying_when_the_minimum_is_raised(decided, settings):
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 50
    calibration_fit(now=AFTER)
    assert calibration_current().active("student")
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 100
    assert not calibration_current().active("student")


def test_the_latest_fit_is_in_force(decided, settings):
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 50
    calibration_fit(now=AFTER)
    SuggestionCalibration.objects.create(
        fitted_at=AFTER + timedelta(days=1),
        role="student",
        sample_size=500,
        fitted=True,
        parameters={"slope": 0.0, "intercepts": {"late": 0.0}},
    )
    assert calibration_current().confidence(role="student", status="late", confidence=0.99) == pytest.approx(0.5)


REQUEST_PATH = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
import config.urls, attendance.services, attendance.calibration, attendance.views, attendance.api, attendance.admin
import reports.views, reports.selectors, families.services, families.receivers
from django.urls import reverse
from attendance.calibration import Calibrator
value = Calibrator(parameters={"student": {"slope": 1.0, "intercepts": {"late": -1.0}}, "tutor": None}).confidence(
    role="student", status="late", confidence=0.9)
assert 0 < value < 0.9, value
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy", "numpy"))
print("LOADED:" + ",".join(loaded))
"""


def test_the_request_path_never_imports_the_fitting_library():
    # A fresh interpreter: this test process may have imported sklearn for another test.
    result = subprocess.run([sys.executable, "-c", REQUEST_PATH], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED:\n" in result.stdout or result.stdout.strip() == "LOADED:", result.stdout


def test_the_fit_does_import_it(decided, settings):
    # The other side of the test above: the check would see sklearn if it were imported.
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 50
    calibration_fit(now=AFTER)
    assert "sklearn" in sys.modules


# --- the finalising job applies its threshold to the calibrated figure -------------------


@pytest.fixture
def late_by_twelve(tutor, student):
    """The student joined 12 minutes late: the rules are sure (0.97) it is `late`."""
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(session.whiteboard, tutor, T0 - timedelta(minutes=2), END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    return session


@pytest.fixture
def borderline(tutor, student):
    """5.5 minutes late: the rules are not sure enough (below 0.8)."""
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=5, seconds=30), END)
    return session


def calibration(role, *, slope, intercepts, sample_size=500):
    return SuggestionCalibration.objects.create(
        fitted_at=T0,
        role=role,
        sample_size=sample_size,
        fitted=True,
        parameters={"slope": slope, "intercepts": intercepts},
    )


def test_finaliser_leaves_a_suggestion_people_often_change(late_by_twelve):
    # People keep `late` only ~27 % of the time whatever the rules say.
    calibration("student", slope=0.0, intercepts={"late": -1.0})
    report = attendance_finalize(now=AFTER)
    assert (report.applied, report.left_for_tutor) == (0, 1)
    assert TutoringSession.objects.get(pk=late_by_twelve.pk).attendance_source == "system_default"


def test_finaliser_applies_a_suggestion_people_keep_though_the_rules_were_unsure(borderline):
    calibration("student", slope=0.0, intercepts={"late": 3.0})  # kept ~95 %
    report = attendance_finalize(now=AFTER)
    assert report.applied == 1
    assert AttendanceChange.objects.get(session=borderline).action == "accepted_suggestion"


def test_finaliser_takes_the_lower_of_tutor_and_student(late_by_twelve):
    calibration("student", slope=0.0, intercepts={"late": 3.0})
    calibration("tutor", slope=0.0, intercepts={"present": -1.0})  # the tutor's `present` is doubtful
    assert attendance_finalize(now=AFTER).applied == 0


def test_finaliser_ignores_a_fit_below_the_minimum(late_by_twelve, settings):
    calibration("student", slope=0.0, intercepts={"late": -1.0}, sample_size=20)
    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = 200
    assert attendance_finalize(now=AFTER).applied == 1  # the rule confidence (0.97) stands


def test_calibrator_without_fits_changes_nothing():
    assert Calibrator().confidence(role="student", status="late", confidence=0.42) == 0.42
