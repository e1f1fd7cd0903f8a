"""Parents' pages (issue #6), with Django's test client."""

from datetime import timedelta

import pytest
from django.test import Client

from attendance.models import AttendanceChange, TutoringSession
from attendance.services import attendance_mark_by_hand
from families.models import Guardian
from families.services import absence_report
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory

pytestmark = pytest.mark.django_db

BEFORE = T0 - timedelta(hours=2)
END = T0 + timedelta(hours=1)


def browser(user=None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def state(session) -> tuple:
    session.refresh_from_db()
    return session.student_attendance_status, session.attendance_source


@pytest.fixture
def before_start(clock):
    return clock.at(BEFORE)


def test_a_parent_landing_on_home_gets_the_family_page(parent, session, before_start):
    response = browser(parent).get("/")
    assert (response.status_code, response.url) == (302, "/family/")


def test_a_parent_who_also_tutors_keeps_the_dashboard(parent, student, before_start):
    TutoringSessionFactory(tutor=parent, student=student)
    assert browser(parent).get("/").templates[0].name == "attendance/dashboard.html"


def test_a_parent_with_two_children_sees_both_and_only_theirs(
    parent, session, other_session, other_student, tutor, before_start
):
    someone_elses = TutoringSessionFactory(tutor=tutor, title="Not theirs", scheduled_start=T0, scheduled_end=END)
    GuardianFactory(user=parent, children=[other_student])

    page = browser(parent).get("/family/")

    children = [family["child"] for family in page.context["families"]]
    assert children == [other_student, session.student] or children == [session.student, other_student]
    html = page.content.decode()
    assert html.count('data-testid="child"') == 2
    assert f'data-session-id="{session.pk}"' in html
    assert f'data-session-id="{other_session.pk}"' in html
    assert f'data-session-id="{someone_elses.pk}"' not in html
    assert "Not theirs" not in html


def test_family_page_shows_upcoming_with_a_report_button_and_past_with_attendance(
    parent, session, tutor, student, before_start
):
    past = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        title="Last week's algebra",
        scheduled_start=T0 - timedelta(days=7),
        scheduled_end=END - timedelta(days=7),
    )
    attendance_mark_by_hand(
        session=past, by=tutor, tutor_status=None, student_status="late", now=END - timedelta(days=7)
    )

    page = browser(parent).get("/family/")

    [family] = page.context["families"]
    assert [c["session"] for c in family["upcoming"]] == [session]
    assert [c["session"] for c in family["past"]] == [past]
    assert family["upcoming"][0]["can_report"]
    html = page.content.decode()
    assert "Report absence" in html
    assert 'data-status="late"' in html
    assert ">tutor<" in html
    assert 'href="/family/"' in html and ">Family<" in html  # the nav link, for parents


def test_parent_reports_an_absence_post_redirect_get(parent, session, before_start):
    client = browser(parent)
    assert "report-form" in client.get(f"/family/sessions/{session.pk}/").content.decode()

    response = client.post(f"/family/sessions/{session.pk}/report", {"reason": "Ill with a cold"})

    assert (response.status_code, response.url) == (302, "/family/")
    assert state(session) == ("excused", "parent_reported")
    page = client.get("/family/")
    html = page.content.decode()
    assert "Absence reported" in html
    assert 'data-status="excused"' in html
    assert "Withdraw report" in html


def test_report_without_a_reason_is_a_form_error(parent, session, before_start):
    response = browser(parent).post(f"/family/sessions/{session.pk}/report", {"reason": "  "})

    assert response.status_code == 400
    assert "Please say why your child will miss the session." in response.content.decode()
    assert state(session) == ("present", "system_default")


def test_report_after_the_start_is_a_clear_form_error(parent, session, clock):
    clock.at(T0 + timedelta(minutes=1))
    client = browser(parent)
    page = client.get(f"/family/sessions/{session.pk}/").content.decode()
    assert "report-form" not in page
    assert "The session has started" in page

    response = client.post(f"/family/sessions/{session.pk}/report", {"reason": "Ill"})

    assert response.status_code == 400
    assert "The session has started" in response.content.decode()
    assert not AttendanceChange.objects.exists()


def test_a_form_opened_before_the_start_and_sent_after_it_is_refused(parent, session, clock):
    clock.at(T0 - timedelta(minutes=1))
    client = browser(parent)
    assert "report-form" in client.get(f"/family/sessions/{session.pk}/").content.decode()
    clock.at(T0)
    response = client.post(f"/family/sessions/{session.pk}/report", {"reason": "Ill"})
    assert response.status_code == 400
    assert "The session has started" in response.content.decode()


def test_parent_withdraws_the_report(parent, session, before_start):
    absence_report(session=session, parent=parent, reason="Ill", now=BEFORE)
    client = browser(parent)
    assert "withdraw-form" in client.get(f"/family/sessions/{session.pk}/").content.decode()

    response = client.post(f"/family/sessions/{session.pk}/withdraw")

    assert (response.status_code, response.url) == (302, "/family/")
    assert state(session) == ("present", "system_default")
    assert "Report withdrawn" in client.get("/family/").content.decode()


def test_withdraw_after_the_start_is_refused_with_a_message(parent, session, clock):
    absence_report(session=session, parent=parent, reason="Ill", now=BEFORE)
    clock.at(T0)

    response = browser(parent).post(f"/family/sessions/{session.pk}/withdraw")

    assert response.status_code == 400
    assert "The session has started" in response.content.decode()
    assert state(session) == ("excused", "parent_reported")


def test_a_tutors_mark_cannot_be_overridden_from_the_page(parent, session, tutor, clock):
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="present", now=T0)
    TutoringSession.objects.filter(pk=session.pk).update(
        scheduled_start=T0 + timedelta(days=1), scheduled_end=END + timedelta(days=1)
    )
    clock.at(T0 + timedelta(hours=2))
    client = browser(parent)
    page = client.get(f"/family/sessions/{session.pk}/").content.decode()
    assert "report-form" not in page
    assert "tutor has already marked attendance" in page

    response = client.post(f"/family/sessions/{session.pk}/report", {"reason": "Ill"})

    assert response.status_code == 400
    assert "tutor has already marked attendance" in response.content.decode()
    assert state(session) == ("present", "manual")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/family/sessions/{s}/"),
        ("post", "/family/sessions/{s}/report"),
        ("post", "/family/sessions/{s}/withdraw"),
    ],
)
def test_another_childs_session_is_404_on_every_parent_url(parent, other_session, session, method, path, before_start):
    url = path.format(s=other_session.pk)
    response = getattr(browser(parent), method)(url, {"reason": "Ill"})
    missing = getattr(browser(parent), method)(path.format(s=999999), {"reason": "Ill"})
    assert response.status_code == missing.status_code == 404
    assert state(other_session) == ("present", "system_default")


@pytest.mark.parametrize("who", ["student", "tutor", "other_tutor", "staff"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/family/"),
        ("post", "/family/notifications"),
        ("get", "/family/sessions/{s}/"),
        ("post", "/family/sessions/{s}/report"),
        ("post", "/family/sessions/{s}/withdraw"),
    ],
)
def test_nobody_but_parents_sees_the_parent_pages(request, who, method, path, session, parent, before_start):
    response = getattr(browser(request.getfixturevalue(who)), method)(path.format(s=session.pk), {"reason": "x"})
    assert response.status_code == 404
    assert state(session) == ("present", "system_default")


def test_anonymous_is_sent_to_sign_in(session):
    response = browser().get("/family/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_nav_link_is_shown_to_parents_only(tutor, session, parent, before_start):
    assert ">Family<" not in browser(tutor).get("/").content.decode()
    assert ">Family<" in browser(parent).get("/family/").content.decode()


def test_parent_turns_emails_off_and_on(parent, before_start):
    client = browser(parent)
    assert 'id="id_notify_absent_or_late" checked' in client.get("/family/").content.decode()

    response = client.post("/family/notifications", {})
    assert (response.status_code, response.url) == (302, "/family/")
    assert not Guardian.objects.get(user=parent).notify_absent_or_late
    assert "no longer get e-mails" in client.get("/family/").content.decode()

    client.post("/family/notifications", {"notify_absent_or_late": "on"})
    assert Guardian.objects.get(user=parent).notify_absent_or_late


def test_a_parent_with_no_children_linked_is_told_so(before_start, db):
    from tests.factories import UserFactory

    lonely = UserFactory()
    GuardianFactory(user=lonely)
    assert "No children are linked" in browser(lonely).get("/family/").content.decode()
