"""Which changes make which deliveries (issue 18): made inside the change's transaction, queued on commit."""

import uuid
from datetime import timedelta

import pytest
from django.db import transaction

from attendance.models import AttendanceChange, AttendanceSource
from attendance.services import attendance_finalize, attendance_mark, attendance_mark_by_hand
from families.services import absence_report, absence_withdraw
from tests.conftest import T0
from tests.webhooks.conftest import END
from tests.whiteboard.helpers import presence_trace
from webhooks.events import change_event_type
from webhooks.models import WebhookDelivery
from whiteboard.services import presence_connect, presence_disconnect, presence_heartbeat, presence_sweep

pytestmark = pytest.mark.django_db


def only_delivery() -> WebhookDelivery:
    [delivery] = WebhookDelivery.objects.all()
    return delivery


def test_a_tutors_mark_makes_an_attendance_marked_delivery_queued_on_commit(
    session, tutor, student, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint()
    with django_capture_on_commit_callbacks() as callbacks:
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=END)
        assert WebhookDelivery.objects.count() == 1  # made inside the transaction, with the change

    delivery = only_delivery()
    change = AttendanceChange.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.status) == (endpoint, "attendance.marked", "pending")
    assert delivery.webhook_id.startswith("msg_") and delivery.event_id.startswith("evt_")
    assert delivery.next_attempt_at == END
    assert delivery.payload == {
        "type": "attendance.marked",
        "timestamp": "2026-03-10T15:00:00Z",
        "data": {
            "event_id": delivery.event_id,
            "schema_version": 1,
            "session_id": session.pk,
            "tutor_id": tutor.pk,
            "student_id": student.pk,
            "change_id": change.pk,
            "kind": "mark",
            "tutor_status": "present",
            "student_status": "absent",
            "source": "manual",
            "previous": {"tutor_status": "present", "student_status": "present", "source": "system_default"},
            "actor_id": tutor.pk,
            "changed_at": "2026-03-10T15:00:00Z",
        },
    }
    assert len(callbacks) >= 1  # the delivery's queueing waits for the commit


def test_an_admin_override_is_attendance_overridden(session, staff, make_endpoint, django_capture_on_commit_callbacks):
    make_endpoint()
    with django_capture_on_commit_callbacks():
        attendance_mark_by_hand(
            session=session, by=staff, tutor_status=None, student_status="absent", notes="Phoned", now=END
        )
    delivery = only_delivery()
    assert delivery.event_type == "attendance.overridden"
    assert (delivery.payload["data"]["source"], delivery.payload["data"]["actor_id"]) == ("admin_override", staff.pk)


def test_the_finalising_job_is_attendance_finalized(
    session, tutor, student, make_endpoint, django_capture_on_commit_callbacks
):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    make_endpoint(events=["attendance.finalized", "attendance.marked"])
    with django_capture_on_commit_callbacks():
        report = attendance_finalize(now=END + timedelta(hours=1))
    assert report.applied == 1
    delivery = only_delivery()
    assert delivery.event_type == "attendance.finalized"
    data = delivery.payload["data"]
    assert (data["source"], data["actor_id"], data["student_status"]) == ("whiteboard_auto", None, "late")


def test_a_parents_report_is_absence_reported_and_its_withdrawal_attendance_marked(
    session, parent, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint()
    before = T0 - timedelta(hours=3)
    with django_capture_on_commit_callbacks():
        absence_report(session=session, parent=parent, reason="Dentist (private)", now=before)
        absence_withdraw(session=session, parent=parent, now=before + timedelta(minutes=5))
    reported, withdrawn = WebhookDelivery.objects.order_by("id")
    assert reported.event_type == "absence.reported"
    assert reported.payload["data"]["student_status"] == "excused"
    assert reported.payload["data"]["actor_id"] == parent.pk
    assert "Dentist" not in str(reported.payload)  # what people type is not sent
    assert withdrawn.event_type == "attendance.marked"
    assert withdrawn.payload["data"]["source"] == "system_default"


def test_a_rolled_back_change_makes_no_delivery_and_queues_nothing(
    session, tutor, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint()
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=END)
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("something after the mark failed")

    assert callbacks == []
    assert not WebhookDelivery.objects.exists()


def test_only_enabled_endpoints_subscribed_to_the_event_get_a_delivery(
    session, tutor, make_endpoint, django_capture_on_commit_callbacks
):
    wants = make_endpoint(url="http://127.0.0.1:9/a", events=["attendance.marked"])
    also = make_endpoint(url="http://127.0.0.1:9/b")
    make_endpoint(url="http://127.0.0.1:9/c", events=["presence.joined"])
    make_endpoint(url="http://127.0.0.1:9/d", enabled=False, disabled_at=T0)
    with django_capture_on_commit_callbacks():
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=END)
    deliveries = list(WebhookDelivery.objects.order_by("endpoint_id"))
    assert [d.endpoint for d in deliveries] == [wants, also]
    assert deliveries[0].event_id == deliveries[1].event_id  # one event...
    assert deliveries[0].webhook_id != deliveries[1].webhook_id  # ...one message per endpoint


def test_no_endpoint_no_delivery_and_the_mark_stands(session, tutor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=END)
    assert not WebhookDelivery.objects.exists()
    assert AttendanceChange.objects.count() == 1


def test_a_failure_making_deliveries_costs_the_webhook_never_the_mark(
    session, tutor, make_endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    make_endpoint()

    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("webhooks.receivers.attendance_change_deliveries", broken)
    with django_capture_on_commit_callbacks():
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=END)
    assert AttendanceChange.objects.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_presence_joined_and_left_with_their_reasons(
    session, student, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(events=["presence.joined", "presence.left"])
    first, second = uuid.uuid4(), uuid.uuid4()
    board = session.whiteboard_id
    with django_capture_on_commit_callbacks():
        presence_connect(whiteboard_id=board, user=student, connection_id=first, now=T0)
        presence_connect(whiteboard_id=board, user=student, connection_id=second, now=T0 + timedelta(seconds=5))
        presence_disconnect(whiteboard_id=board, user=student, connection_id=first, now=T0 + timedelta(seconds=10))
        presence_disconnect(whiteboard_id=board, user=student, connection_id=second, now=T0 + timedelta(seconds=20))

    joined, left = WebhookDelivery.objects.order_by("id")  # a second tab is not a second arrival
    assert joined.payload == {
        "type": "presence.joined",
        "timestamp": "2026-03-10T14:00:00Z",
        "data": {
            "event_id": joined.event_id,
            "schema_version": 1,
            "session_id": session.pk,
            "whiteboard_id": board,
            "role": "student",
            "user_id": student.pk,
            "reason": "connect",
            "at": "2026-03-10T14:00:00Z",
        },
    }
    assert left.event_type == "presence.left"
    assert (left.payload["data"]["reason"], left.payload["data"]["at"]) == ("disconnect", "2026-03-10T14:00:20Z")


def test_a_timeout_found_by_the_sweep_is_presence_left_at_the_last_signal(
    session, tutor, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(events=["presence.left"])
    connection_id = uuid.uuid4()
    with django_capture_on_commit_callbacks():
        presence_connect(whiteboard_id=session.whiteboard_id, user=tutor, connection_id=connection_id, now=T0)
        presence_heartbeat(
            whiteboard_id=session.whiteboard_id,
            user=tutor,
            connection_id=connection_id,
            visibility="visible",
            now=T0 + timedelta(seconds=15),
        )
        presence_sweep(now=T0 + timedelta(minutes=5))
    left = only_delivery()
    assert (left.payload["data"]["role"], left.payload["data"]["reason"]) == ("tutor", "timeout")
    assert left.payload["data"]["at"] == "2026-03-10T14:00:15Z"


def test_coming_back_after_an_unswept_timeout_is_left_then_joined(
    session, student, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(events=["presence.joined", "presence.left"])
    with django_capture_on_commit_callbacks():
        presence_connect(whiteboard_id=session.whiteboard_id, user=student, connection_id=uuid.uuid4(), now=T0)
        back = T0 + timedelta(minutes=10)  # the first tab went silent; nobody swept it
        presence_connect(whiteboard_id=session.whiteboard_id, user=student, connection_id=uuid.uuid4(), now=back)
    events = [
        (d.event_type, d.payload["data"]["reason"], d.payload["data"]["at"])
        for d in WebhookDelivery.objects.order_by("id")
    ]
    assert events == [
        ("presence.joined", "connect", "2026-03-10T14:00:00Z"),
        ("presence.left", "timeout", "2026-03-10T14:00:00Z"),
        ("presence.joined", "connect", "2026-03-10T14:10:00Z"),
    ]


@pytest.mark.parametrize(
    ("event", "source", "by_system", "expected"),
    [
        ("mark", "manual", False, "attendance.marked"),
        ("mark", "whiteboard_auto", False, "attendance.marked"),  # a tutor accepting the suggestion
        ("mark", "whiteboard_auto", True, "attendance.finalized"),
        ("mark", "admin_override", False, "attendance.overridden"),
        ("mark", "parent_reported", False, "absence.reported"),
        ("mark", "system_default", False, "attendance.marked"),  # a parent's withdrawal
        ("cancel", "manual", False, "attendance.marked"),
        ("reschedule", "manual", False, None),
    ],
)
def test_event_type_of_each_kind_of_change(event, source, by_system, expected):
    change = AttendanceChange(event=event, source=source, actor_id=None if by_system else 1)
    assert change_event_type(change) == expected


def test_the_system_marking_through_the_service_is_finalized(
    session, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint()
    with django_capture_on_commit_callbacks():
        attendance_mark(
            session=session, by=None, source=AttendanceSource.WHITEBOARD_AUTO, student_status="absent", now=END
        )
    assert only_delivery().event_type == "attendance.finalized"


def test_a_change_nobody_subscribed_to_asks_the_database_nothing_about_webhooks(
    session, student, make_endpoint, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_endpoint(events=["attendance.marked"])  # subscribed, but not to presence
    presence_connect(whiteboard_id=session.whiteboard_id, user=student, connection_id=uuid.uuid4(), now=T0)  # warms
    open_id = _open_connection(session)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks():
        presence_disconnect(
            whiteboard_id=session.whiteboard_id,
            user=student,
            connection_id=open_id,
            now=T0 + timedelta(seconds=10),
        )
    assert not [q["sql"] for q in queries.captured_queries if "webhook" in q["sql"]]
    assert not WebhookDelivery.objects.exists()


def _open_connection(session):
    return session.whiteboard.connections.get(closed_at__isnull=True).connection_id


def test_an_endpoint_saved_is_subscribed_at_once(session, tutor, make_endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=END)
    make_endpoint()  # after the subscriptions were cached (empty)
    with django_capture_on_commit_callbacks():
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=END)
    assert only_delivery().payload["data"]["student_status"] == "absent"
