"""Kemai's request and response signatures (pure functions, no Django).

Request:  ``Base64(HMAC-SHA256(secret, METHOD\\nPATH[?QUERY]\\nTIMESTAMP\\nNONCE\\nBODY\\n))`` in an
``Authorization: KEMAI-HMAC-SHA256 appid="…",nonce_str="…",timestamp="…",signature="…"`` header.
Response: ``Base64(HMAC-SHA256(secret, TIMESTAMP\\nNONCE\\nBODY\\n))`` in ``Hub-Signature``.
``BODY`` is the exact bytes sent.
"""

from __future__ import annotations

import re

from hub.gateway.hmac_signing import (  # noqa: F401 - the shared HMAC scheme, re-exported
    request_signature,
    request_string,
    response_signature,
    same,
)

SCHEME = "KEMAI-HMAC-SHA256"
AUTH_ITEMS = ("appid", "nonce_str", "timestamp", "signature")
_ITEM = re.compile(r'^\s*([A-Za-z_]+)\s*=\s*"([^",]*)"\s*$')


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
