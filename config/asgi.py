"""ASGI entry point: HTTP to Django, WebSockets to the consumers (the presence socket and live pages).

Production: `uvicorn config.asgi:application` (see README, Production). `manage.py runserver` serves
this same application through daphne, so `dev.py run` needs nothing but Python.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Here every request's synchronous code runs in a thread of its own, so a PostgreSQL connection kept per
# thread (CONN_MAX_AGE) is one per request, left for the garbage collector: they piled up until PostgreSQL
# refused more (bench/login_flood.py). Connections come from a pool instead (config/settings.py,
# DB_POOL_SIZE): a request takes one and gives it back.
# Set only while the settings are read, so processes this one starts are not handed it.
pool_by_default = "DB_POOL_SIZE" not in os.environ
if pool_by_default:
    os.environ["DB_POOL_SIZE"] = "10"

# Django first: the consumers below import models, which need the app registry ready.
django_application = get_asgi_application()
if pool_by_default:
    del os.environ["DB_POOL_SIZE"]

from django.core.cache import caches  # noqa: E402

# One cache object per process, made here in the context every request's is copied from: otherwise each
# request makes its own, with its own Redis connection pool (a new connection per sign-in attempt refused).
caches["default"]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts import signin_gate  # noqa: E402
from config.websockets import OriginCheck, auth_stack, websocket_urlpatterns  # noqa: E402

signin_gate.warm_up()

# The garbage collector, tuned for a process holding thousands of long-lived sockets. With CPython's
# defaults every full collection walks every object of every open socket: a trial with 10,000 sockets
# per process stalled 1.1-1.5 s each time (every ping and push waiting). Everything loaded at start-up
# is frozen out of the collector's reach, and young collections run every GC_THRESHOLD allocations
# rather than every 700, so full ones are rare. Reference counting still frees almost everything at once.
gc.collect()
gc.freeze()
gc.set_threshold(*(int(part) for part in os.environ.get("GC_THRESHOLD", "50000,20,100").split(",")))

application = ProtocolTypeRouter(
    {
        # Throttled sign-in attempts are refused before Django handles them (accounts/signin_gate.py).
        "http": signin_gate.AsgiSignInGate(django_application),
        "websocket": OriginCheck(auth_stack(URLRouter(websocket_urlpatterns))),
    }
)
