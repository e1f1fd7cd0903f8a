"""API tokens: issued by a management command or Django admin, stored only as a hash, revoked not deleted."""

import hashlib
import io
import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.conftest import T0

pytestmark = pytest.mark.django_db

STATUS = "/api/whiteboard/sessions/{}/connection-status"
KEY = re.compile(r"att_[A-Za-z0-9_-]{40,}")


def works(key: str, whiteboard_id: int) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get(STATUS.format(whiteboard_id)).status_code == 200


def issue_with_command(username: str, name: str = "x") -> str:
    out = io.StringIO()
    call_command("issue_token", username, "--name", name, stdout=out)
    return out.getvalue().strip()


def test_issue_token_prints_a_key_that_authenticates_as_the_user(tutor, session):
    key = issue_with_command("tina_tutor", name="lesson planner")

    assert KEY.fullmatch(key)
    assert works(key, session.whiteboard.pk)
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (tutor, "lesson planner")


def test_issue_token_for_an_unknown_user_is_a_command_error():
    with pytest.raises(CommandError, match="nobody"):
        issue_with_command("nobody")
    assert not ApiToken.objects.exists()


def test_each_issue_makes_a_new_key(tutor):
    assert issue_with_command("tina_tutor") != issue_with_command("tina_tutor")
    assert ApiToken.objects.count() == 2


def test_only_the_sha256_of_the_key_is_stored(tutor):
    key = issue_with_command("tina_tutor")

    row = ApiToken.objects.values().get()
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    secret_part = key[len(row["prefix"]) :]
    for column, value in row.items():
        assert key not in str(value), column
        assert secret_part not in str(value), column


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_issuing_in_admin_shows_the_key_once_on_its_own_page_never_in_a_cookie_or_log(
    admin_client, tutor, session, caplog
):
    with caplog.at_level("DEBUG"):
        response = admin_client.post("/admin/accounts/apitoken/add/", {"user": tutor.pk, "name": "from admin"})

    assert response.status_code == 200  # the page that issued it, not a redirect carrying it along
    keys = KEY.findall(response.content.decode())
    assert len(set(keys)) == 1
    key = keys[0]
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (tutor, "from admin")
    assert works(key, session.whiteboard.pk)
    # Not in any cookie (the signed messages cookie carried it before), the session, or a log record.
    for cookie in (*response.cookies.values(), *admin_client.cookies.values()):
        assert key not in cookie.value
        assert key[len(token.prefix) :] not in cookie.value
    assert key not in str(dict(admin_client.session))
    assert not [r for r in caplog.records if key in r.getMessage()]

    # Never again: not on the token's page, not in the list.
    for url in (f"/admin/accounts/apitoken/{token.pk}/change/", "/admin/accounts/apitoken/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert key not in page.content.decode()
        assert not [m for m in get_messages(page.wsgi_request) if key in str(m)]


def test_admin_names_the_new_token_by_its_prefix(admin_client, tutor):
    admin_client.post("/admin/accounts/apitoken/add/", {"user": tutor.pk, "name": "from admin"})

    token = ApiToken.objects.get()
    assert str(token) == f"from admin ({token.prefix}…)"
    assert LogEntry.objects.get().object_repr == str(token)


def test_a_token_expires_after_its_lifetime_and_admin_shows_when(admin_client, tutor, session, settings, clock):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    clock.at(T0)
    key = issue_with_command("tina_tutor")
    token = ApiToken.objects.get()
    assert token.expires_at == T0 + timedelta(days=30)
    assert "expires_at" in admin_client.get("/admin/accounts/apitoken/").context["cl"].list_display
    assert works(key, session.whiteboard.pk)

    clock.at(T0 + timedelta(days=30, seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get(STATUS.format(session.whiteboard.pk))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_lifetime_of_zero_days_means_never(settings, tutor):
    settings.API_TOKEN_LIFETIME_DAYS = 0
    issue_with_command("tina_tutor")
    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize("how", ["set_password", "password change page", "admin"])
def test_changing_the_password_revokes_every_token_of_that_user_only(how, tutor, other_tutor, staff, session):
    tutor.set_password("old-password-1234")
    tutor.save()
    mine = [issue_with_command("tina_tutor", name=f"t{i}") for i in range(2)]
    issue_with_command(other_tutor.username)
    assert all(works(key, session.whiteboard.pk) for key in mine)

    new = "a-brand-new-password-9876"
    if how == "set_password":
        tutor.set_password(new)
        tutor.save()
    elif how == "password change page":
        client = Client()
        client.force_login(tutor)
        response = client.post(
            "/accounts/password/change/",
            {"old_password": "old-password-1234", "new_password1": new, "new_password2": new},
        )
        assert response.status_code == 302
    else:
        client = Client()
        client.force_login(staff)
        response = client.post(
            f"/admin/auth/user/{tutor.pk}/password/",
            {"password1": new, "password2": new, "usable_password": "true"},
        )
        assert response.status_code == 302

    assert not any(works(key, session.whiteboard.pk) for key in mine)
    assert ApiToken.objects.filter(user=tutor, revoked_at__isnull=True).count() == 0
    assert ApiToken.objects.filter(user=tutor).count() == 2  # revoked, kept
    other_tutor.refresh_from_db()
    assert ApiToken.objects.filter(user=other_tutor, revoked_at__isnull=True).count() == 1


def test_saving_a_user_without_a_new_password_keeps_their_tokens(tutor, session):
    key = issue_with_command("tina_tutor")
    tutor.first_name = "Tina"
    tutor.save()
    assert works(key, session.whiteboard.pk)


def test_the_admin_add_form_asks_only_for_user_and_name(admin_client):
    form = admin_client.get("/admin/accounts/apitoken/add/").context["adminform"].form
    assert set(form.fields) == {"user", "name"}


def test_tokens_cannot_be_deleted_in_admin(admin_client, tutor):
    issue_with_command("tina_tutor")
    token = ApiToken.objects.get()

    assert admin_client.get(f"/admin/accounts/apitoken/{token.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/accounts/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = admin_client.get("/admin/accounts/apitoken/")
    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)
    response = admin_client.post(
        "/admin/accounts/apitoken/", {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_revoke_action_stops_the_token_at_once(admin_client, tutor, session):
    key = issue_with_command("tina_tutor")
    token = ApiToken.objects.get()
    assert works(key, session.whiteboard.pk)

    response = admin_client.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )

    assert response.status_code == 200
    assert any("Revoked 1" in str(m) for m in response.context["messages"])
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_at <= timezone.now()
    assert not works(key, session.whiteboard.pk)
    assert ApiToken.objects.filter(pk=token.pk).exists()  # the record of who had access remains


def test_revoking_twice_keeps_the_first_revocation_time(admin_client, tutor):
    issue_with_command("tina_tutor")
    token = ApiToken.objects.get()
    admin_client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    first = ApiToken.objects.get().revoked_at

    admin_client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})

    assert ApiToken.objects.get().revoked_at == first
