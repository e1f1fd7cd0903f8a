"""The agreement report (issue 19): pure figures on known decisions, then the staff pages and the CSV."""

import csv
import io
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from attendance.models import AttendanceStreak, SuggestionCalibration
from reports.agreement import CalibrationLine, agreement_report, expected_calibration_error, reliability_bins
from reports.charts import REL_BOTTOM, REL_HEIGHT, REL_LEFT, REL_RIGHT, REL_TOP, REL_WIDTH, reliability_chart
from tests.conftest import T0
from tests.factories import AttendanceChangeFactory, TutoringSessionFactory, UserFactory

LONDON = zoneinfo.ZoneInfo("Europe/London")


def d(
    role, suggested, decided, confidence=0.9, *, chosen=True, tutor_id=1, at=datetime(2026, 3, 10, 12, tzinfo=UTC), n=0
):
    return SimpleNamespace(
        change_id=n,
        session_id=100 + n,
        tutor_id=tutor_id,
        changed_at=at,
        role=role,
        suggested=suggested,
        confidence=confidence,
        decided=decided,
        chosen=chosen,
    )


def report_of(decisions, threshold=0.8):
    return agreement_report(decisions, zone=LONDON, tutor_names={1: "Tina", 2: "Otto"}, threshold=threshold)


def test_confusion_matrix_counts_suggested_against_decided_per_role():
    report = report_of(
        [
            d("student", "late", "late"),
            d("student", "late", "present"),
            d("student", "late", "present"),
            d("student", "absent", "excused"),
            d("tutor", "present", "absent"),
            d("student", "late", "late", chosen=False),  # applied: not in the matrix
        ]
    )
    assert report.matrix["student"]["late"] == {"present": 2, "late": 1, "left_early": 0, "absent": 0, "excused": 0}
    assert report.matrix["student"]["absent"]["excused"] == 1
    assert report.matrix["tutor"]["present"]["absent"] == 1
    rows = {row[0]: row for row in report.matrix_rows("student")}
    assert rows["late"][2:] == ([2, 1, 0, 0, 0], 3)
    assert (report.summary.decided, report.summary.kept, report.summary.applied) == (5, 1, 1)
    assert (report.by_role["student"].decided, report.by_role["tutor"].decided) == (4, 1)


def test_reliability_bins_compare_mean_confidence_with_how_often_people_kept():
    decisions = [
        d("student", "late", "late", 0.95),
        d("student", "late", "present", 0.91),
        d("student", "present", "present", 0.55),
        d("student", "present", "present", 1.0),  # exactly 1: the last bin
    ]
    bins = reliability_bins(decisions)
    assert len(bins) == 10
    top, middle = bins[9], bins[5]
    assert (top.count, top.observed) == (3, pytest.approx(2 / 3))
    assert top.mean_confidence == pytest.approx((0.95 + 0.91 + 1.0) / 3)
    assert (middle.count, middle.observed, middle.mean_confidence) == (1, 1.0, 0.55)
    assert bins[0].count == 0 and bins[0].observed is None
    # ECE: (3 * |2/3 - 0.9533| + 1 * |1 - 0.55|) / 4
    assert expected_calibration_error(bins) == pytest.approx((3 * abs(2 / 3 - 2.86 / 3) + 0.45) / 4)


def test_reliability_counts_only_chosen_statuses():
    report = report_of([d("student", "late", "late", 0.95, chosen=False)] * 5 + [d("student", "late", "present", 0.95)])
    assert report.bins[9].count == 1
    assert report.bins[9].observed == 0


def test_per_tutor_and_per_month_in_the_business_zone():
    report = report_of(
        [
            d("student", "late", "late", tutor_id=1, at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)),  # 1 Apr in London
            d("student", "late", "present", tutor_id=2, at=datetime(2026, 3, 10, tzinfo=UTC)),
            d("tutor", "present", "present", tutor_id=2, at=datetime(2026, 3, 11, tzinfo=UTC)),
        ]
    )
    assert [(row.label, row.tally.decided, row.tally.kept) for row in report.by_tutor] == [
        ("Otto", 2, 1),
        ("Tina", 1, 1),
    ]
    assert [(row.key, row.tally.decided) for row in report.by_month] == [(date(2026, 3, 1), 2), (date(2026, 4, 1), 1)]


def test_confidently_wrong_is_changed_with_confidence_at_the_threshold_or_above_newest_first():
    old, new = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    report = report_of(
        [
            d("student", "late", "present", 0.8, at=old, n=1),
            d("student", "late", "present", 0.79, n=2),  # not confident enough
            d("student", "late", "late", 0.97, n=3),  # kept
            d("student", "absent", "present", 0.97, at=new, n=4),
            d("student", "absent", "present", 0.97, chosen=False, n=5),  # applied: cannot be wrong
        ]
    )
    assert [x.change_id for x in report.confidently_wrong] == [4, 1]
    assert report.confidently_wrong_total == 2


def test_reliability_chart_geometry():
    bins = reliability_bins([d("student", "late", "late", 0.75), d("student", "late", "present", 0.75)])
    chart = reliability_chart(bins)
    (mark,) = chart.marks
    plot_w, plot_h = REL_WIDTH - REL_LEFT - REL_RIGHT, REL_HEIGHT - REL_TOP - REL_BOTTOM
    assert mark.height == pytest.approx(plot_h / 2, abs=0.1)  # kept half the time
    assert mark.dot_x == pytest.approx(REL_LEFT + 0.75 * plot_w, abs=0.1)
    assert chart.diagonal == (REL_LEFT, REL_TOP + plot_h, REL_WIDTH - REL_RIGHT, REL_TOP)
    assert "kept 50%" in mark.title


def test_calibration_sentence_says_when_the_rule_confidence_stands():
    line = CalibrationLine(
        role="student", minimum=200, fitted_at=T0, sample_size=80, active=False, brier_before=0.2, brier_after=None
    )
    assert (
        line.sentence == "Students' statuses: 80 of the 200 decisions needed to calibrate; the rule confidence stands."
    )
    active = CalibrationLine(
        role="tutor", minimum=200, fitted_at=T0, sample_size=250, active=True, brier_before=0.2, brier_after=0.1
    )
    assert "calibrated on 250 decisions" in active.sentence and "0.100 calibrated" in active.sentence


# --- pages ------------------------------------------------------------------------------

MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


@pytest.fixture
def history(db, tutor, student):
    """Two chosen decisions rows (one changed at 0.97) and one applied suggestion, in March 2026."""
    rows = []
    for day, new_student, action, source in (
        (0, "present", "chose_status", "manual"),  # late suggested at 0.97, the tutor chose present
        (1, "late", "chose_status", "manual"),  # kept
        (2, "late", "accepted_suggestion", "whiteboard_auto"),  # applied
    ):
        start = T0 + timedelta(days=day)
        session = TutoringSessionFactory(
            tutor=tutor,
            student=student,
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=1),
            student_attendance_status=new_student,
            attendance_source=source,
        )
        rows.append(
            AttendanceChangeFactory(
                session=session,
                source=source,
                action=action,
                suggestion={
                    "tutor": {"status": "present", "confidence": 0.9},
                    "student": {"status": "late", "confidence": 0.97},
                },
            )
        )
    return rows


def test_staff_see_the_agreement_page(client, staff, history):
    client.force_login(staff)
    page = client.get("/reports/agreement/", MARCH)
    assert page.status_code == 200
    html = page.content.decode()
    # 4 chosen statuses (2 rows x 2 participants), 3 kept; 2 applied, counted apart.
    assert page.context["report"].summary.decided == 4
    assert page.context["report"].summary.kept == 3
    assert page.context["report"].summary.applied == 2
    assert 'data-testid="agreement-rate">75%' in html
    assert 'data-testid="reliability-chart"' in html and "<svg" in html
    assert f'href="/sessions/{history[0].session_id}/"' in html  # the confidently wrong one, linked
    assert "the rule confidence stands" in html


def test_the_page_says_when_calibration_is_in_force(client, staff, history):
    SuggestionCalibration.objects.create(
        fitted_at=T0,
        role="student",
        sample_size=300,
        fitted=True,
        brier_before=0.2,
        brier_after=0.1,
        parameters={"slope": 1.0, "intercepts": {"late": 0.0}},
    )
    client.force_login(staff)
    html = client.get("/reports/agreement/", MARCH).content.decode()
    assert 'data-testid="calibration-student" data-active="yes"' in html
    assert "calibrated on 300 decisions" in html


@pytest.mark.parametrize("who", ["tutor", "student"])
def test_agreement_pages_are_for_staff_only(client, history, who, request):
    client.force_login(request.getfixturevalue(who))
    for url in ("/reports/agreement/", "/reports/agreement.csv", "/reports/streaks/"):
        assert client.get(url, MARCH).status_code == 404


def test_bad_dates_are_a_form_error(client, staff):
    client.force_login(staff)
    page = client.get("/reports/agreement/", {"date_from": "2026-03-31", "date_to": "2026-03-01"})
    assert page.status_code == 400
    assert "The end date is before the start date." in page.content.decode()


def test_agreement_csv_has_one_line_per_decision(client, staff, history):
    client.force_login(staff)
    response = client.get("/reports/agreement.csv", MARCH)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "Change"
    body = rows[1:]
    assert len(body) == 6  # 3 rows x 2 participants
    chosen = [r for r in body if r[8] == "chose a status"]
    assert len(chosen) == 4
    assert sorted(r[9] for r in chosen) == ["no", "yes", "yes", "yes"]
    assert all(r[9] == "" for r in body if r[8] != "chose a status")


def test_report_page_links_staff_to_the_details(client, staff, history):
    client.force_login(staff)
    html = client.get("/reports/", MARCH).content.decode()
    assert 'data-testid="agreement-link"' in html
    assert 'data-testid="streaks-link"' in html


def test_streaks_page_lists_open_streaks_only(client, staff, tutor, student, history):
    sessions = [c.session for c in history]
    AttendanceStreak.objects.create(
        key="student_absences:x:1",
        kind="student_absences",
        person=student,
        first_session=sessions[0],
        last_session=sessions[2],
        length=3,
        opened_at=T0,
    )
    AttendanceStreak.objects.create(
        key="tutor_no_shows:x:1",
        kind="tutor_no_shows",
        person=tutor,
        first_session=sessions[0],
        last_session=sessions[0],
        length=1,
        opened_at=T0,
        closed_at=T0 + timedelta(days=1),
    )
    client.force_login(staff)
    html = client.get("/reports/streaks/").content.decode()
    assert html.count('data-testid="streak-row"') == 1
    assert 'data-kind="student_absences"' in html
    assert f'href="/sessions/{sessions[2].pk}/"' in html


def test_report_page_agreement_counts_no_applied_suggestion(client, staff, history):
    UserFactory()  # noise
    client.force_login(staff)
    agreement = client.get("/reports/", MARCH).context["report"].agreement
    assert (agreement.decided, agreement.kept, agreement.applied) == (4, 3, 2)


def test_the_agreement_page_costs_the_same_queries_whatever_the_history(client, staff, tutor, student, history):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/reports/agreement/", MARCH).status_code == 200
        return len(captured)

    few = queries()
    other_tutor = UserFactory(username="another_tutor")
    for day in range(10):
        start = T0 + timedelta(days=day, hours=3)
        session = TutoringSessionFactory(
            tutor=other_tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
        )
        AttendanceChangeFactory(
            session=session,
            action="chose_status",
            suggestion={
                "tutor": {"status": "present", "confidence": 0.9},
                "student": {"status": "absent", "confidence": 0.97},
            },
        )
    assert queries() == few
