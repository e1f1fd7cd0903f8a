import functools
import hashlib
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def hash_token_key(key: str) -> str:
    """The stored form of a token key: we keep only its SHA-256, never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for an API client, acting as one user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, db_comment="What the token is for, e.g. the integration's name")
    prefix = models.CharField(max_length=12, editable=False, db_comment="First characters of the key, to recognise it")
    key_hash = models.CharField(max_length=64, unique=True, editable=False, db_comment="SHA-256 of the key")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(
        null=True, blank=True, db_comment="Set when revoked; a revoked token authenticates nobody"
    )
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        db_comment="After this the token authenticates nobody (API_TOKEN_LIFETIME_DAYS from issue); empty: never",
    )

    class Meta:
        db_table = "api_tokens"
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@functools.cache
def available_time_zones() -> tuple[str, ...]:
    """IANA zone names people may pick, sorted. Cached: listing them walks the tz database."""
    return tuple(sorted(zoneinfo.available_timezones() - {"Factory", "localtime", "posixrules"}))


def validate_time_zone(value: str) -> None:
    if value and value not in available_time_zones():
        raise ValidationError(
            "“%(value)s” is not a known time zone.", code="invalid_time_zone", params={"value": value}
        )


class Profile(models.Model):
    """A person's own settings; today the time zone their pages show times in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[validate_time_zone],
        db_comment="IANA zone name, e.g. America/New_York; empty means the business's zone (settings.TIME_ZONE)",
    )

    class Meta:
        db_table = "profiles"
        db_table_comment = "Per-user settings such as the display time zone"

    def __str__(self):
        return f"Profile of {self.user}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone to show times in: the person's own, or the business's when unset or no longer known."""
        return zone_or_default(self.time_zone)


def zone_or_default(name: str) -> zoneinfo.ZoneInfo:
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def profile_for(user) -> Profile:
    """The user's profile, created (with the defaults) the first time someone needs it."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


class RateCounter(models.Model):
    """A user's requests in the current fixed window of one rate limit (`accounts.ratelimit`), on PostgreSQL.

    One row per scope and user, rewritten in place when a new window starts, so the table never
    grows with time. Written in the same statement as the work it limits (the heartbeat's), which
    saves a round trip to the cache on every request.
    """

    scope = models.CharField(max_length=40, db_comment="Which limit, e.g. heartbeat")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    window_id = models.BigIntegerField(db_comment="Which window: Unix time // the limit's period")
    hits = models.PositiveIntegerField(db_comment="Requests counted in that window, refused ones included")

    class Meta:
        db_table = "rate_counters"
        constraints = [
            # Also the index of the counting upsert (ON CONFLICT (scope, user_id)).
            models.UniqueConstraint(fields=["scope", "user"], name="%(app_label)s_%(class)s_one_per_user"),
        ]

    def __str__(self):
        return f"{self.scope} {self.user_id}: {self.hits} in window {self.window_id}"
