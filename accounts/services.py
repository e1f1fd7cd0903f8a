import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken, hash_token_key
from core.errors import DomainError

TOKEN_PREFIX = "att_"


def token_issue(*, user, name: str, now=None) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it with the plain key, which is shown once and never stored.

    It expires API_TOKEN_LIFETIME_DAYS from now (0: never).
    """
    now = now or timezone.now()
    days = settings.API_TOKEN_LIFETIME_DAYS
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:12],
        key_hash=hash_token_key(key),
        expires_at=now + timedelta(days=days) if days else None,
    )
    return token, key


def tokens_revoke_for_user(*, user_id: int, now=None) -> int:
    """Revoke every live token of a user (their password changed: whoever knew it may hold a token)."""
    return ApiToken.objects.filter(user_id=user_id, revoked_at__isnull=True).update(revoked_at=now or timezone.now())


def token_revoke(*, token: ApiToken, now=None) -> None:
    """Revoke a token; it stops authenticating at once."""
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])


def token_live(*, key: str, now=None) -> ApiToken:
    """The API token `key` names, with its user, if it authenticates now: unrevoked, unexpired, user active.

    The one rule for every door that takes a token: the API's `Authorization: Bearer` header
    (accounts.authentication) and the sockets' `auth` message (whiteboard/consumers.py, through
    `tokens_live`, which reads a node's batch of opening sockets' tokens at once).
    Raises DomainError "bad_token" (unknown, malformed, revoked, user inactive) or "token_expired".
    """
    [found] = tokens_live(keys=[key], now=now)
    if isinstance(found, DomainError):
        raise found
    return found


def tokens_live(*, keys: list, now=None) -> list[ApiToken | DomainError]:
    """`token_live` of each key, in order, in one query: the token, or the DomainError it would raise."""
    now = now or timezone.now()
    hashes = [_key_hash_or_none(key) for key in keys]
    wanted = {h for h in hashes if h is not None}
    found = (
        {
            t.key_hash: t
            for t in ApiToken.objects.select_related("user").filter(key_hash__in=wanted, revoked_at__isnull=True)
        }
        if wanted
        else {}
    )
    results = []
    for key_hash in hashes:
        token = found.get(key_hash)
        if token is None or not token.user.is_active:
            results.append(DomainError("Invalid or revoked token.", "bad_token"))
        elif token.expires_at is not None and token.expires_at <= now:
            results.append(DomainError("This token has expired; ask for a new one.", "token_expired"))
        else:
            results.append(token)
    return results


def _key_hash_or_none(key) -> str | None:
    """The stored form of what a client sent as a key, or None if it cannot be one (not a string, empty,
    over 200 characters, or not encodable: JSON may carry a lone surrogate)."""
    if not isinstance(key, str) or not key or len(key) > 200:
        return None
    try:
        return hash_token_key(key)
    except UnicodeEncodeError:
        return None
