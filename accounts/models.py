import hashlib

from django.conf import settings
from django.db import models


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
    revoked_at = models.DateTimeField(null=True, blank=True, db_comment="Set when revoked; a revoked token authenticates nobody")

    class Meta:
        db_table = "api_tokens"
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
