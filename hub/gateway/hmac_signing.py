"""HMAC-SHA256 signing shared by the header-signed JSON dialects (Kemai, the native API).

Both sign a request over ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n`` and every answer with
``Hub-Timestamp``, ``Hub-Nonce`` and ``Hub-Signature = Base64(HMAC-SHA256(secret,
TIMESTAMP\\nNONCE\\nBODY\\n))``; only their ``Authorization`` header formats differ.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

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
