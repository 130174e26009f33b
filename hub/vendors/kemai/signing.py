"""Kemai's request and response signatures (pure functions, no Django).

Request:  ``Base64(HMAC-SHA256(secret, METHOD\\nPATH[?QUERY]\\nTIMESTAMP\\nNONCE\\nBODY\\n))`` in an
``Authorization: KEMAI-HMAC-SHA256 appid="…",nonce_str="…",timestamp="…",signature="…"`` header.
Response: ``Base64(HMAC-SHA256(secret, TIMESTAMP\\nNONCE\\nBODY\\n))`` in ``Hub-Signature``.
``BODY`` is the exact bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SCHEME = "KEMAI-HMAC-SHA256"
AUTH_ITEMS = ("appid", "nonce_str", "timestamp", "signature")
_ITEM = re.compile(r'^\s*([A-Za-z_]+)\s*=\s*"([^",]*)"\s*$')


def _hmac_b64(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def request_signature(secret: str, *, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    head = f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return _hmac_b64(secret, head + body + b"\n")


def response_signature(secret: str, *, timestamp: str, nonce: str, body: bytes) -> str:
    return _hmac_b64(secret, f"{timestamp}\n{nonce}\n".encode() + body + b"\n")


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def authorization_header(*, appid: str, nonce: str, timestamp: str, signature: str) -> str:
    return f'{SCHEME} appid="{appid}",nonce_str="{nonce}",timestamp="{timestamp}",signature="{signature}"'


def parse_authorization(value: str) -> dict[str, str] | None:
    """The header's items by name, in whatever order they came; None if it is not one of ours.

    Unknown items are kept (and ignored by the caller); a repeated item makes the header invalid.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme != SCHEME or not rest.strip():
        return None
    items: dict[str, str] = {}
    for part in rest.split(","):
        match = _ITEM.match(part)
        if match is None or match.group(1) in items:
            return None
        items[match.group(1)] = match.group(2)
    return items
