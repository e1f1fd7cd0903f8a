"""Issue 14: the Content-Security-Policy, and templates that need no inline script to live with it."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_no_template_has_inline_script_event_handlers_or_javascript_urls():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if "emails" in path.parts:
            continue  # e-mails are read in mail clients, not served
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag:
                offenders.append(f"{path}: inline {tag}")
        offenders += [f"{path}: handler {m}" for m in re.findall(r"\son[a-z]+\s*=", text)]
        offenders += [f"{path}: javascript: URL" for _ in re.findall(r"javascript:", text, re.I)]
    assert offenders == []


def test_pages_forbid_inline_script_and_allow_only_this_hosts_websocket(tutor):
    client = Client()
    client.force_login(tutor)
    policy = directives(client.get("/accounts/settings/"))
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert set(policy["connect-src"]) == {"'self'", "ws://testserver"}
    secure = directives(client.get("/accounts/settings/", secure=True))
    assert set(secure["connect-src"]) == {"'self'", "wss://testserver"}


def test_the_api_docs_pages_have_no_inline_script(tutor):
    client = Client()
    client.force_login(tutor)
    for url in ("/docs", "/docs/redoc"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert not [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag], url
        assert directives(response)["script-src"] == ["'self'"]
        assert "fonts.googleapis.com" not in html
