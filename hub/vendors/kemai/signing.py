"""Kemai's request and response signatures (pure functions, no Django).

Request:  ``Base64(HMAC-SHA256(secret, METHOD\\nPATH[?QUERY]\\nTIMESTAMP\\nNONCE\\nBODY\\n))`` in an
``Authorization: KEMAI-HMAC-SHA256 appid="…",nonce_str="…",timestamp="…",signature="…"`` header.
Response: ``Base64(HMAC-SHA256(secret, TIMESTAMP\\nNONCE\\nBODY\\n))`` in ``Hub-Signature``.
``BODY`` is the exact bytes sent. The scheme is hub.gateway.hmac_signing's, shared with the
native API; only the header's scheme and item names are Kemai's.
"""

from __future__ import annotations

from hub.gateway import hmac_signing
from hub.gateway.hmac_signing import (  # noqa: F401 - the shared HMAC scheme, re-exported
    request_signature,
    request_string,
    response_signature,
    same,
)

SCHEME = "KEMAI-HMAC-SHA256"
AUTH_ITEMS = ("appid", "nonce_str", "timestamp", "signature")


def authorization_header(*, appid: str, nonce: str, timestamp: str, signature: str) -> str:
    return hmac_signing.authorization_header(
        SCHEME, [("appid", appid), ("nonce_str", nonce), ("timestamp", timestamp), ("signature", signature)])


def parse_authorization(value: str) -> dict[str, str] | None:
    """The header's items by name, in whatever order they came; None if it is not one of ours.

    Unknown items are kept (and ignored by the caller); a repeated item makes the header invalid.
    """
    return hmac_signing.parse_authorization(value, scheme=SCHEME)
