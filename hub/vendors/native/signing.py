"""The native API's request and response signatures (pure functions, no Django).

Request:  ``Base64(HMAC-SHA256(secret, METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n))``,
sent as ``Authorization: HUB-HMAC-SHA256 app_key="…",timestamp="…",nonce="…",signature="…"``.
Response: ``Base64(HMAC-SHA256(secret, TIMESTAMP\\nNONCE\\nBODY\\n))`` in ``Hub-Signature``, with
``Hub-Timestamp`` and ``Hub-Nonce``. ``BODY`` is the exact bytes on the wire (empty for GET).
"""

from __future__ import annotations

import re

from hub.gateway.hmac_signing import (  # noqa: F401 - the shared HMAC scheme, re-exported
    request_signature,
    request_string,
    response_signature,
    same,
)

SCHEME = "HUB-HMAC-SHA256"
AUTH_ITEMS = ("app_key", "timestamp", "nonce", "signature")
_ITEM = re.compile(r'^\s*([A-Za-z_]+)\s*=\s*"([^",]*)"\s*$')


def authorization_header(*, app_key: str, timestamp: str, nonce: str, signature: str) -> str:
    return f'{SCHEME} app_key="{app_key}",timestamp="{timestamp}",nonce="{nonce}",signature="{signature}"'


def parse_authorization(value: str) -> dict[str, str] | None:
    """The header's items by name, in any order; None if the header is not ours or malformed.

    A repeated or unknown item makes the header invalid: the format is the hub's own, so there is
    nothing to be lenient about.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme != SCHEME or not rest.strip():
        return None
    items: dict[str, str] = {}
    for part in rest.split(","):
        match = _ITEM.match(part)
        if match is None or match.group(1) in items or match.group(1) not in AUTH_ITEMS:
            return None
        items[match.group(1)] = match.group(2)
    return items
