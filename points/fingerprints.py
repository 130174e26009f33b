"""Re-keying stored fingerprints (``points_operation.fingerprint``).

Until the fingerprint became a keyed HMAC (``points.common.fingerprint``) it was a bare SHA-256
hex digest of the request's JSON, which held the member credential as sent: a mobile number
could be recovered from the table by brute force. The content cannot be recomputed from the row,
so each such digest is itself signed with the key and marked ``L``: nothing of the old digest is
left, and such a row no longer equals any new request's fingerprint (a retry of a request
recorded before the upgrade answers ``IDEMPOTENCY_KEY_REUSED``; tills retry within minutes).

New fingerprints are 43 characters of URL-safe Base64, re-keyed ones 44 starting with ``L``, so
a bare 64-character hex digest is always a legacy one: re-keying is safe to run again.
"""

from __future__ import annotations

import re

from points.common import _hmac

LEGACY = re.compile(r"^[0-9a-f]{64}$")
BATCH = 2000


def rekey_legacy(stored: str, *, key: str) -> str:
    return "L" + _hmac(key, b"legacy-sha256:" + stored.encode())


def rekey_legacy_rows(operation_model, *, key: str | None = None) -> int:
    """Re-key every legacy fingerprint, in batches; returns how many rows changed."""
    from django.conf import settings

    key = key or settings.FINGERPRINT_KEY
    changed = 0
    last = 0
    while True:
        rows = list(operation_model.objects.filter(pk__gt=last, fingerprint__regex=r"^[0-9a-f]{64}$")
                    .order_by("pk").values_list("pk", "fingerprint")[:BATCH])
        if not rows:
            return changed
        for pk, stored in rows:
            operation_model.objects.filter(pk=pk, fingerprint=stored).update(fingerprint=rekey_legacy(stored, key=key))
            changed += 1
        last = rows[-1][0]
