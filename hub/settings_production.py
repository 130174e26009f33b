"""Production settings: the defaults of hub.settings are refused here.

    DJANGO_SETTINGS_MODULE=hub.settings_production

Besides the keys, production needs: ALLOWED_HOSTS (its development default is refused), a
shared cache (CACHE_URL=redis://…: rate limits, throttles and credential changes must hold
across every worker and host), and HTTPS. The hub answers over HTTPS only: plain HTTP is
redirected (SECURE_SSL_REDIRECT, on unless set to 0 where the proxy already redirects), and
browsers are told to keep to HTTPS (HSTS, SECURE_HSTS_SECONDS, a year unless set). Behind a
TLS-terminating proxy set SECURE_PROXY_SSL_HEADER to the header it sets (e.g.
``HTTP_X_FORWARDED_PROTO``); without it the header is not trusted, since anyone could send it.
"""

import base64
import binascii
import os

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from hub.settings import *  # noqa: F403
from hub.settings import (
    BLIND_INDEX_KEY,
    BLIND_INDEX_KEYS,
    CACHE_URL,
    DEV_BLIND_INDEX_KEY,
    DEV_FIELD_ENCRYPTION_KEY,
    DEV_FINGERPRINT_KEY,
    DEV_GATE_TICKET_KEY,
    DEV_SECRET_KEY,
    FANGXIANG_HUB_PRIVATE_KEY,
    FIELD_ENCRYPTION_KEYS,
    FINGERPRINT_KEY,
    GATE_TICKET_KEYS,
    HUB_MINIPROGRAM_CLIENTS,
    HUB_TILL_ADAPTERS,
    SECRET_KEY,
    SESSION_COOKIE_AGE,
    WECHAT_APP_ID,
    WECHAT_APP_SECRET,
    env_bool,
)

DEBUG = env_bool("DEBUG", False)

_problems = []
if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
    _problems.append("SECRET_KEY is the development default or shorter than 32 characters")


def _not_fernet(key: str) -> bool:
    try:
        Fernet(key.encode())
        return False
    except (ValueError, binascii.Error):
        return True


if not FIELD_ENCRYPTION_KEYS:
    _problems.append("FIELD_ENCRYPTION_KEYS is empty")
elif DEV_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
    _problems.append("FIELD_ENCRYPTION_KEYS contains the development key")
if any(_not_fernet(key) for key in FIELD_ENCRYPTION_KEYS):
    # otherwise the first read or write of personal data would fail, not the start
    _problems.append("FIELD_ENCRYPTION_KEYS contains a value that is not a Fernet key (32 url-safe base64 bytes)")
_index_ring, _index_name = (BLIND_INDEX_KEYS, "BLIND_INDEX_KEYS") if BLIND_INDEX_KEYS else ([BLIND_INDEX_KEY], "BLIND_INDEX_KEY")
if any(key == DEV_BLIND_INDEX_KEY or len(key) < 32 for key in _index_ring):
    _problems.append(f"{_index_name} is (or contains) the development default or a key shorter than 32 characters")
if FINGERPRINT_KEY == DEV_FINGERPRINT_KEY or len(FINGERPRINT_KEY) < 32:
    _problems.append("FINGERPRINT_KEY is the development default or shorter than 32 characters")


def _not_ticket_key(item: str) -> bool:
    kid, _, seed = item.partition(":")
    try:
        return not kid or len(base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))) != 32
    except (ValueError, binascii.Error):
        return True


if not GATE_TICKET_KEYS or DEV_GATE_TICKET_KEY.split(":")[1] in {k.partition(":")[2] for k in GATE_TICKET_KEYS}:
    _problems.append("GATE_TICKET_KEYS is empty or contains the sandbox key (offline gate tickets)")
elif any(_not_ticket_key(item) for item in GATE_TICKET_KEYS):
    _problems.append("GATE_TICKET_KEYS contains a value that is not kid:base64url(32-byte Ed25519 seed)")
if DEBUG:
    _problems.append("DEBUG must be off in production")
if "fangxiang" in HUB_TILL_ADAPTERS and not FANGXIANG_HUB_PRIVATE_KEY:
    _problems.append("FANGXIANG_HUB_PRIVATE_KEY is not set (the key that signs Fangxiang responses)")
if not os.environ.get("ALLOWED_HOSTS", "").strip():
    _problems.append("ALLOWED_HOSTS is not set (the development default is refused)")
if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    _problems.append("CACHE_URL (or REDIS_URL) is not a redis:// URL: rate limits, throttles and credential "
                     "changes need a cache shared by every worker")
else:
    try:
        import redis  # noqa: F401
    except ImportError:
        _problems.append("CACHE_URL names Redis but the redis package is missing (pip install 'clearing-hub[redis]')")
if SESSION_COOKIE_AGE >= 14 * 24 * 3600:
    _problems.append("SESSION_COOKIE_AGE must be shorter than 14 days (staff sessions; default 12 hours)")
if any(path.endswith(".FakeWeChat") for path in HUB_MINIPROGRAM_CLIENTS.values()):
    _problems.append("HUB_MINIPROGRAM_CLIENTS uses the fake WeChat of the sandbox (set MINIPROGRAM_WECHAT_CLIENT="
                     "members.miniprogram.clients.WeChatClient)")
if any(path.endswith(".WeChatClient") for path in HUB_MINIPROGRAM_CLIENTS.values()) and not (
        WECHAT_APP_ID and WECHAT_APP_SECRET):
    _problems.append("WECHAT_APP_ID and WECHAT_APP_SECRET must be set for the mini-program's WeChat client")
if _problems:
    raise ImproperlyConfigured("refusing to start: " + "; ".join(_problems))

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = (_proxy_header, "https")
if _proxy_header and not _proxy_header.startswith("HTTP_"):
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must name a request header as Django sees it, e.g. "
                               "HTTP_X_FORWARDED_PROTO")

# The API schema and Swagger UI: signed-in staff only (the admin's session).
API_DOCS_STAFF_ONLY = True
