"""The PII vault: encryption at rest with a rotating key ring, blind indexes, masking.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) from the ``cryptography`` package.
``settings.FIELD_ENCRYPTION_KEYS`` is a key ring, newest first: the newest key encrypts, every
key decrypts, and ``manage.py reencrypt_pii`` re-encrypts rows still under an older key.

A blind index (keyed HMAC-SHA256 of the normalised value) allows exact lookups — "the member
with this mobile" — without storing the value or being able to reverse it. Its keys are a ring
too (``settings.BLIND_INDEX_KEYS``, newest first, or the single ``BLIND_INDEX_KEY``): a value is
written under the newest key and looked up under every key, so changing the key has a
transition (``reencrypt_pii --reindex`` then moves the stored indexes to the newest key).

A stored value that no key opens (a corrupt token, a key removed too early) is read as an
``Unreadable`` placeholder instead of failing the whole row: a caller that does not need that
column never notices, masks show ``无法解密``, and using it as a value raises ``VaultError``.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class VaultError(Exception):
    pass


UNREADABLE_LABEL = "无法解密"


class Unreadable:
    """A stored value that no key of the ring decrypts. It keeps the raw token, so saving the
    row again writes back exactly what was there (nothing is lost); it is never equal to a
    value, and turning it into text raises ``VaultError``."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token

    def __str__(self) -> str:
        raise VaultError("value cannot be decrypted with any key of the ring")

    def __repr__(self) -> str:
        return "<Unreadable>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Unreadable) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        raise VaultError("value cannot be decrypted with any key of the ring")


def is_unreadable(value) -> bool:
    return isinstance(value, Unreadable)


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


def decrypt_or_unreadable(token: str):
    """The plain value, or an ``Unreadable`` holding the token if no key opens it."""
    try:
        return decrypt(token)
    except (VaultError, UnicodeError):
        return Unreadable(token)


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key (no-op in meaning, new ciphertext)."""
    try:
        return ring().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise VaultError("value cannot be decrypted with any key of the ring") from exc


def is_current(token: str) -> bool:
    """True if the token decrypts with the newest key alone."""
    newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        newest.decrypt(token.encode("ascii"))
        return True
    except (InvalidToken, UnicodeError):
        return False


def index_keys() -> list[str]:
    """The blind-index key ring, newest first: ``BLIND_INDEX_KEYS`` if set, else the one
    ``BLIND_INDEX_KEY``."""
    keys = [k for k in (getattr(settings, "BLIND_INDEX_KEYS", None) or ()) if k]
    if not keys:
        keys = [settings.BLIND_INDEX_KEY]
    if not all(keys):
        raise VaultError("the blind index key ring is empty")
    return keys


def _index_under(key: str, value: str, purpose: str) -> str:
    digest_key = hashlib.sha256(f"{purpose}:{key}".encode()).digest()
    normalised = unicodedata.normalize("NFKC", value).strip().upper()
    return hmac.new(digest_key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed HMAC of a normalised value under the newest index key (what is written);
    ``purpose`` separates indexes (mobile vs. ID number)."""
    return _index_under(index_keys()[0], value, purpose)


def blind_indexes(value: str, *, purpose: str) -> list[str]:
    """The value's blind index under every key of the ring, newest first (what is looked up:
    a row not yet reindexed is still found, so a key change lets no duplicate in)."""
    return [_index_under(key, value, purpose) for key in index_keys()]


def mask_mobile(mobile: str | None) -> str:
    if is_unreadable(mobile):
        return UNREADABLE_LABEL
    if not mobile:
        return ""
    if len(mobile) < 7:
        return "*" * len(mobile)
    return f"{mobile[:3]}****{mobile[-4:]}"


def mask_mobile_short(mobile: str | None) -> str:
    """The ops-site mask: the last 4 digits only (``*******5678``). Showing the first 3 as well
    would leave 10,000 candidates to an exact-search probe."""
    if is_unreadable(mobile):
        return UNREADABLE_LABEL
    if not mobile:
        return ""
    if len(mobile) < 8:
        return "*" * len(mobile)
    return "*" * (len(mobile) - 4) + mobile[-4:]


def mask_name(name: str | None) -> str:
    if is_unreadable(name):
        return UNREADABLE_LABEL
    if not name:
        return ""
    return "*" * (len(name) - 1) + name[-1] if len(name) > 1 else "*"


def mask_id_number_short(id_no: str | None) -> str:
    """The ops-site mask: the last 4 characters only (``**************002X``); the first 4
    (province and city) plus the last 4 left county × birth date to guess."""
    if is_unreadable(id_no):
        return UNREADABLE_LABEL
    if not id_no:
        return ""
    if len(id_no) <= 8:
        return "*" * len(id_no)
    return "*" * (len(id_no) - 4) + id_no[-4:]


def mask_external_id(value: str | None) -> str:
    """A merchant's card number (often the mobile itself): the last 4 characters only."""
    if not value:
        return ""
    keep = 4 if len(value) >= 8 else 2 if len(value) >= 5 else 0
    return "*" * (len(value) - keep) + value[len(value) - keep:]


def mask_id_number(id_no: str | None) -> str:
    if is_unreadable(id_no):
        return UNREADABLE_LABEL
    if not id_no:
        return ""
    if len(id_no) <= 8:
        return "*" * len(id_no)
    return f"{id_no[:4]}{'*' * (len(id_no) - 8)}{id_no[-4:]}"
