"""The native API's request and response signatures (pure functions, no Django).

Request:  ``Base64(HMAC-SHA256(secret, METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n))``,
sent as ``Authorization: HUB-HMAC-SHA256 app_key="…",timestamp="…",nonce="…",signature="…"``.
Response: ``Base64(HMAC-SHA256(secret, TIMESTAMP\\nNONCE\\nBODY\\n))`` in ``Hub-Signature``, with
``Hub-Timestamp`` and ``Hub-Nonce``. ``BODY`` is the exact bytes on the wire (empty for GET). The
scheme is hub.gateway.hmac_signing's, shared with Kemai.
"""

from __future__ import annotations

from hub.gateway import hmac_signing
from hub.gateway.hmac_signing import (  # noqa: F401 - the shared HMAC scheme, re-exported
    request_signature,
    request_string,
    response_signature,
    same,
)

SCHEME = "HUB-HMAC-SHA256"
AUTH_ITEMS = ("app_key", "timestamp", "nonce", "signature")


def authorization_header(*, app_key: str, timestamp: str, nonce: str, signature: str) -> str:
    return hmac_signing.authorization_header(
        SCHEME, [("app_key", app_key), ("timestamp", timestamp), ("nonce", nonce), ("signature", signature)])


def parse_authorization(value: str) -> dict[str, str] | None:
    """The header's items by name, in any order; None if the header is not ours or malformed.

    A repeated or unknown item makes the header invalid: the format is the hub's own, so there is
    nothing to be lenient about.
    """
    return hmac_signing.parse_authorization(value, scheme=SCHEME, known=AUTH_ITEMS)
