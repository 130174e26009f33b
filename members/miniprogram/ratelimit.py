"""Rate limits of the mini-program per session and per IP, on the gateway's shared counters
(``hub.gateway.throttle.hit``: one Redis INCRBY in production, one PostgreSQL upsert otherwise,
so every worker and host counts together).

``settings.MINIPROGRAM_RATE_LIMITS`` maps an action to ``(per session, per IP)`` calls per
``WINDOW`` seconds; a refusal is ``RATE_LIMITED`` with ``Retry-After``.
"""

from __future__ import annotations

from django.conf import settings

from hub.errors import RateLimited
from hub.gateway.throttle import hit

WINDOW = 60
DEFAULTS = {
    "login": (None, 30),  # no session yet: per IP only
    "phone": (5, 30),
    "member_code": (10, 120),
    "display": (20, 240),
    "claim": (20, 300),
}


def client_ip(request) -> str:
    """The caller's address as the web server saw it (behind a proxy, the proxy sets REMOTE_ADDR
    through its own configuration; X-Forwarded-For is not trusted here)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def check(action: str, *, request, session=None) -> None:
    """Count one ``action`` call for this session and IP; ``RATE_LIMITED`` past either limit."""
    limits = {**DEFAULTS, **getattr(settings, "MINIPROGRAM_RATE_LIMITS", {})}
    per_session, per_ip = limits[action]
    over = False
    if per_session is not None and session is not None:
        over |= hit(f"mp-rl:{action}:s:{session.pk}", window=WINDOW) > per_session
    if per_ip is not None:
        over |= hit(f"mp-rl:{action}:ip:{client_ip(request)}", window=WINDOW) > per_ip
    if over:
        raise RateLimited(detail={"retry_after": WINDOW})
