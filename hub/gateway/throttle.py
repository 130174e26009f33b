"""Throttling a terminal that keeps presenting unknown dynamic member codes (guessing).

Counts live in Django's cache: configure a shared cache (e.g. Redis) in production so the count
holds across workers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from hub.errors import RateLimited


def _key(terminal, merchant_id: int) -> str:
    return f"gw-guess:{merchant_id}:{terminal.pk if terminal else 0}"


def throttle_guess(terminal, merchant_id: int) -> None:
    """Refuse a terminal with too many failed member codes in the last 10 minutes."""
    if (cache.get(_key(terminal, merchant_id)) or 0) >= getattr(settings, "GATEWAY_CODE_FAILURES_PER_10MIN", 20):
        raise RateLimited("会员码错误次数过多，请稍后再试")


def count_failed_guess(terminal, merchant_id: int) -> None:
    key = _key(terminal, merchant_id)
    if not cache.add(key, 1, 600):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, 600)
