"""Sign-in throttling (issue 14): per username and per address, 429 with Retry-After, before any hashing;
the password change and reset flows are throttled too."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client

from tests.conftest import T0

pytestmark = pytest.mark.django_db
from tests.accounts.test_ratelimit import redis_cache  # noqa: E402, F401 - the fixture

PASSWORD = "pass-for-tests-123"  # tests.factories.UserFactory's


class CountingHasher(MD5PasswordHasher):
    """The tests' MD5 hasher, counting every hash it computes (verify and encode alike)."""

    calls = 0

    def encode(self, password, salt):
        CountingHasher.calls += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.calls = 0
    return CountingHasher


@pytest.fixture
def limits(settings, clock):
    settings.THROTTLE_SIGNIN_USERNAME = "3/15min"
    settings.THROTTLE_SIGNIN_IP = "5/15min"
    clock.at(T0)  # 14:00: a 15-minute window starts
    return clock


def sign_in(username, password="wrong", *, path="/accounts/login/", ip="10.0.0.1"):
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_for_one_username_get_429_with_retry_after_before_any_hashing(
    path, limits, staff, counting_hasher
):
    for _ in range(3):
        assert sign_in(staff.username, path=path).status_code == 200  # the form, with its error
    hashed = counting_hasher.calls
    assert hashed >= 3

    refused = sign_in(staff.username, PASSWORD, path=path)  # even the right password, from elsewhere too
    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    assert "Too many attempts" in refused.content.decode()
    assert sign_in(staff.username, PASSWORD, path=path, ip="10.9.9.9").status_code == 429
    assert counting_hasher.calls == hashed  # refused before the password was hashed

    limits.advance(900)  # the next window
    assert sign_in(staff.username, PASSWORD, path=path).status_code == 302


def test_many_usernames_from_one_address_are_throttled_per_address(limits, counting_hasher):
    for i in range(5):
        assert sign_in(f"nobody{i}").status_code == 200
    hashed = counting_hasher.calls
    response = sign_in("nobody-else")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 900
    assert counting_hasher.calls == hashed
    assert sign_in("nobody-else", ip="10.0.0.2").status_code == 200  # another address is not affected


def test_successful_sign_ins_do_not_count(limits, tutor):
    for _ in range(10):
        assert sign_in(tutor.username, PASSWORD).status_code == 302


def test_the_throttle_is_shared_by_the_login_page_and_admin_and_ignores_case(limits, tutor):
    sign_in(tutor.username)
    sign_in(tutor.username.upper(), path="/admin/login/")
    sign_in(tutor.username)
    assert sign_in(tutor.username, path="/admin/login/").status_code == 429


def test_a_password_change_with_wrong_current_passwords_is_throttled(limits, tutor, counting_hasher):
    client = Client(REMOTE_ADDR="10.0.0.1")
    client.force_login(tutor)
    attempt = {"old_password": "wrong", "new_password1": "n3w-password-xyz", "new_password2": "n3w-password-xyz"}
    for _ in range(3):
        assert client.post("/accounts/password/change/", attempt).status_code == 200
    hashed = counting_hasher.calls
    response = client.post("/accounts/password/change/", {**attempt, "old_password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert counting_hasher.calls == hashed
    tutor.refresh_from_db()
    assert tutor.check_password(PASSWORD)


def test_password_change_page_changes_it_and_keeps_the_person_signed_in(tutor):
    client = Client()
    client.force_login(tutor)
    page = client.get("/accounts/password/change/")
    assert page.status_code == 200
    assert 'class="card auth-card"' in page.content.decode()  # styled like the sign-in page
    response = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": "n3w-password-xyz", "new_password2": "n3w-password-xyz"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/accounts/password/change/done/"
    assert "Password changed" in response.content.decode()
    assert client.get("/accounts/settings/").status_code == 200
    tutor.refresh_from_db()
    assert tutor.check_password("n3w-password-xyz")


def _reset_link() -> str:
    (message,) = mail.outbox
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body).group(1)


def test_password_reset_by_email_sets_a_new_password_once(tutor, clock):
    clock.at(T0)
    tutor.email = "tina@example.com"
    tutor.save()
    client = Client()
    page = client.get("/accounts/password/reset/")
    assert 'class="card auth-card"' in page.content.decode()
    response = client.post("/accounts/password/reset/", {"email": "tina@example.com"})
    assert response["Location"] == "/accounts/password/reset/sent/"
    link = _reset_link()

    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "n3w-password-xyz", "new_password2": "n3w-password-xyz"}
    )
    assert done["Location"] == "/accounts/password/reset/done/"
    tutor.refresh_from_db()
    assert tutor.check_password("n3w-password-xyz")
    assert "no longer works" in Client().get(link, follow=True).content.decode()  # used once


def test_a_password_reset_link_expires(tutor, clock, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    clock.at(T0)
    tutor.email = "tina@example.com"
    tutor.save()
    Client().post("/accounts/password/reset/", {"email": "tina@example.com"})
    link = _reset_link()
    clock.advance(3601)
    page = Client().get(link, follow=True)
    assert "no longer works" in page.content.decode()
    assert "new_password1" not in page.content.decode()


def test_password_reset_requests_are_throttled_per_address(tutor, clock, settings):
    settings.THROTTLE_PASSWORD_RESET_EMAIL = "2/h"
    clock.at(T0)
    tutor.email = "tina@example.com"
    tutor.save()
    for _ in range(2):
        assert Client().post("/accounts/password/reset/", {"email": "tina@example.com"}).status_code == 302
    response = Client().post("/accounts/password/reset/", {"email": "TINA@example.com"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert len(mail.outbox) == 2
    clock.advance(timedelta(hours=1).total_seconds())
    assert Client().post("/accounts/password/reset/", {"email": "tina@example.com"}).status_code == 302


@pytest.mark.parametrize("cache", ["local memory", "redis"])
def test_whether_every_hashing_place_is_taken_is_read_without_taking_one(cache, request, settings):
    from accounts.signin import signin_check, signin_slot

    if cache == "redis":
        request.getfixturevalue("redis_cache")
    addresses = iter(range(100))

    def full():  # the entry points' gates' look, from a new address each time (each look counts an attempt)
        return signin_check(username=None, ip=f"10.0.9.{next(addresses)}", slots=True).busy

    settings.SIGNIN_CONCURRENT_HASHES = 2
    assert not full()
    with signin_slot() as first:
        assert first and not full()
        with signin_slot() as second:
            assert second and full()
            assert full()  # looking took nothing
        assert not full()
    settings.SIGNIN_CONCURRENT_HASHES = 0  # no cap
    assert not full()


@pytest.mark.parametrize("cache", ["local memory", "redis"])
def test_only_so_many_sign_ins_hash_at_once_and_the_rest_are_told_to_retry(cache, request, tutor, settings):
    from accounts.signin import signin_slot

    if cache == "redis":
        request.getfixturevalue("redis_cache")
    settings.SIGNIN_CONCURRENT_HASHES = 2
    with signin_slot() as first, signin_slot() as second:
        assert first and second
        with signin_slot() as third:
            assert not third
        # Meanwhile a sign-in attempt is refused before anything is hashed: 429, retry in a second.
        response = sign_in(tutor.username, PASSWORD)
        assert response.status_code == 429
        assert response["Retry-After"] == "1"
        assert "try again in a moment" in response.content.decode()
    with signin_slot() as again:
        assert again  # places are given back
    assert sign_in(tutor.username, PASSWORD).status_code == 302


def _wsgi_post(path, form: dict, ip="10.0.0.7"):
    """POST through the production entry point (config.wsgi.application), as gunicorn calls it."""
    import io
    import urllib.parse
    from wsgiref.util import setup_testing_defaults

    from config.wsgi import application

    body = urllib.parse.urlencode(form).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "REMOTE_ADDR": ip,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_HOST": "testserver",
    }
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    answer["body"] = b"".join(application(environ, start_response))
    return answer


def test_the_production_entry_point_refuses_a_flood_before_django_and_before_hashing(limits, settings, counting_hasher):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "4/min"
    answers = [_wsgi_post("/accounts/login/", {"username": f"guess{i}", "password": "x"}) for i in range(6)]
    # The first four reach Django (403: this raw POST carries no CSRF token); then the address is refused.
    assert [a["status"] for a in answers] == [403, 403, 403, 403, 429, 429]
    assert answers[-1]["headers"]["Retry-After"] == "60"  # the minute's window started with the test
    assert "Too many attempts" in answers[-1]["body"].decode()
    assert "default-src 'none'" in answers[-1]["headers"]["Content-Security-Policy"]
    assert counting_hasher.calls == 0
    assert _wsgi_post("/accounts/login/", {"username": "x", "password": "x"}, ip="10.0.0.8")["status"] == 403


def test_the_entry_point_hands_the_form_on_to_django_intact(limits, tutor, settings):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "100/min"
    # The raw POST carries no CSRF token: Django's own CSRF answer proves the request got there whole.
    answer = _wsgi_post("/accounts/login/", {"username": tutor.username, "password": PASSWORD})
    assert answer["status"] == 403
    assert "CSRF" in answer["body"].decode()


@pytest.fixture(autouse=True)
def refusal_pauses(monkeypatch):
    """The ASGI gate's waits before a refusal, recorded instead of slept."""
    waited = []

    async def pause(seconds):
        waited.append(seconds)

    monkeypatch.setattr("accounts.signin_gate._pause", pause)
    return waited


def _asgi_post(path, form: dict, ip="10.0.0.7", *, chunks=1):
    """POST through the production ASGI entry point (config.asgi.application), as uvicorn calls it:
    the body in `chunks` messages. (status, headers, body, Django requests started on the way)."""
    import asyncio
    import urllib.parse

    from django.core.signals import request_started

    from config.asgi import application

    body = urllib.parse.urlencode(form).encode()
    size = -(-len(body) // chunks)
    messages = [
        {"type": "http.request", "body": body[i : i + size], "more_body": i + size < len(body)}
        for i in range(0, len(body), size)
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            *([(b"content-length", str(len(body)).encode())] if chunks == 1 else []),
        ],
        "client": (ip, 50000),
        "server": ("testserver", 80),
    }
    sent, started = [], []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays until answered (Django stops at a disconnect)

    async def send(message):
        sent.append(message)

    def count(**kwargs):
        started.append(1)

    request_started.connect(count)
    try:
        asyncio.run(application(scope, receive, send))
    finally:
        request_started.disconnect(count)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {
        "status": start["status"],
        "headers": {k.decode().title(): v.decode() for k, v in start["headers"]},  # ASGI names are lower case
        "body": b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        "django": len(started),
    }


def test_the_asgi_entry_point_refuses_a_flood_before_django_and_before_hashing(
    limits, settings, counting_hasher, refusal_pauses
):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "4/min"
    settings.SIGNIN_REFUSAL_DELAY = 1.5
    answers = [_asgi_post("/accounts/login/", {"username": f"guess{i}", "password": "x"}) for i in range(6)]
    # The first four reach Django (403: this raw POST carries no CSRF token); then the address is refused
    # by the gate, without Django starting a request at all, each refusal sent after its pause.
    assert [(a["status"], a["django"]) for a in answers] == [(403, 1)] * 4 + [(429, 0)] * 2
    assert len(refusal_pauses) == 2 and all(0.75 <= pause <= 2.25 for pause in refusal_pauses)
    assert answers[-1]["headers"]["Retry-After"] == "60"
    assert "Too many attempts" in answers[-1]["body"].decode()
    assert "default-src 'none'" in answers[-1]["headers"]["Content-Security-Policy"]
    assert counting_hasher.calls == 0
    assert _asgi_post("/admin/login/", {"username": "x", "password": "x"})["status"] == 429  # one count for both
    assert _asgi_post("/accounts/login/", {"username": "x", "password": "x"}, ip="10.0.0.8")["status"] == 403
    assert _asgi_post("/accounts/logout/", {"username": "x"})["django"] == 1  # other paths go straight on


def test_the_asgi_gate_refuses_a_throttled_username_read_from_a_form_sent_in_pieces(limits, settings, tutor):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "100/min"
    from accounts.signin import signin_failure_record

    for _ in range(3):  # limits: 3 failures per username
        signin_failure_record(username=tutor.username, ip="10.0.0.99")
    answer = _asgi_post("/accounts/login/", {"username": tutor.username, "password": PASSWORD}, chunks=3)
    assert (answer["status"], answer["django"]) == (429, 0)
    assert answer["headers"]["Retry-After"] == "900"


def test_a_refusal_waits_no_longer_than_its_retry_after(limits, settings, refusal_pauses):
    from accounts.signin import signin_failure_record

    settings.SIGNIN_REFUSAL_DELAY = 5
    limits.advance(898)  # 2 s before the failures' 15-minute window ends
    for _ in range(3):  # limits: 3 failures per username
        signin_failure_record(username="a", ip="10.0.0.99")
    assert _asgi_post("/accounts/login/", {"username": "a", "password": "x"})["headers"]["Retry-After"] == "2"
    assert refusal_pauses == [2]


def test_the_asgi_gate_hands_the_form_on_to_django_intact_and_counts_it_once(limits, tutor, settings):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "2/min"
    # The raw POST carries no CSRF token: Django's own CSRF answer proves the request got there whole.
    for _ in range(2):  # counted by the gate only: the middleware does not count it again
        answer = _asgi_post("/accounts/login/", {"username": tutor.username, "password": PASSWORD}, chunks=2)
        assert (answer["status"], answer["django"]) == (403, 1)
        assert "CSRF" in answer["body"].decode()
    assert _asgi_post("/accounts/login/", {"username": tutor.username, "password": PASSWORD})["status"] == 429


def test_the_hashing_cap_holds_under_asgi_where_sync_views_run_in_threads(limits, settings, tutor, counting_hasher):
    """While every place for checking a password is taken, the gate refuses the attempt itself (Django's
    middleware would only find the same): a flood's attempts under the address limits never reach Django."""
    from accounts.signin import signin_slot

    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "100/min"
    settings.SIGNIN_CONCURRENT_HASHES = 1
    hashed = counting_hasher.calls  # the tutor's own password, when made
    with signin_slot() as held:  # another request is hashing
        assert held
        answer = _asgi_post("/accounts/login/", {"username": tutor.username, "password": PASSWORD})
    # Refused at the gate, before Django: nothing hashed, retry in a second.
    assert (answer["status"], answer["django"], answer["headers"]["Retry-After"]) == (429, 0, "1")
    assert "try again in a moment" in answer["body"].decode()
    assert counting_hasher.calls == hashed
    assert _asgi_post("/accounts/login/", {"username": tutor.username, "password": PASSWORD})["status"] == 403  # CSRF


@pytest.mark.parametrize(("path", "most_at_once"), [("/accounts/login/", 1), ("/admin/login/", 1), ("/api/ping", 3)])
def test_the_asgi_gate_lets_sign_in_pages_into_django_a_few_at_a_time(settings, path, most_at_once):
    """A flood's first requests (200 GETs of the form) must not take the process from everyone else."""
    import asyncio

    from accounts.signin_gate import AsgiSignInGate

    settings.SIGNIN_CONCURRENT_REQUESTS = 1
    inside, most = 0, 0

    async def django(scope, receive, send):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        for _ in range(3):
            await asyncio.sleep(0)  # the others get their chance to come in
        inside -= 1

    gate = AsgiSignInGate(django)
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "client": ("10.0.0.1", 1)}

    async def three():
        await asyncio.gather(*(gate(scope, None, None) for _ in range(3)))

    asyncio.run(three())
    assert most == most_at_once


def test_an_attempt_that_waited_too_long_for_its_turn_is_refused_as_busy_but_a_page_is_served(settings):
    """A flood's burst of counted attempts must not drain through the password check for minutes: one that
    waited past SIGNIN_QUEUE_TIMEOUT for its place is refused (429, retry in a second) without Django."""
    import asyncio

    from accounts.signin_gate import AsgiSignInGate

    settings.SIGNIN_CONCURRENT_REQUESTS = 1
    settings.SIGNIN_QUEUE_TIMEOUT = 0.05
    reached = []

    async def django(scope, receive, send):
        reached.append(scope["method"])
        await asyncio.sleep(0.2)  # a slow sign-in holds the process's one place
        await send({"type": "http.response.start", "status": 200, "headers": []})

    gate = AsgiSignInGate(django)
    answers = {}

    def sender(name):
        async def send(message):
            if message["type"] == "http.response.start":
                answers[name] = (message["status"], dict(message["headers"]).get(b"retry-after"))

        return send

    async def scenario():
        get = {"type": "http", "method": "GET", "path": "/accounts/login/", "headers": [], "client": ("10.0.0.1", 1)}
        first = asyncio.ensure_future(gate._to_django(get, None, sender("first"), attempt=True))
        await asyncio.sleep(0)
        waited_attempt = gate._to_django({**get, "method": "POST"}, None, sender("attempt"), attempt=True)
        waited_page = gate._to_django(get, None, sender("page"))
        await asyncio.gather(first, waited_attempt, waited_page)

    asyncio.run(scenario())
    assert answers["attempt"] == (429, b"1")  # refused as busy, at once
    assert answers["first"][0] == answers["page"][0] == 200  # the page waits its turn and is served
    assert reached == ["GET", "GET"]  # the late attempt never reached Django


def test_attempts_past_a_few_waiting_or_inside_are_refused_as_busy_at_once_but_pages_still_wait(
    settings, refusal_pauses
):
    """A flood's burst of attempts let through by its limits would each take a trip through Django only to
    find the deployment's one or two hashing places taken: past SIGNIN_QUEUED_ATTEMPTS per process they are
    refused as busy at the gate (after the refusal's pause), while the sign-in page still waits its turn."""
    import asyncio

    from accounts.signin_gate import AsgiSignInGate

    settings.SIGNIN_CONCURRENT_REQUESTS = 1
    settings.SIGNIN_QUEUED_ATTEMPTS = 2
    settings.SIGNIN_QUEUE_TIMEOUT = 10
    reached, answers = [], []

    async def scenario():
        release = asyncio.Event()

        async def django(scope, receive, send):
            reached.append(scope["method"])
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})

        gate = AsgiSignInGate(django)

        async def send(message):
            if message["type"] == "http.response.start":
                answers.append((message["status"], dict(message["headers"]).get(b"retry-after")))

        scope = {"type": "http", "method": "POST", "path": "/accounts/login/", "headers": [], "client": ("10.0.0.1", 1)}
        requests = [asyncio.ensure_future(gate._to_django(scope, None, send, attempt=True)) for _ in range(5)]
        requests.append(asyncio.ensure_future(gate._to_django({**scope, "method": "GET"}, None, send)))
        for _ in range(5):
            await asyncio.sleep(0)
        refused_at_once = list(answers)
        release.set()
        await asyncio.gather(*requests)
        return refused_at_once

    refused_at_once = asyncio.run(scenario())
    assert refused_at_once == [(429, b"1")] * 3  # the third, fourth and fifth attempt, without Django
    assert len(refusal_pauses) == 3
    assert reached == ["POST", "POST", "GET"]  # two attempts in turn, and the page
    assert sorted(answers) == [(200, None)] * 3 + [(429, b"1")] * 3


def test_a_sign_in_page_waits_for_the_process_s_other_requests_under_way_but_not_for_ever(settings):
    """Heartbeats go first: a sign-in page's turn in Django comes when the process's other HTTP requests are
    done, or after SIGNIN_YIELD_SECONDS if one goes on (an export)."""
    import asyncio

    from accounts.signin_gate import AsgiSignInGate

    settings.SIGNIN_YIELD_SECONDS = 30
    order = []

    def request(path, method="GET"):
        return {"type": "http", "method": method, "path": path, "headers": [], "client": ("10.0.0.1", 1)}

    async def scenario():
        beat_done, export_done = asyncio.Event(), asyncio.Event()

        held = {"/api/beat": beat_done, "/api/export": export_done}

        async def django(scope, receive, send):
            order.append(f"{scope['path']} starts")
            if scope["path"] in held:
                await held[scope["path"]].wait()
            order.append(f"{scope['path']} ends")

        gate = AsgiSignInGate(django)
        beat = asyncio.ensure_future(gate(request("/api/beat", "POST"), None, None))
        await asyncio.sleep(0)
        page = asyncio.ensure_future(gate(request("/accounts/login/"), None, None))
        for _ in range(5):
            await asyncio.sleep(0)
        waited = list(order)
        beat_done.set()
        await asyncio.gather(beat, page)

        settings.SIGNIN_YIELD_SECONDS = 0.01  # an export goes on: the page is served all the same
        export = asyncio.ensure_future(gate(request("/api/export"), None, None))
        await asyncio.sleep(0)
        await asyncio.wait_for(gate(request("/accounts/login/"), None, None), 5)
        export_done.set()
        await export
        return waited

    waited = asyncio.run(scenario())
    assert waited == ["/api/beat starts"]  # the page waited for the heartbeat
    assert order[:4] == ["/api/beat starts", "/api/beat ends", "/accounts/login/ starts", "/accounts/login/ ends"]
    assert order[4:] == ["/api/export starts", "/accounts/login/ starts", "/accounts/login/ ends", "/api/export ends"]


async def _attempts_at_once(gate, send, addresses):
    """A sign-in POST through `gate` from each address, all at once."""
    import asyncio

    async def receive():
        return {"type": "http.request", "body": b"username=a&password=b", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/accounts/login/",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    await asyncio.gather(*(gate({**scope, "client": (address, 1)}, receive, send) for address in addresses))


def test_without_redis_the_asgi_gate_checks_attempts_in_one_thread_of_its_own(monkeypatch, settings):
    """With another cache (local memory), attempts it cannot answer from memory are checked one after another
    in one thread per process, not side by side in the shared pool, where a flood's first attempts took the
    interpreter from heartbeats."""
    import asyncio
    import threading

    from accounts import signin_gate as gate_module
    from accounts.signin_gate import AsgiSignInGate, refusal

    settings.SIGNIN_REFUSAL_DELAY = 0
    threads, inside, most = [], 0, 0

    def check(*, body, ip):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        threads.append(threading.current_thread().name)
        threading.Event().wait(0.02)
        inside -= 1
        return refusal(60)

    monkeypatch.setattr(gate_module, "signin_gate", check)
    gate = AsgiSignInGate(None)

    async def send(message):
        pass

    asyncio.run(_attempts_at_once(gate, send, [f"10.0.1.{n}" for n in range(4)]))
    assert most == 1 and len(set(threads)) == 1 and threads[0].startswith("signin-gate")


@pytest.mark.usefixtures("redis_cache")
def test_with_redis_the_asgi_gate_checks_attempts_on_the_event_loop_over_a_few_connections(
    limits, settings, monkeypatch
):
    """No thread at all: the check's one round trip to Redis is awaited on the event loop, so a flood's burst
    of checks takes no thread from the heartbeats' for the interpreter; however many arrive at once, they
    share LOOP_CHECK_CONNECTIONS connections."""
    import asyncio
    import threading

    from accounts import signin_gate as gate_module
    from accounts.signin import SignInCheck

    settings.SIGNIN_REFUSAL_DELAY = 0
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "2/min"

    def no_thread(**kwargs):
        raise AssertionError("checked in a thread")

    monkeypatch.setattr(gate_module, "signin_gate", no_thread)
    answers = [_asgi_post("/accounts/login/", {"username": "a", "password": "x"}) for _ in range(3)]
    assert [(a["status"], a["django"]) for a in answers] == [(403, 1), (403, 1), (429, 0)]

    checked_in, verdict = [], SignInCheck.verdict

    def recorded(self, replies):
        checked_in.append(threading.current_thread())
        return verdict(self, replies)

    monkeypatch.setattr(SignInCheck, "verdict", recorded)
    statuses = []

    async def application(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def flood():
        gate = gate_module.AsgiSignInGate(application)
        await _attempts_at_once(gate, send, [f"10.0.2.{n}" for n in range(30)])
        pool = gate_module._loop_scripts[asyncio.get_running_loop()].registered_client.connection_pool
        return len(pool._available_connections) + len(pool._in_use_connections)

    connections = asyncio.run(flood())
    assert len(checked_in) == 30 and set(checked_in) == {threading.main_thread()}
    assert statuses == [204] * 30  # each address's first attempt: let through
    assert 1 <= connections <= gate_module.LOOP_CHECK_CONNECTIONS


class CountingCache:
    """The cache as the sign-in rules see it, counting the calls that reach it."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def __getattr__(self, name):
        self.calls += 1
        return getattr(self.real, name)


@pytest.fixture
def cache_calls(monkeypatch):
    from django.core.cache import caches

    counting = CountingCache(caches["default"])
    monkeypatch.setattr("accounts.signin.caches", {"default": counting})
    monkeypatch.setattr("accounts.ratelimit.caches", {"default": counting})
    return counting


def test_an_address_refused_in_this_window_is_refused_again_without_asking_the_cache(limits, settings, cache_calls):
    from accounts.signin import signin_attempt

    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "2/min"
    limits.advance(10)  # 50 s left in the minute's window
    assert [signin_attempt(username=f"guess{i}", ip="10.0.0.3") for i in range(3)] == [None, None, 50]
    asked = cache_calls.calls
    limits.advance(20)
    # A flood's further attempts: refused from memory, the wait counting down, whatever the username.
    assert [signin_attempt(username=name, ip="10.0.0.3") for name in ("a", "b", "c")] == [30, 30, 30]
    assert cache_calls.calls == asked
    assert signin_attempt(username="a", ip="10.0.0.4") is None  # another address is counted as before
    assert cache_calls.calls > asked
    limits.advance(30)  # the window is over: counted afresh, and let through
    assert signin_attempt(username="a", ip="10.0.0.3") is None


def test_a_username_locked_longer_than_its_address_still_says_so_when_counted(limits, settings):
    from accounts.signin import signin_attempt, signin_failure_record

    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "1/min"
    for _ in range(3):  # limits: 3 failures per username in 15 minutes
        signin_failure_record(username="ada", ip="10.0.0.99")
    signin_attempt(username="x", ip="10.0.0.5")
    assert signin_attempt(username="ada", ip="10.0.0.5") == 900  # counted: the username's 15 minutes
    assert signin_attempt(username="ada", ip="10.0.0.5") == 60  # from memory: the address's minute
    limits.advance(60)
    assert signin_attempt(username="ada", ip="10.0.0.5") == 840


def test_the_refused_addresses_remembered_are_bounded(limits, settings, monkeypatch):
    from accounts import signin

    monkeypatch.setattr(signin, "REFUSED_REMEMBERED", 3)
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "1/min"
    for i in range(5):
        for _ in range(2):
            signin.signin_attempt(username="x", ip=f"10.0.1.{i}")
    assert len(signin._refused) == 3
    assert [signin.signin_refused(ip=f"10.0.1.{i}") is not None for i in range(5)] == [False, False, True, True, True]


def test_the_asgi_gate_refuses_a_known_address_on_the_event_loop_before_reading_its_form(
    limits, settings, monkeypatch, refusal_pauses
):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "1/min"
    settings.SIGNIN_REFUSAL_DELAY = 1
    assert _asgi_post("/accounts/login/", {"username": "a", "password": "x"})["status"] == 403
    assert _asgi_post("/accounts/login/", {"username": "a", "password": "x"})["status"] == 429

    def no_thread(**kwargs):
        raise AssertionError("a known refusal took the thread and the cache")

    monkeypatch.setattr("accounts.signin_gate.signin_gate", no_thread)
    answer = _asgi_post("/admin/login/", {"username": "b", "password": "x"})
    assert (answer["status"], answer["django"], answer["headers"]["Retry-After"]) == (429, 0, "60")
    assert "Too many attempts" in answer["body"].decode()
    assert len(refusal_pauses) == 2 and all(0.5 <= pause <= 1.5 for pause in refusal_pauses)


def test_refusals_wait_jittered_times_so_a_flood_refused_together_does_not_come_back_together(
    limits, settings, refusal_pauses
):
    settings.THROTTLE_SIGNIN_IP_ATTEMPTS = "1/min"
    settings.SIGNIN_REFUSAL_DELAY = 2
    for _ in range(21):
        _asgi_post("/accounts/login/", {"username": "a", "password": "x"})
    assert len(refusal_pauses) == 20 and all(1 <= pause <= 3 for pause in refusal_pauses)
    assert len(set(refusal_pauses)) == 20  # each its own: refused together, they come back apart


def test_each_process_compiles_its_sign_in_pages_as_it_starts(monkeypatch):
    """The entry points warm the sign-in pages up (accounts.signin_gate.warm_up): a process's first sign-in
    page, or refusal, compiles no template (compiling held the interpreter ~40 ms, at a flood's start)."""
    from django.template import engines
    from django.template.base import Template

    from accounts.signin_gate import _page, refusal, warm_up

    engines["django"].engine.template_loaders[0].reset()  # the cached loader, as a new process has it
    _page.cache_clear()
    warm_up()
    compiled, compile_nodelist = [], Template.compile_nodelist

    def recorded(self):
        compiled.append(self.origin.template_name)
        return compile_nodelist(self)

    monkeypatch.setattr(Template, "compile_nodelist", recorded)
    assert Client().get("/accounts/login/").status_code == 200
    refusal(30)
    refusal(1, busy=True)
    assert compiled == []


def test_a_process_whose_sign_in_pages_cannot_be_rendered_yet_starts_all_the_same(monkeypatch, caplog):
    from accounts import signin_gate

    def missing(*args, **kwargs):
        raise ValueError("Missing staticfiles manifest entry for 'app/logo.svg'")

    monkeypatch.setattr(signin_gate, "render_to_string", missing)
    signin_gate.warm_up()
    assert "could not be rendered ahead" in caplog.text and "Missing staticfiles manifest" in caplog.text
