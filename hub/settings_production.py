"""Production settings: the defaults of hub.settings are refused here.

    DJANGO_SETTINGS_MODULE=hub.settings_production
"""

import binascii

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from hub.settings import *  # noqa: F403
from hub.settings import (
    BLIND_INDEX_KEY,
    BLIND_INDEX_KEYS,
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
if DEBUG:
    _problems.append("DEBUG must be off in production")
if "fangxiang" in HUB_TILL_ADAPTERS and not FANGXIANG_HUB_PRIVATE_KEY:
    _problems.append("FANGXIANG_HUB_PRIVATE_KEY is not set (the key that signs Fangxiang responses)")
if _problems:
    raise ImproperlyConfigured("refusing to start: " + "; ".join(_problems))

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
