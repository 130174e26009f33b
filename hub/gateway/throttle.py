"""Shared, atomic counters for the gateway's rate limit and its guessing throttle.

Every worker process must see the same counts, and two workers incrementing at once must both
count. With a Redis cache (``CACHE_URL=redis://…``, production) a counter is one Redis INCRBY
(atomic) on a key that expires with its window. Without one (development, `make run` with several
gunicorn workers, the test suite), a counter is a row of ``hub_gateway_counter`` on the hub's own
PostgreSQL, incremented by a single ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (atomic as
well, and shared by every process that uses the database).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from hub.errors import RateLimited

GUESS_WINDOW = 600  # seconds: member-code failures counted per terminal over 10 minutes

_UPSERT = """
INSERT INTO hub_gateway_counter (key, value, expires_at)
VALUES (%s, %s, now() + make_interval(secs => %s))
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN hub_gateway_counter.expires_at <= now() THEN EXCLUDED.value
                 ELSE hub_gateway_counter.value + EXCLUDED.value END,
    expires_at = CASE WHEN hub_gateway_counter.expires_at <= now() THEN EXCLUDED.expires_at
                      ELSE hub_gateway_counter.expires_at END
RETURNING value
"""


def uses_redis() -> bool:
    return cache.__class__.__name__ == "RedisCache"


def _redis():
    """The Redis client of the default cache, or None when the cache is not Redis."""
    if not uses_redis():
        return None
    return cache._cache.get_client(write=True)  # noqa: SLF001 - Django's own RedisCache client


def hit(key: str, *, window: int, amount: int = 1) -> int:
    """Add ``amount`` to the counter ``key`` (a fixed window of ``window`` seconds from its first
    hit) and return the new total."""
    client = _redis()
    if client is not None:
        full = cache.make_and_validate_key(key)
        with client.pipeline() as pipe:
            pipe.incrby(full, amount)
            pipe.expire(full, window, nx=True)
            total, _ = pipe.execute()
        return int(total)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, amount, window])
        return int(cursor.fetchone()[0])


def count(key: str) -> int:
    """The counter's current total (0 when absent or expired)."""
    client = _redis()
    if client is not None:
        return int(client.get(cache.make_and_validate_key(key)) or 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM hub_gateway_counter WHERE key = %s AND expires_at > now()", [key])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def prune_counters() -> int:
    """Delete the expired counter rows (the Redis keys expire by themselves)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM hub_gateway_counter WHERE expires_at <= now()")
        return cursor.rowcount


# ---- guessing member codes ----------------------------------------------------------------------

def _key(terminal, merchant_id: int) -> str:
    return f"gw-guess:{merchant_id}:{terminal.pk if terminal else 0}"


def throttle_guess(terminal, merchant_id: int) -> None:
    """Refuse a terminal with too many failed member codes in the last 10 minutes."""
    if count(_key(terminal, merchant_id)) >= getattr(settings, "GATEWAY_CODE_FAILURES_PER_10MIN", 20):
        raise RateLimited("会员码错误次数过多，请稍后再试")


def count_failed_guess(terminal, merchant_id: int) -> None:
    hit(_key(terminal, merchant_id), window=GUESS_WINDOW)
