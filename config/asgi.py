"""ASGI entry point: HTTP to Django, WebSockets to the consumers (the presence socket and live pages).

Production: `uvicorn config.asgi:application` (see README, Production). `manage.py runserver` serves
this same application through daphne, so `dev.py run` needs nothing but Python.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django first: the consumers below import models, which need the app registry ready.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.websockets import OriginCheck, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": OriginCheck(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
