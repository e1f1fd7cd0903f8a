import time

from django.core.cache import cache


def hit(key: str, *, limit: int, period: int) -> int | None:
    """Count one attempt in the current fixed window; seconds to wait if over `limit`, else None.

    The counter lives in the shared cache, so every app process sees the same count.
    """
    now = time.time()
    window = int(now // period)
    cache_key = f"ratelimit:{key}:{window}"
    if cache.add(cache_key, 1, timeout=period):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=period)
            count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * period - now))
