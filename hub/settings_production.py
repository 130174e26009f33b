"""Production settings: the defaults of hub.settings are refused here.

    DJANGO_SETTINGS_MODULE=hub.settings_production
"""

from django.core.exceptions import ImproperlyConfigured

from hub.settings import *  # noqa: F403
from hub.settings import (
    BLIND_INDEX_KEY,
    DEV_BLIND_INDEX_KEY,
    DEV_FIELD_ENCRYPTION_KEY,
    DEV_FINGERPRINT_KEY,
    DEV_SECRET_KEY,
    FANGXIANG_HUB_PRIVATE_KEY,
    FIELD_ENCRYPTION_KEYS,
    FINGERPRINT_KEY,
    HUB_TILL_ADAPTERS,
    SECRET_KEY,
    env_bool,
)

DEBUG = env_bool("DEBUG", False)

_problems = []
if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
    _problems.append("SECRET_KEY is the development default or shorter than 32 characters")
if DEV_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
    _problems.append("FIELD_ENCRYPTION_KEYS contains the development key")
if BLIND_INDEX_KEY == DEV_BLIND_INDEX_KEY or len(BLIND_INDEX_KEY) < 32:
    _problems.append("BLIND_INDEX_KEY is the development default or shorter than 32 characters")
if FINGERPRINT_KEY == DEV_FINGERPRINT_KEY or len(FINGERPRINT_KEY) < 32:
    _problems.append("FINGERPRINT_KEY is the development default or shorter than 32 characters")
if DEBUG:
    _problems.append("DEBUG must be off in production")
if "fangxiang" in HUB_TILL_ADAPTERS and not FANGXIANG_HUB_PRIVATE_KEY:
    _problems.append("FANGXIANG_HUB_PRIVATE_KEY is not set (the key that signs Fangxiang responses)")
if _problems:
    raise ImproperlyConfigured("refusing to start: " + "; ".join(_problems))

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
