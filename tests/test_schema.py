"""The OpenAPI schema and the interactive docs, which must work with no internet."""

import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

WHITEBOARD_PATHS = {
    "/api/whiteboard/sessions/{session_id}/connect": "post",
    "/api/whiteboard/sessions/{session_id}/heartbeat": "post",
    "/api/whiteboard/sessions/{session_id}/disconnect": "post",
    "/api/whiteboard/sessions/{session_id}/connection-status": "get",
    # Not in the design note: the board, read-only (issue 16).
    "/api/whiteboard/sessions/{session_id}/strokes": "get",
}


@pytest.fixture
def schema():
    response = Client().get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_an_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]


def test_the_schema_has_the_four_whiteboard_paths_of_the_design_note_and_the_board(schema):
    whiteboard_paths = {path for path in schema["paths"] if path.startswith("/api/whiteboard/")}
    assert whiteboard_paths == set(WHITEBOARD_PATHS)
    for path, method in WHITEBOARD_PATHS.items():
        assert set(schema["paths"][path]) - {"parameters"} == {method}, path


def test_the_whiteboard_operations_are_tagged_whiteboard_tracking(schema):
    assert "whiteboard-tracking" in {tag["name"] for tag in schema["tags"]}
    for path, method in WHITEBOARD_PATHS.items():
        assert schema["paths"][path][method]["tags"] == ["whiteboard-tracking"], path


def test_the_schema_documents_bearer_tokens_and_the_browser_session(schema):
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["bearerAuth"].items()
    assert schemes["cookieAuth"]["in"] == "cookie"


def test_heartbeat_documents_the_409_that_tells_the_client_to_connect_again(schema):
    responses = schema["paths"]["/api/whiteboard/sessions/{session_id}/heartbeat"]["post"]["responses"]
    assert {"200", "400", "401", "404", "409"} <= set(responses)
    assert "connection_closed" in responses["409"]["description"]


def test_drf_spectacular_validates_the_schema_without_a_single_warning(tmp_path):
    # --fail-on-warn turns every warning (e.g. two components with the same name) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.")


class _Assets(HTMLParser):
    """The URLs a page loads scripts and styles from."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") in ("stylesheet", "icon"):
            self.urls.append(attrs["href"])


@pytest.fixture(params=["development", "production"])
def docs_client(request, settings, tmp_path):
    """A client for the docs as served in development (files found in the apps) or in production."""
    if request.param == "development":
        settings.WHITENOISE_USE_FINDERS = True
        settings.WHITENOISE_AUTOREFRESH = True
    else:
        # As deployed: collectstatic into STATIC_ROOT with hashed names, WhiteNoise serving from there.
        settings.STATIC_ROOT = tmp_path / "static"
        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        }
        call_command("collectstatic", "--noinput", verbosity=0)
    return Client()


def test_docs_render_swagger_ui_from_this_app_with_no_external_url(docs_client):
    response = docs_client.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="swagger-ui"' in html

    parser = _Assets()
    parser.feed(html)
    assert any("swagger-ui-bundle" in url for url in parser.urls)
    assert any(url.endswith(".css") for url in parser.urls)
    for url in parser.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_the_docs_static_assets_are_served(docs_client):
    parser = _Assets()
    parser.feed(docs_client.get("/docs").content.decode())
    assert len(parser.urls) >= 3
    for url in parser.urls:
        response = docs_client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, url


def test_the_docs_point_swagger_ui_at_this_apps_schema():
    html = Client().get("/docs").content.decode()
    assert "<script>" not in html  # the start-up script is a file of its own, for the CSP
    script = re.search(r'<script src="(/docs\?[^"]*script=[^"]*)"', html).group(1)
    js = Client().get(script.replace("&amp;", "&")).content.decode()
    assert re.search(r"""url:\s*["']/api/schema["']""", js)
