"""Settings for the attendance project.

One file for every environment: what differs between development and
production comes from environment variables (see `.env.example`).
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for development; production sets real variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Without DEBUG (production, and anything run like it) a real key is required: refuse to start without
# one rather than sign sessions and reset links with a key everybody can read here. `dev.py run` sets
# DEBUG=true; `dev.py test`, the tests (conftest.py) and the benches set a SECRET_KEY of their own.
if not DEBUG and not env.str("SECRET_KEY", default=""):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG off the app refuses to start without it: set the SECRET_KEY "
        "environment variable to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First: its `runserver` serves HTTP and WebSockets from one process (ASGI), for `dev.py run`.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "channels",
    "accounts",
    "whiteboard",
    "attendance",
    "families",
    "reports",
    "webhooks",
    "demo",  # manage.py demo_data: fills every app, so it comes last and may import them all
]

MIDDLEWARE = [
    # GET /healthz for load balancers: answered before host checks, HTTPS redirects and sessions.
    "config.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.TimezoneMiddleware",
    "config.middleware.AccessDeniedLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# SQLite is the embedded default; DATABASE_URL=postgres://... switches to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
    # failing with "database is locked" halfway through a transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    # Column and table comments document the PostgreSQL schema; SQLite has nowhere to put them.
    SILENCED_SYSTEM_CHECKS = ["fields.W163", "models.W046"]
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3)
    )
    # Connections per process in Django's psycopg pool; 0: none, each thread keeps its own for
    # CONN_MAX_AGE (gunicorn's fixed threads, the tests). The ASGI server needs the pool and config/asgi.py
    # turns it on: Django runs each request's synchronous code in a thread of its own, so a connection
    # kept per thread is one per request, left for the garbage collector (PostgreSQL ran out of
    # connections within a minute of heartbeats: bench/login_flood.py).
    if db_pool_size := env.int("DB_POOL_SIZE", default=0):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # a connection goes back to the pool after each request
        # Django's backend, but the pool checks a connection it hands out with a round trip only when it
        # looks ended (core/postgresql/base.py), not every time.
        DATABASES["default"]["ENGINE"] = "core.postgresql"
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 2,
            "max_size": db_pool_size,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10),  # waiting for a free one; then 503
        }
    # Statements sent this often on one connection are prepared, so PostgreSQL plans them once. Only
    # the heartbeat's fast statement is eligible (whiteboard.fastpath._prepared_cursor); the ORM binds
    # client-side and never prepares. Empty: never (a transaction-pooling PgBouncer before 1.21).
    prepare_threshold = env.str("DB_PREPARE_THRESHOLD", default="5")
    DATABASES["default"]["OPTIONS"].setdefault(
        "prepare_threshold", int(prepare_threshold) if prepare_threshold else None
    )

# Throttle counters must be shared by every app process: Redis in production
# (CACHE_URL=redis://127.0.0.1:6379/1); local memory is enough for one process.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's defaults, but PBKDF2 (the one new passwords get) hashes in a low-priority thread (accounts/hashers.py).
PASSWORD_HASHERS = [
    "accounts.hashers.LowPriorityPBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The business's own zone: the default for people who have not chosen one. Storage is UTC.
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True
# One clock format everywhere, 24-hour, Django's own formatting (admin) included: config/formats/en/.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str("STATICFILES_BACKEND", default="whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Security: production values come from the environment (see .env.example); HTTPS below.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],  # DRF's, with deep nesting a 400
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # Every endpoint is throttled per user (accounts.ratelimit.ScopedUserRateThrottle), each at a rate
    # that fits its use; a view without a scope of its own counts under "api".
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.ScopedUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # A few tabs' worth of heartbeats (each beats 4/min) plus retries.
        "heartbeat": env.str("THROTTLE_HEARTBEAT", default="40/min"),
        "connect": env.str("THROTTLE_CONNECT", default="30/min"),
        # One per connect, plus retries of the keepalive request.
        "disconnect": env.str("THROTTLE_DISCONNECT", default="30/min"),
        # The session and whiteboard pages poll it every 5 s per open tab.
        "connection-status": env.str("THROTTLE_CONNECTION_STATUS", default="120/min"),
        # Computed from the whole presence record: the heaviest read; a page shows it once per load.
        "attendance-suggestion": env.str("THROTTLE_ATTENDANCE_SUGGESTION", default="30/min"),
        "attendance-mark": env.str("THROTTLE_ATTENDANCE_MARK", default="30/min"),
        "attendance-history": env.str("THROTTLE_ATTENDANCE_HISTORY", default="60/min"),
        "api": env.str("THROTTLE_API", default="60/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tutoring attendance API",
    "DESCRIPTION": (
        "Whiteboard presence tracking and attendance for tutoring sessions. "
        "Authenticate with `Authorization: Bearer <token>` (tokens are issued in Django admin "
        "or with `manage.py issue_token`) or, from the browser, with the Django session and CSRF header.\n\n"
        # The WebSocket endpoints, their messages and close codes, documented once (docs/websockets.md).
        + (BASE_DIR / "docs" / "websockets.md").read_text()
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Self-hosted Swagger UI and Redoc, so /docs works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TAGS": [
        {"name": "whiteboard-tracking", "description": "Presence reported by the whiteboard client."},
        {"name": "attendance", "description": "Attendance suggestions, marking and history."},
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Any operation answers 503 while the database is unreachable.
        "core.api.document_service_unavailable",
        "core.api.document_throttled",  # after it: it adds the Error component this refers to
    ],
    "ENUM_NAME_OVERRIDES": {
        "AttendanceStatusEnum": "attendance.models.AttendanceStatus",
        "AttendanceSourceEnum": "attendance.models.AttendanceSource",
    },
}

# Presence rules (issue #2). Seconds.
PRESENCE = {
    # How often the client must send a heartbeat; returned by connect.
    "HEARTBEAT_INTERVAL": env.int("PRESENCE_HEARTBEAT_INTERVAL", default=15),
    # A connection is alive this long after a heartbeat from a visible tab...
    "TIMEOUT_VISIBLE": env.int("PRESENCE_TIMEOUT_VISIBLE", default=45),
    # ...and this long after one from a hidden tab (browsers throttle background timers to ~1/min).
    "TIMEOUT_HIDDEN": env.int("PRESENCE_TIMEOUT_HIDDEN", default=150),
    # PostgreSQL: a steady heartbeat commits without waiting for its WAL flush (docs/presence-fast-path.md).
    # A database crash (not a stop) can then lose the last ~0.6 s of heartbeats: their participants'
    # presence ends at their previous beat, at most one interval earlier.
    "HEARTBEAT_ASYNC_COMMIT": env.bool("PRESENCE_HEARTBEAT_ASYNC_COMMIT", default=True),
    # The presence window: the whiteboard opens this many minutes before a session's scheduled
    # start and closes this many minutes after its scheduled end (whiteboard.presence.presence_window).
    "JOIN_WINDOW_MINUTES": env.int("PRESENCE_JOIN_WINDOW_MINUTES", default=15),
    # Issue 18. A stretch at least this long in which the server heard nothing from anyone while
    # sessions ran is an outage gap: presence in it is unknown, never absent (whiteboard/outages.py).
    "OUTAGE_MIN_SECONDS": env.int("PRESENCE_OUTAGE_MIN_SECONDS", default=90),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object per line (config.logging): nothing a client sends can forge a line. LOG_FORMAT=plain
    # for reading by eye in development.
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)r"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": env.str("LOG_FORMAT", default="json")}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Failed authentication and authorization: who, what, when (UTC).
        "security": {"level": "INFO"},
    },
}

# Attendance rules (issue #3): thresholds in minutes; see attendance/suggestions.py.
ATTENDANCE_POLICY = {
    "late_after_minutes": env.float("ATTENDANCE_LATE_AFTER_MINUTES", default=5),
    "left_early_minutes": env.float("ATTENDANCE_LEFT_EARLY_MINUTES", default=5),
    "absent_under_minutes": env.float("ATTENDANCE_ABSENT_UNDER_MINUTES", default=5),
    "heartbeat_interval_seconds": PRESENCE["HEARTBEAT_INTERVAL"],
    # The finalising job applies a suggestion on its own only when at least this sure.
    "auto_apply_confidence": env.float("ATTENDANCE_AUTO_APPLY_CONFIDENCE", default=0.8),
}
# Tutors may mark from the session's start until this many days after its end.
# Retention (attendance/retention.py): raw presence detail (connection rows, the connection log, presence
# spans) of sessions that ended longer ago than this is removed by the daily purge; the per-session totals,
# the suggestion as it stood and the attendance history stay. 396 days: 13 months.
PRESENCE_RETENTION_DAYS = env.int("PRESENCE_RETENTION_DAYS", default=396)
# Whiteboards per purge transaction (each locked, skipped when another run holds it).
PRESENCE_PURGE_BATCH = env.int("PRESENCE_PURGE_BATCH", default=200)
ATTENDANCE_MARKING_WINDOW_DAYS = env.int("ATTENDANCE_MARKING_WINDOW_DAYS", default=7)
# The finalising job waits this long after a session's end before deciding.
ATTENDANCE_FINALIZE_AFTER_MINUTES = env.int("ATTENDANCE_FINALIZE_AFTER_MINUTES", default=15)
# Issue 18. A tutor or parent may contest a decision this many hours after it was made; a decision
# locks (admins only) once this and the marking window have both passed.
ATTENDANCE_DISPUTE_WINDOW_HOURS = env.int("ATTENDANCE_DISPUTE_WINDOW_HOURS", default=72)
# A cancellation less than this many hours before the start is late: chargeable when the family
# cancels (`late_cancellation`), its own outcome when the tutor does (`tutor_late_cancellation`).
BILLING_CANCELLATION_NOTICE_HOURS = env.int("BILLING_CANCELLATION_NOTICE_HOURS", default=24)
# Issue 18, reconciliation flags (attendance/reconciliation.py): a mark disagrees with the evidence by
# a wide margin when someone marked present/late/left early was there for less than this share of the
# session, or someone marked absent for more than this share.
ATTENDANCE_RECONCILE_PRESENT_UNDER = env.float("ATTENDANCE_RECONCILE_PRESENT_UNDER", default=0.25)
ATTENDANCE_RECONCILE_ABSENT_OVER = env.float("ATTENDANCE_RECONCILE_ABSENT_OVER", default=0.5)

# Suggestion calibration and alerts (issue #19). Below this many decisions per participant role
# (statuses a person chose) the rule confidence stands; see attendance/calibration.py.
ATTENDANCE_CALIBRATION_MIN_DECISIONS = env.int("ATTENDANCE_CALIBRATION_MIN_DECISIONS", default=200)
# Alerts from runs of sessions in a row (excused ones neither count nor break a run).
ATTENDANCE_ALERTS = {
    "absences_in_a_row": env.int("ATTENDANCE_ALERT_ABSENCES_IN_A_ROW", default=3),
    "late_in_a_row": env.int("ATTENDANCE_ALERT_LATE_IN_A_ROW", default=3),
    "tutor_no_shows_in_a_row": env.int("ATTENDANCE_ALERT_TUTOR_NO_SHOWS_IN_A_ROW", default=1),
}

# API tokens issued through Django admin, per admin.
TOKEN_ISSUE_LIMIT = env.int("TOKEN_ISSUE_LIMIT", default=10)
TOKEN_ISSUE_PERIOD_SECONDS = env.int("TOKEN_ISSUE_PERIOD_SECONDS", default=3600)

# E-mail (issue #6). Printed to the console unless a server is configured: either
# EMAIL_URL (smtp+tls://user:password@mail.example.com:587) or EMAIL_HOST and friends.
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# A slow mail server must not hold a request (or a cron run) for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tutoring Attendance <attendance@localhost>")
# Links in e-mails are absolute: where people open the app.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Hardening (issue 14) -------------------------------------------------------------------------
# API tokens expire this many days after issue (0: never); shown in admin.
API_TOKEN_LIFETIME_DAYS = env.int("API_TOKEN_LIFETIME_DAYS", default=90)
# Failed sign-ins (login pages, admin login, password change) per username and per client address, in
# the shared cache; beyond them: 429 with Retry-After, before any password is hashed (accounts.signin).
THROTTLE_SIGNIN_USERNAME = env.str("THROTTLE_SIGNIN_USERNAME", default="10/15min")
THROTTLE_SIGNIN_IP = env.str("THROTTLE_SIGNIN_IP", default="100/15min")
# Sign-in attempts per client address, failed or not: room for a class signing in behind one address.
THROTTLE_SIGNIN_IP_ATTEMPTS = env.str("THROTTLE_SIGNIN_IP_ATTEMPTS", default="60/min")
# Sign-in attempts checked at once, across every app process (each hashes a password, ~0.5 s of CPU):
# keep it below the number of workers so a flood of attempts cannot take them all. 0: no cap.
SIGNIN_CONCURRENT_HASHES = env.int("SIGNIN_CONCURRENT_HASHES", default=1)
# Seconds a refused sign-in attempt waits for its 429 at the ASGI entry point (accounts.signin_gate):
# a flooding client gets one answer per this long, at no CPU cost to the server. 0: at once.
SIGNIN_REFUSAL_DELAY = env.float("SIGNIN_REFUSAL_DELAY", default=1.0)
# Requests to the sign-in pages (GET or POST) Django handles at once per ASGI process; the rest wait their
# turn at the entry point (accounts.signin_gate), so a flood of them cannot crowd out the API's requests
# (1: a flood's first seconds held heartbeats' p99 at 1.9-2.2x the quiet one, 2: 2.6-3.2x; README).
SIGNIN_CONCURRENT_REQUESTS = env.int("SIGNIN_CONCURRENT_REQUESTS", default=1)
# A sign-in attempt that waited longer than this (seconds) for its turn is refused as busy (429, retry in a
# second) rather than checked late: a flood's counted burst would drain through the password check for minutes.
SIGNIN_QUEUE_TIMEOUT = env.float("SIGNIN_QUEUE_TIMEOUT", default=1.0)
# Sign-in attempts let through per ASGI process at once (waiting their turn or in Django); more are refused as
# busy at the entry point (429, retry in a second): past the few places for hashing, they would only find those taken.
SIGNIN_QUEUED_ATTEMPTS = env.int("SIGNIN_QUEUED_ATTEMPTS", default=2)
# A sign-in page's turn in Django waits for the process's other HTTP requests under way to finish, at most this long
# (seconds): heartbeats go first, and a long request (an export) delays each sign-in page by this much at most.
SIGNIN_YIELD_SECONDS = env.float("SIGNIN_YIELD_SECONDS", default=0.05)
# Password-reset e-mails requested per address and per client address.
THROTTLE_PASSWORD_RESET_EMAIL = env.str("THROTTLE_PASSWORD_RESET_EMAIL", default="3/h")
THROTTLE_PASSWORD_RESET_IP = env.str("THROTTLE_PASSWORD_RESET_IP", default="20/h")
# A password-reset link works for this long (seconds).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
AUTHENTICATION_BACKENDS = [
    "accounts.backends.SignInThrottleBackend",  # first: refuses throttled attempts before any hashing
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
    "accounts.middleware.SignInThrottleMiddleware",
)
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

# Content-Security-Policy (django-csp): scripts and styles only from this app's own files, no inline
# script anywhere (templates load static/*.js; /docs is drf-spectacular's split Swagger view); the
# WebSocket to this host is added per request (config.middleware.ContentSecurityPolicyMiddleware).
# Inline style *attributes* stay allowed (style-src-attr): the server-drawn bars and charts set widths
# with them, and an attribute cannot run script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        # The whiteboard tracker beats from a Worker it builds from a blob: URL (background tabs keep
        # their timers); only a script already running on the page can make one.
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "config.middleware.ContentSecurityPolicyMiddleware",
)

# HTTPS: one switch. HTTPS=true (the production example, production.env.example) redirects http to
# https, marks the session and CSRF cookies Secure and sends HSTS for a year; development and the tests
# leave it off. Each part can still be set on its own (SECURE_HSTS_SECONDS, ...).
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)

# Attendance history nobody can rewrite (attendance.history_protection). PostgreSQL role split: run
# `migrate` as the role that owns the tables with DATABASE_APP_ROLE naming the app's role (the one in
# the app's DATABASE_URL); migrate then grants it everything it needs but only SELECT and INSERT on
# attendance_history. Empty: one role does both (development).
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="")
# Whether `flush` (and the test suite's clean-up through it) may truncate attendance history.
# Deliberately not read from the environment: only config/test_settings.py turns it on.
ATTENDANCE_HISTORY_TRUNCATE_ALLOWED = False

# --- WebSockets (issue 13): Channels, its layer, the presence socket --------------------------------
# REDIS_URL set: every node's sockets and pages meet on one Redis (channels_redis). The pub/sub layer
# (RedisPubSubChannelLayer), not RedisChannelLayer: a push to a session's group is one PUBLISH that
# Redis fans out to the nodes holding its members, where RedisChannelLayer writes one list entry per
# member and every socket polls its own list (BZPOPMIN); groups there also expire after a day, silently
# dropping long-lived sockets. Its price: at most once, nothing kept for a node that is down; pages and
# the whiteboard read the full state again when their socket reopens, so nothing depends on a lost push.
# Its pool: per process and event loop the layer holds one PUBLISH connection (taken under a lock, one at
# a time) and one SUBSCRIBE connection, however many sockets are open; redis-py's asyncio pool fails
# at once (MaxConnectionsError) rather than wait when it has none free, so the limit is set well above
# those two on purpose and never near redis' maxclients (10,000) divided by the processes.
# Unset: the in-memory layer (one process: `dev.py run`, tests).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "core.channel_layer.BatchedPubSubChannelLayer",  # channels_redis pub/sub, publishes batched
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=20),
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ],
                "prefix": env.str("CHANNELS_PREFIX", default="att"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

WEBSOCKET = {
    # A client without a session cookie must send {"type": "auth", "token": ...} within this many seconds.
    "AUTH_TIMEOUT": env.float("WEBSOCKET_AUTH_TIMEOUT", default=10),
    # More messages than this from one socket within WINDOW seconds closes it (4429). A tracker sends a
    # ping every heartbeat interval and a message per visibility change: 60 a minute is a runaway client.
    "MAX_MESSAGES": env.int("WEBSOCKET_MAX_MESSAGES", default=60),
    "MESSAGE_WINDOW": env.float("WEBSOCKET_MESSAGE_WINDOW", default=60),
    # Liveness signals (pings) are kept in memory and written in one batch per node this often (seconds,
    # at most 15): a node that dies loses at most this much of its participants' presence, never adds any.
    # Its clients reconnecting elsewhere keep one continuous presence if they are back within
    # TIMEOUT_VISIBLE - HEARTBEAT_INTERVAL - FLUSH_INTERVAL s of the death (45 - 15 - 2 = 28 s).
    "FLUSH_INTERVAL": env.float("WEBSOCKET_FLUSH_INTERVAL", default=2),
    # Each node also closes connections nobody heard from in time (presence_sweep) this often (seconds;
    # 0: only the sweep_connections cron), so a dead node's sockets end at their last signal and pages hear it.
    "SWEEP_INTERVAL": env.float("WEBSOCKET_SWEEP_INTERVAL", default=15),
    # A watcher page re-reads the sessions it watches this often (seconds) when nothing was pushed, so a
    # suggestion that changes with the clock alone (minutes of presence passing a threshold) shows up.
    "WATCH_REFRESH": env.float("WEBSOCKET_WATCH_REFRESH", default=15),
    # Sockets' database calls run side by side in a thread pool (core.live.in_db_thread); false: all in
    # one thread per process, as Channels does by default (tests, which tear their database down).
    "DB_THREAD_POOL": env.bool("WEBSOCKET_DB_THREAD_POOL", default=True),
}

# The shared drawing board (issue #16), carried by the presence socket. Limits answer clearly:
# a stroke or board over its limit gets a `board.error` (the socket stays), a bigger message is
# malformed (4400), a faster socket is throttled (4429). The browser splits long strokes itself.
BOARD = {
    "MAX_POINTS": env.int("BOARD_MAX_POINTS", default=2000),  # points per stroke
    "MAX_STROKES": env.int("BOARD_MAX_STROKES", default=20000),  # strokes per board
    "MAX_MESSAGE_BYTES": env.int("BOARD_MAX_MESSAGE_BYTES", default=64 * 1024),  # one board message
    # Board messages per socket per second (the client sends a batch every 50 ms: 20 a second).
    "MAX_MESSAGES_PER_SECOND": env.int("BOARD_MAX_MESSAGES_PER_SECOND", default=30),
    "REPLAY_PAGE": env.int("BOARD_REPLAY_PAGE", default=1000),  # strokes per replay message or HTTP page
    "REPLAYS_PER_MINUTE": env.int("BOARD_REPLAYS_PER_MINUTE", default=6),  # whole-board replays one socket may ask
    # A socket writes the points of the stroke being drawn this often (seconds) and at its end; they are
    # fanned out at once (whiteboard/board_socket.py says why and what it costs).
    "SAVE_INTERVAL": env.float("BOARD_SAVE_INTERVAL", default=1.0),
}

# Background work (issue #17): Celery, with Redis as the broker in production
# (CELERY_BROKER_URL=redis://127.0.0.1:6379/2). Without a broker (dev.py run, tests) every task
# runs eagerly, in-process, at the moment it is enqueued (after commit), so nothing needs a server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL.startswith("memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True  # tasks record their effects in the database; no result backend
CELERY_TIMEZONE = TIME_ZONE  # the digest's crontab is in the business's zone
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # with acks_late: a dying worker holds at most one unacknowledged task
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30
# A request enqueueing while Redis is down gives up after about a second, not Celery's default minute.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged task (its worker died: acks_late) to another worker after this many
# seconds. It must exceed the longest retry delay and task run, or a waiting retry runs twice (harmless:
# every task is idempotent, but wasted).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for tasks whose worker died (at most every 10 s; sooner when short).
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
}
# E-mail retries: the delays (seconds) between attempts when the mail server fails; after the last one
# the notification is marked failed (admin can "send again").
NOTIFICATION_RETRY_DELAYS = env.list("NOTIFICATION_RETRY_DELAYS", cast=int, default=[60, 300, 1800, 3600, 3600])
# A notification still pending this long after it was due (its queued task was lost) is queued again.
NOTIFICATION_REDELIVER_AFTER = env.int("NOTIFICATION_REDELIVER_AFTER", default=600)
# Webhooks (README, "Webhooks"): seconds between attempts after a failure (the defaults add up to about
# 23.7 h); after the last one the delivery is failed (admin: Redeliver).
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS", cast=int, default=[30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800]
)
# An endpoint is disabled (its pending deliveries abandoned, admins e-mailed) when it has failed without a
# single success for WEBHOOK_DISABLE_AFTER_SECONDS (default 5 days, as Svix) AND at least
# WEBHOOK_DISABLE_AFTER_FAILURES attempts in that run; 0 failures: never. The time must be at least the
# retry span: an outage the retries would ride out (receiver back within it) must never abandon a delivery,
# and by then the outage's first deliveries have given up on their own (failed).
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 24 * 3600)
if sum(WEBHOOK_RETRY_DELAYS) > WEBHOOK_DISABLE_AFTER_SECONDS:
    raise ImproperlyConfigured(
        f"WEBHOOK_DISABLE_AFTER_SECONDS ({WEBHOOK_DISABLE_AFTER_SECONDS}) is shorter than the retries "
        f"(WEBHOOK_RETRY_DELAYS add up to {sum(WEBHOOK_RETRY_DELAYS)} s): an endpoint would be disabled, and "
        "its deliveries abandoned, during an outage the retries would ride out. Set it to at least that."
    )
# Seconds to connect, and to wait for each read of the answer; redirects are never followed.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5)
# SSRF guard: endpoints whose host resolves to a private, loopback, link-local, multicast or reserved
# address are refused (when saved and at every send) unless this is true (development, tests).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
# Seconds the list of who subscribed to what is cached (cleared when an endpoint changes; a node without
# the shared cache, CACHE_URL, sees a new endpoint within this time).
WEBHOOK_SUBSCRIPTIONS_CACHE = env.int("WEBHOOK_SUBSCRIPTIONS_CACHE", default=300)
# A delivery still pending this long after it was due (its task lost, or a retry longer than the
# broker holds one) is queued again by webhooks_redeliver_task.
WEBHOOK_REDELIVER_AFTER = env.int("WEBHOOK_REDELIVER_AFTER", default=600)
# Beat's schedule (a static one: see README, "Background work"). Seconds, and the digest's time of day.
# A periodic run still queued when the next is due is dropped (expires), so a stopped worker does not come
# back to a backlog of identical sweeps.
_every = {
    "presence-sweep": ("whiteboard.tasks.presence_sweep_task", env.int("SCHEDULE_SWEEP_SECONDS", default=60)),
    "attendance-finalize": (
        "attendance.tasks.attendance_finalize_task",
        env.int("SCHEDULE_FINALIZE_SECONDS", default=300),
    ),
    "notifications-redeliver": (
        "families.tasks.notifications_redeliver_task",
        env.int("SCHEDULE_REDELIVER_SECONDS", default=60),
    ),
    "webhooks-redeliver": ("webhooks.tasks.webhooks_redeliver_task", env.int("SCHEDULE_REDELIVER_SECONDS", default=60)),
}
CELERY_BEAT_SCHEDULE = {
    **{name: {"task": task, "schedule": s, "options": {"expires": s}} for name, (task, s) in _every.items()},
    "decision-digest": {
        "task": "families.tasks.decision_digest_task",
        # Every day at this time (HH:MM) in the business's zone.
        "schedule": crontab(*reversed(env.str("SCHEDULE_DIGEST_AT", default="07:00").split(":"))),
    },
    "presence-detail-purge": {
        "task": "attendance.tasks.presence_detail_purge_task",
        # Every day at this time (HH:MM): remove raw presence detail past PRESENCE_RETENTION_DAYS.
        "schedule": crontab(*reversed(env.str("SCHEDULE_PURGE_AT", default="03:15").split(":"))),
    },
    "suggestion-calibration": {
        "task": "attendance.tasks.calibration_task",
        # Every day at this time (HH:MM): refit the suggestion's calibration (attendance.calibration).
        "schedule": crontab(*reversed(env.str("SCHEDULE_CALIBRATION_AT", default="02:30").split(":"))),
    },
}
