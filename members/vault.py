"""The PII vault: encryption at rest with a rotating key ring, blind indexes, masking.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) from the ``cryptography`` package.
``settings.FIELD_ENCRYPTION_KEYS`` is a key ring, newest first: the newest key encrypts, every
key decrypts, and ``manage.py reencrypt_pii`` re-encrypts rows still under an older key.

A blind index (keyed HMAC-SHA256 of the normalised value) allows exact lookups — "the member
with this mobile" — without storing the value or being able to reverse it.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class VaultError(Exception):
    pass


@lru_cache(maxsize=8)
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise VaultError("FIELD_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def ring() -> MultiFernet:
    return _ring(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return ring().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return ring().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise VaultError("value cannot be decrypted with any key of the ring") from exc


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key (no-op in meaning, new ciphertext)."""
    return ring().rotate(token.encode("ascii")).decode("ascii")


def is_current(token: str) -> bool:
    """True if the token decrypts with the newest key alone."""
    newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        newest.decrypt(token.encode("ascii"))
        return True
    except InvalidToken:
        return False


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed HMAC of a normalised value; ``purpose`` separates indexes (mobile vs. ID number)."""
    key = hashlib.sha256(f"{purpose}:{settings.BLIND_INDEX_KEY}".encode()).digest()
    return hmac.new(key, value.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()


def mask_mobile(mobile: str | None) -> str:
    if not mobile:
        return ""
    if len(mobile) < 7:
        return "*" * len(mobile)
    return f"{mobile[:3]}****{mobile[-4:]}"


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return "*" * (len(name) - 1) + name[-1] if len(name) > 1 else "*"


def mask_id_number(id_no: str | None) -> str:
    if not id_no:
        return ""
    if len(id_no) <= 8:
        return "*" * len(id_no)
    return f"{id_no[:4]}{'*' * (len(id_no) - 8)}{id_no[-4:]}"
