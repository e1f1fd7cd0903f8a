from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts.api import PingApi
from attendance.session_api import SessionViewSet

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("whiteboard/", include("whiteboard.page_urls")),
    path("api/whiteboard/", include("whiteboard.urls")),
    path("api/tutor/", include("attendance.urls")),
    path("family/", include("families.urls")),
    path("reports/", include("reports.urls")),
    path("", include("attendance.page_urls")),
    path("api/ping", PingApi.as_view(), name="ping"),
    path("api/sessions", SessionViewSet.as_view({"get": "listing"}, name="Sessions"), name="sessions-list"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file (/docs?script=): no inline script for the CSP.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # Redoc builds its styles at run time (styled-components inserts <style> elements): inline styles,
    # never scripts, are allowed on this one page.
    path(
        "docs/redoc",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularRedocView.as_view(url_name="schema")),
        name="redoc",
    ),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
