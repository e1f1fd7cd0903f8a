"""The read side's rules: who may see a whiteboard (one rule, two modes for two doors), and whose role is whose."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.urls import reverse

from tests.factories import WhiteboardSessionFactory
from whiteboard.models import PRESENCE_COLUMNS, Role, WhiteboardSession
from whiteboard.selectors import participant_role, whiteboard_for_user

pytestmark = pytest.mark.django_db

MODES = [True, False]


@pytest.mark.parametrize("staff_may_read", MODES)
@pytest.mark.parametrize("persona", ["tutor", "student"])
def test_both_participants_get_their_whiteboard_in_either_mode(request, session, persona, staff_may_read):
    user = request.getfixturevalue(persona)
    found = whiteboard_for_user(user=user, whiteboard_id=session.whiteboard_id, staff_may_read=staff_may_read)
    assert found.pk == session.whiteboard_id
    assert found.tutoring_session == session


def test_staff_get_the_whiteboard_only_where_staff_may_read(session, staff):
    assert whiteboard_for_user(user=staff, whiteboard_id=session.whiteboard_id, staff_may_read=True).pk == (
        session.whiteboard_id
    )
    with pytest.raises(Http404):
        whiteboard_for_user(user=staff, whiteboard_id=session.whiteboard_id, staff_may_read=False)


@pytest.mark.parametrize("staff_may_read", MODES)
@pytest.mark.parametrize("persona", ["other_tutor", "other_student"])
def test_an_outsider_gets_404_in_either_mode(request, session, persona, staff_may_read):
    with pytest.raises(Http404):
        whiteboard_for_user(
            user=request.getfixturevalue(persona), whiteboard_id=session.whiteboard_id, staff_may_read=staff_may_read
        )


@pytest.mark.parametrize("staff_may_read", MODES)
def test_an_anonymous_user_is_not_taken_for_the_participant_of_a_whiteboard_with_no_session(staff_may_read):
    # Its id is None, and "tutor id is None" is true of a whiteboard no session uses.
    orphan = WhiteboardSessionFactory()
    with pytest.raises(Http404):
        whiteboard_for_user(user=AnonymousUser(), whiteboard_id=orphan.pk, staff_may_read=staff_may_read)


def test_a_whiteboard_with_no_session_is_staff_readable_only(tutor, staff):
    orphan = WhiteboardSessionFactory()
    assert whiteboard_for_user(user=staff, whiteboard_id=orphan.pk, staff_may_read=True).pk == orphan.pk
    with pytest.raises(Http404):
        whiteboard_for_user(user=tutor, whiteboard_id=orphan.pk, staff_may_read=True)


def test_the_two_doors_apply_the_two_modes(client, api, session, staff, other_student):
    """Staff: the API's connection-status yes, the page (which would record them as present) no. Outsiders: neither."""
    status_url = reverse("whiteboard-api:connection-status", args=[session.whiteboard_id])
    page_url = reverse("whiteboard:page", args=[session.whiteboard_id])
    assert api(staff).get(status_url).status_code == 200
    client.force_login(staff)
    assert client.get(page_url).status_code == 404
    assert api(other_student).get(status_url).status_code == 404
    client.force_login(other_student)
    assert client.get(page_url).status_code == 404


def test_the_role_comes_from_the_session(session, tutor, student):
    assert participant_role(session=session, user=tutor) == Role.TUTOR
    assert participant_role(session=session, user=student) == Role.STUDENT


def test_the_presence_columns_name_every_participant_column_of_the_whiteboard_once():
    model_columns = {
        field.name for field in WhiteboardSession._meta.get_fields() if field.name.startswith(("tutor_", "student_"))
    }
    named = [column for columns in PRESENCE_COLUMNS.values() for column in vars(columns).values()]
    assert sorted(named) == sorted(model_columns)
    for role, columns in PRESENCE_COLUMNS.items():
        assert all(column.startswith(f"{role}_") for column in vars(columns).values()), role
