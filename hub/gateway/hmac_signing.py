"""HMAC-SHA256 signing shared by the header-signed JSON dialects (Kemai, the native API).

Both sign a request over ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n`` and every answer with
``Hub-Timestamp``, ``Hub-Nonce`` and ``Hub-Signature = Base64(HMAC-SHA256(secret,
TIMESTAMP\\nNONCE\\nBODY\\n))``; only their ``Authorization`` header formats differ.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from hub.gateway.base import CredentialKeys


def hmac_b64(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def request_string(*, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes a request signature covers."""
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def request_signature(secret: str, *, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac_b64(secret, request_string(method=method, path=path, timestamp=timestamp, nonce=nonce, body=body))


def response_signature(secret: str, *, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac_b64(secret, f"{timestamp}\n{nonce}\n".encode() + body + b"\n")


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def candidate_secrets(keys: CredentialKeys | None) -> tuple[str, ...]:
    """The secret that verified the request first, then the others valid now."""
    if keys is None:
        return ()
    return tuple(s for s in (keys.secret, *keys.secrets) if s)


def sign_response(response, *, keys: CredentialKeys | None, body: bytes, timestamp: str, nonce: str) -> None:
    """Add the Hub-* signature headers; an unauthenticated request's answer stays unsigned."""
    secret = next(iter(candidate_secrets(keys)), "")
    if secret:
        response["Hub-Timestamp"] = timestamp
        response["Hub-Nonce"] = nonce
        response["Hub-Signature"] = response_signature(secret, timestamp=timestamp, nonce=nonce, body=body)


def response_signed(headers: dict, body: bytes, keys: CredentialKeys) -> bool:
    """Whether an answer carries a valid Hub-* signature under one of the credential's secrets."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    stamp, nonce, given = (lowered.get(f"hub-{n}") for n in ("timestamp", "nonce", "signature"))
    return bool(stamp and nonce and given) and any(
        same(response_signature(s, timestamp=stamp, nonce=nonce, body=body), given) for s in candidate_secrets(keys))


_ITEM = re.compile(r'^\s*([A-Za-z_]+)\s*=\s*"([^",]*)"\s*$')


def authorization_header(scheme: str, items: list[tuple[str, str]]) -> str:
    return f"{scheme} " + ",".join(f'{name}="{value}"' for name, value in items)


def parse_authorization(value: str, *, scheme: str, known: tuple[str, ...] | None = None) -> dict[str, str] | None:
    """The items of ``SCHEME k1="v1",k2="v2"…`` by name, in whatever order they came; None if the
    header is not of ``scheme`` or malformed. A repeated item makes it invalid; with ``known``
    an item not listed does too (otherwise unknown items are kept for the caller to ignore)."""
    name, _, rest = value.strip().partition(" ")
    if name != scheme or not rest.strip():
        return None
    items: dict[str, str] = {}
    for part in rest.split(","):
        match = _ITEM.match(part)
        if match is None or match.group(1) in items or (known is not None and match.group(1) not in known):
            return None
        items[match.group(1)] = match.group(2)
    return items
