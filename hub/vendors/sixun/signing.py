"""Sixun signatures (sixun.md, "Signature"): pure functions, no settings, no I/O.

Every field with a non-empty value except ``sign``, sorted by name, joined ``k1=v1&k2=v2…``,
then ``&key=`` + secret. ``MD5``: upper-case hex MD5 of that string; ``HMAC-SHA256``: upper-case
hex HMAC-SHA256 of it with the secret as key. Unknown extra fields are signed like the others.

The string is hashed as bytes in the document's own declared encoding (UTF-8 or GBK): a GBK
back office hashes the text it holds, which is GBK. For ASCII-only fields (the test vectors, and
nearly every request) both encodings give the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_TYPES = ("MD5", "HMAC-SHA256")
DEFAULT_SIGN_TYPE = "MD5"


def string_to_sign(fields: Mapping[str, str], secret: str) -> str:
    items = sorted((name, value) for name, value in fields.items() if name != "sign" and value != "")
    return "&".join(f"{name}={value}" for name, value in items) + "&key=" + secret


def sign(fields: Mapping[str, str], secret: str, sign_type: str = DEFAULT_SIGN_TYPE, *, encoding: str = "utf-8") -> str:
    message = string_to_sign(fields, secret).encode(encoding)
    if sign_type == "MD5":
        return hashlib.md5(message).hexdigest().upper()
    if sign_type == "HMAC-SHA256":
        return hmac.new(secret.encode(encoding), message, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown Sixun sign_type {sign_type!r}")


def verify(fields: Mapping[str, str], secret: str, signature: str, sign_type: str, *, encoding: str = "utf-8") -> bool:
    """Constant-time check of ``signature`` (hex, either case) against the fields."""
    if not secret or not signature:
        return False
    try:
        expected = sign(fields, secret, sign_type, encoding=encoding)
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), signature.upper().encode("ascii", "replace"))


def sign_type_of(signature: str) -> str | None:
    """Responses carry no sign_type: the digest length tells MD5 (32 hex) from HMAC-SHA256 (64)."""
    return {32: "MD5", 64: "HMAC-SHA256"}.get(len(signature))
