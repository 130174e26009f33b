"""Zhibaiwei's request KEY (pure functions, no Django).

``KEY = Nonce[0:4] + UPPER(MD5(Nonce|AppKey|AppSecret|DateTime|ParmJson)) + Nonce[4:8]``: 40
characters. ``ParmJson`` is signed exactly as the till sent it (the string value, UTF-8).
"""

from __future__ import annotations

import hashlib
import hmac


def make_key(*, nonce: str, app_key: str, app_secret: str, date_time: str, parm_json: str) -> str:
    material = "|".join((nonce, app_key, app_secret, date_time, parm_json)).encode("utf-8")
    return nonce[:4] + hashlib.md5(material).hexdigest().upper() + nonce[4:8]


def key_matches(key: str, *, nonce: str, app_key: str, app_secret: str, date_time: str, parm_json: str) -> bool:
    """Constant-time check of a received KEY against the one the secret gives."""
    expected = make_key(nonce=nonce, app_key=app_key, app_secret=app_secret, date_time=date_time, parm_json=parm_json)
    return hmac.compare_digest(expected.encode("utf-8"), key.encode("utf-8"))
