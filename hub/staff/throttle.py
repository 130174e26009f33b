"""Login throttling and lockout, per user and per client address, on the shared counters of
hub.gateway.throttle (Redis in production, a PostgreSQL row otherwise: every worker sees the
same counts).

A failed password or a wrong second-factor code counts against the username and against the
address; at ``LOGIN_FAILURES_PER_USER`` (per username) or ``LOGIN_FAILURES_PER_IP`` (per
address) failures within ``LOGIN_LOCKOUT_SECONDS`` further attempts are refused, even with the
right password, until the window ends. Counters are fixed windows from the first failure.
"""

from __future__ import annotations

import hashlib
import ipaddress

from django.conf import settings

from hub.gateway import throttle

LOCKED_MESSAGE = "登录失败次数过多，账号或所在网络已被暂时锁定，请 {minutes} 分钟后再试"


def _window() -> int:
    return int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 900))


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, which a deployment behind a proxy sets from the proxy's
    header in the proxy itself (a forwarded-for header from the client is never trusted here)."""
    raw = (request.META.get("REMOTE_ADDR") or "") if request is not None else ""
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return "unknown"


def _user_key(username: str) -> str:
    # hashed: keys are bounded and carry no user name into Redis or the counter table
    digest = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    return f"login-user:{digest}"


def _ip_key(ip: str) -> str:
    return f"login-ip:{ip}"


def locked(*, username: str, ip: str) -> bool:
    return (throttle.count(_user_key(username)) >= settings.LOGIN_FAILURES_PER_USER
            or throttle.count(_ip_key(ip)) >= settings.LOGIN_FAILURES_PER_IP)


def count_failure(*, username: str, ip: str) -> None:
    window = _window()
    throttle.hit(_user_key(username), window=window)
    throttle.hit(_ip_key(ip), window=window)


def locked_message() -> str:
    return LOCKED_MESSAGE.format(minutes=max(1, _window() // 60))
