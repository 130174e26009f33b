"""Sweeps: expire lots, release expired holds, mature pending points, roll up shared accounts.

Each works in bounded batches (one transaction per batch, never all rows in memory), is safe to
run twice and concurrently with till traffic: they lock member accounts in id order before lots,
as the till does, and skip holds a till is confirming right now.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from hub.errors import DomainError
from points import rules
from points.contract import SHARED_KINDS
from points.models import Operation
from points.services import release_hold

logger = logging.getLogger("points.sweeps")
BATCH = 5000


def _batches(function: str, now: datetime, batch_size: int) -> int:
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s, %s)", [now, batch_size])
            done = cursor.fetchone()[0]
        total += done
        if done == 0:
            return total


def expire_lots(*, now: datetime | None = None, batch_size: int = BATCH) -> int:
    """Move points of lots past their expiry to the issuer's breakage account."""
    count = _batches("points_expire_batch", now or timezone.now(), batch_size)
    logger.info("expired %d lots", count)
    return count


def mature_pending(*, now: datetime | None = None, batch_size: int = BATCH) -> int:
    """Make pending points available once their return window has passed."""
    count = _batches("points_mature_batch", now or timezone.now(), batch_size)
    logger.info("matured %d lots", count)
    return count


def release_expired_holds(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Release holds not confirmed within 15 minutes. Each release is guarded on the hold still
    being frozen, so a confirm racing the sweep wins or loses cleanly (never both)."""
    now = now or timezone.now()
    released, last_id = 0, 0
    while True:
        holds = list(Operation.objects.select_related("program")
                     .filter(status=Operation.Status.FROZEN, hold_expires_at__lte=now, id__gt=last_id)
                     .order_by("id")[:batch_size])
        for op in holds:
            try:
                released += release_hold(op, now) is not None
            except DomainError as exc:  # the ledger refused this release: leave it for check_ledger
                logger.error("hold %s could not be released: %s", op.pk, exc.code)
        if len(holds) < batch_size:
            logger.info("released %d expired holds", released)
            return released
        last_id = holds[-1].id


def rollup_counterparties(*, business_day: date | None = None, now: datetime | None = None) -> int:
    """Sum each shared account's postings of a finished business day into CounterpartyRollup
    (recomputed whole, so running it again changes nothing). Defaults to yesterday."""
    now = now or timezone.now()
    day = business_day or rules.business_date(now) - timedelta(days=1)
    if day >= rules.business_date(now):
        raise ValueError("only finished business days can be rolled up")
    start = datetime(day.year, day.month, day.day, tzinfo=rules.SHANGHAI)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO points_counterparty_rollup (account_id, business_date, amount, postings)
               SELECT p.account_id, %s, sum(p.amount), count(*)
                 FROM points_posting p JOIN points_account a ON a.id = p.account_id AND a.kind = ANY (%s)
                WHERE p.created_at >= %s AND p.created_at < %s
                GROUP BY p.account_id
               ON CONFLICT (account_id, business_date)
               DO UPDATE SET amount = EXCLUDED.amount, postings = EXCLUDED.postings""",
            [day, [int(kind) for kind in SHARED_KINDS], start, start + timedelta(days=1)],
        )
        return cursor.rowcount
