"""What the gateway keeps, and for how long.

- Nonces (``hub_till_nonce``): the contract's window, 15 minutes per credential; then a nonce may
  come again (its old request is long refused by the ±300 s timestamp check).
- Call records (``hub_tillcall``): ``settings.GATEWAY_CALL_RETENTION_DAYS`` (90 by default).
- Expired rate-limit and throttle counters (``hub_gateway_counter``).

``prune`` deletes what is older, in slices so no statement holds locks for long; it runs daily
(the ``hub.prune_gateway`` task, scheduled in the admin's periodic tasks) and by hand with
``manage.py prune_gateway``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from hub.gateway import throttle

SLICE = 10_000


def _delete_in_slices(sql: str, params: list) -> int:
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, SLICE])
            deleted += cursor.rowcount
            if cursor.rowcount < SLICE:
                return deleted


def prune(*, now: datetime | None = None) -> dict[str, int]:
    from hub.gateway.service import NONCE_WINDOW

    now = now or timezone.now()
    calls_before = now - timedelta(days=getattr(settings, "GATEWAY_CALL_RETENTION_DAYS", 90))
    nonces = _delete_in_slices(
        """DELETE FROM hub_till_nonce WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM hub_till_nonce WHERE seen_at <= %s LIMIT %s))""", [now - NONCE_WINDOW])
    calls = _delete_in_slices(
        """DELETE FROM hub_tillcall WHERE id = ANY(ARRAY(
               SELECT id FROM hub_tillcall WHERE received_at < %s ORDER BY received_at LIMIT %s))""", [calls_before])
    return {"nonces": nonces, "calls": calls, "counters": throttle.prune_counters()}
