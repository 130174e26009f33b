"""Clearing batches: cut-offs, closing (set-based SQL), approval and settlement.

A batch is identified by its cut-off instant (``settings.CLEARING_CUTOFF``, "HH:MM" Asia/Shanghai,
default "00:00"). It takes every clearing item created *before* its cut-off that no earlier batch
took: the items of its own period [previous cut-off, cut-off), plus items of the previous period
that committed only after the previous batch closed (a till transaction running across the
close), looked for within ``settings.CLEARING_LATE_WINDOW_HOURS`` (default 24) before the period.
An item created exactly at the cut-off belongs to the next batch. Batches close in cut-off order.

Sign convention (docs/clearing.md): a clearing item says ``payer`` owes ``payee`` ``amount_fen``
of which the payer keeps ``fee_fen``. On each line the payer's position moves by −(amount − fee)
and the payee's by +(amount − fee), so the positions of a batch sum to zero to the fen.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hub.clearing.models import ClearingBatch
from hub.clearing.signals import batch_closed
from hub.errors import NoAuth, ParamError
from hub.timezone import SHANGHAI

logger = logging.getLogger("hub.clearing")

FINANCE = "财务"  # the role group (members.roles.FINANCE)
_CLOSE_LOCK = 0x6875_6263  # advisory lock key: one close at a time


# ---- cut-offs ---------------------------------------------------------------------------------

def cutoff_time() -> time:
    """The daily cut-off, local Asia/Shanghai time, from settings.CLEARING_CUTOFF ("HH:MM")."""
    raw = getattr(settings, "CLEARING_CUTOFF", "00:00")
    try:
        hour, minute = (int(part) for part in str(raw).split(":"))
        return time(hour, minute)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"settings.CLEARING_CUTOFF must be 'HH:MM', not {raw!r}") from exc


def late_window() -> timedelta:
    return timedelta(hours=int(getattr(settings, "CLEARING_LATE_WINDOW_HOURS", 24)))


def cutoff_on(day: date) -> datetime:
    """The cut-off instant on local day ``day``."""
    return datetime.combine(day, cutoff_time(), tzinfo=SHANGHAI)


def latest_cutoff(now: datetime) -> datetime:
    """The most recent cut-off at or before ``now``."""
    local_day = now.astimezone(SHANGHAI).date()
    for back in range(3):
        instant = cutoff_on(local_day - timedelta(days=back))
        if instant <= now:
            return instant
    raise AssertionError("unreachable")


def following_cutoff(after: datetime) -> datetime:
    """The first cut-off strictly after ``after``."""
    local_day = after.astimezone(SHANGHAI).date()
    for ahead in range(3):
        instant = cutoff_on(local_day + timedelta(days=ahead))
        if instant > after:
            return instant
    raise AssertionError("unreachable")


def clearing_date(cutoff_at: datetime) -> date:
    """The day a batch is named after: the local date just before its cut-off (a 00:00 cut-off
    on 3 March closes the batch of 2 March; a 22:00 cut-off on 3 March, that of 3 March)."""
    return (cutoff_at - timedelta(microseconds=1)).astimezone(SHANGHAI).date()


def _batch_for(cutoff_at: datetime) -> ClearingBatch:
    """The batch of ``cutoff_at``, created (open) if needed. Its period start is fixed when it
    closes (the cut-off of the batch before it). Closing creates and closes it in one
    transaction, so an open batch row exists only while it is being closed."""
    batch = ClearingBatch.objects.filter(cutoff_at=cutoff_at).first()
    if batch is not None:
        return batch
    previous = ClearingBatch.objects.filter(cutoff_at__lt=cutoff_at).order_by("-cutoff_at").first()
    later = ClearingBatch.objects.filter(cutoff_at__gt=cutoff_at).exclude(status=ClearingBatch.Status.OPEN).first()
    if later is not None:
        raise ParamError(f"已有更晚的批次（{later}）关闭，不能再建立截止时间更早的批次")
    return ClearingBatch.objects.create(
        cutoff_at=cutoff_at, period_start=previous.cutoff_at if previous else None,
        clearing_date=clearing_date(cutoff_at))


def pending_items(*, now: datetime | None = None) -> tuple[datetime, int]:
    """The next cut-off and how many clearing items wait for it (created since the last close)."""
    now = now or timezone.now()
    last = ClearingBatch.objects.exclude(status=ClearingBatch.Status.OPEN).order_by("-cutoff_at").first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM points_clearing_item WHERE created_at >= %s",
                       [last.cutoff_at if last else datetime(1970, 1, 1, tzinfo=SHANGHAI)])
        return following_cutoff(now), cursor.fetchone()[0]


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLOSE_LOCK])


# ---- closing ------------------------------------------------------------------------------------

_TAKE_ITEMS = """
WITH cand AS MATERIALIZED (
    SELECT c.id, c.payer_id, c.payee_id, c.program_id, c.kind, c.points, c.amount_fen, c.fee_fen, false AS late
      FROM points_clearing_item c
     WHERE c.created_at >= %(start)s AND c.created_at < %(cutoff)s
    UNION ALL
    SELECT c.id, c.payer_id, c.payee_id, c.program_id, c.kind, c.points, c.amount_fen, c.fee_fen, true
      FROM points_clearing_item c
     WHERE c.created_at >= %(late_since)s AND c.created_at < %(start)s
       AND NOT EXISTS (SELECT 1 FROM hub_clearing_batch_item m WHERE m.item_id = c.id)
), taken AS (
    INSERT INTO hub_clearing_batch_item (item_id, batch_id) SELECT id, %(batch)s FROM cand
), lines AS (
    INSERT INTO hub_clearing_line (batch_id, payer_id, payee_id, program_id, kind, item_count, points,
                                   gross_fen, fee_fen, net_fen)
    SELECT %(batch)s, payer_id, payee_id, program_id, kind, count(*), sum(points), sum(amount_fen),
           sum(fee_fen), sum(amount_fen) - sum(fee_fen)
      FROM cand GROUP BY payer_id, payee_id, program_id, kind
)
SELECT count(*), count(*) FILTER (WHERE late) FROM cand
"""

# The first batch takes everything before its cut-off (nothing can be in an earlier batch).
_TAKE_ALL_ITEMS = _TAKE_ITEMS.replace("c.created_at >= %(start)s AND ", "").replace(
    "c.created_at >= %(late_since)s AND c.created_at < %(start)s", "false")

_POSITIONS = """
INSERT INTO hub_clearing_position (batch_id, party_id, receivable_fen, fee_deducted_fen, payable_fen,
                                   fee_retained_fen, net_fen)
SELECT %(batch)s, party, sum(receivable), sum(deducted), sum(payable), sum(retained),
       sum(receivable) - sum(deducted) - sum(payable) + sum(retained)
  FROM (SELECT payee_id AS party, gross_fen AS receivable, fee_fen AS deducted, 0 AS payable, 0 AS retained
          FROM hub_clearing_line WHERE batch_id = %(batch)s
        UNION ALL
        SELECT payer_id, 0, 0, gross_fen, fee_fen
          FROM hub_clearing_line WHERE batch_id = %(batch)s) x
 GROUP BY party
"""

# Net per pair of parties {a < b}: s = what a owes b overall; a pays b when s > 0, b pays a when s < 0.
_INSTRUCTIONS = """
INSERT INTO hub_settlement_instruction (batch_id, payer_id, payee_id, amount_fen)
SELECT %(batch)s, CASE WHEN s > 0 THEN a ELSE b END, CASE WHEN s > 0 THEN b ELSE a END, abs(s)
  FROM (SELECT least(payer_id, payee_id) AS a, greatest(payer_id, payee_id) AS b,
               sum(CASE WHEN payer_id < payee_id THEN net_fen ELSE -net_fen END) AS s
          FROM hub_clearing_line
         WHERE batch_id = %(batch)s AND payer_id <> payee_id
         GROUP BY 1, 2) pairs
 WHERE s <> 0
"""

# The names the batch's files show, as they are at the close (a rename later changes no file).
_NAMES = """
SELECT jsonb_build_object(
    'parties', coalesce((SELECT jsonb_object_agg(m.id::text, jsonb_build_array(m.code, m.name))
                           FROM hub_merchant m
                          WHERE m.id IN (SELECT party_id FROM hub_clearing_position WHERE batch_id = %(batch)s)),
                        '{}'::jsonb),
    'programs', coalesce((SELECT jsonb_object_agg(p.id::text, p.name)
                            FROM points_program p
                           WHERE p.id IN (SELECT program_id FROM hub_clearing_line WHERE batch_id = %(batch)s)),
                         '{}'::jsonb))
"""

_TOTALS = """
SELECT (SELECT coalesce(sum(gross_fen), 0) FROM hub_clearing_line WHERE batch_id = %(batch)s),
       (SELECT coalesce(sum(fee_fen), 0) FROM hub_clearing_line WHERE batch_id = %(batch)s),
       (SELECT coalesce(sum(net_fen), 0) FROM hub_clearing_position WHERE batch_id = %(batch)s),
       (SELECT coalesce(sum(amount_fen), 0) FROM hub_settlement_instruction WHERE batch_id = %(batch)s)
"""


def close_batch(*, cutoff_at: datetime, actor=None, now: datetime | None = None) -> ClearingBatch:
    """Close the batch of ``cutoff_at`` (by ``actor``, or the system when None). Closing an
    already closed batch returns it unchanged. Statements are built after the commit."""
    return _close(cutoff_at=cutoff_at, actor=actor, now=now)[0]


@transaction.atomic
def _close(*, cutoff_at: datetime, actor=None, now: datetime | None = None) -> tuple[ClearingBatch, bool]:
    """(the batch, whether this call closed it): another worker may have closed it while this
    one waited for the close lock."""
    now = now or timezone.now()
    if cutoff_at > now:
        raise ParamError("未到截止时间，不能关闭该批次")
    _lock()
    batch = _batch_for(cutoff_at)
    if batch.status != ClearingBatch.Status.OPEN:
        return batch, False
    earlier = ClearingBatch.objects.filter(cutoff_at__lt=cutoff_at, status=ClearingBatch.Status.OPEN).first()
    if earlier is not None:
        raise ParamError(f"请先关闭更早的批次（{earlier}）")
    previous = ClearingBatch.objects.filter(cutoff_at__lt=cutoff_at).order_by("-cutoff_at").first()
    start = previous.cutoff_at if previous else None

    params = {"batch": batch.pk, "cutoff": cutoff_at, "start": start,
              "late_since": start - late_window() if start else None}
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_ITEMS if start else _TAKE_ALL_ITEMS, params)
        item_count, late_count = cursor.fetchone()
        cursor.execute(_POSITIONS, params)
        cursor.execute(_INSTRUCTIONS, params)
        cursor.execute(_TOTALS, params)
        gross, fee, net_sum, transfer = cursor.fetchone()
        cursor.execute(_NAMES, params)
        names = cursor.fetchone()[0]
        if isinstance(names, str):
            names = json.loads(names)
    if net_sum != 0:  # cannot happen by construction; never close a batch that does not balance
        raise RuntimeError(f"clearing batch {batch.pk}: positions sum to {net_sum}, not 0")

    ClearingBatch.objects.filter(pk=batch.pk).update(
        status=ClearingBatch.Status.CLOSED, period_start=start, closed_at=now, closed_by=actor, item_count=item_count,
        late_item_count=late_count, gross_fen=gross, fee_fen=fee, transfer_fen=transfer, names=names)
    batch.refresh_from_db()
    logger.info("closed clearing batch %s (cut-off %s): %d items (%d late), gross %d fen, fees %d fen",
                batch.pk, cutoff_at.isoformat(), item_count, late_count, gross, fee)
    transaction.on_commit(lambda: queue_documents(batch.pk))
    return batch, True


def queue_documents(batch_id: int) -> None:
    """Ask for the statements of a closed batch to be built (hub.clearing.tasks listens)."""
    batch_closed.send(sender=ClearingBatch, batch_id=batch_id)


def close_due_batches(*, now: datetime | None = None, actor=None) -> list[ClearingBatch]:
    """Close, in order, every batch whose cut-off has passed and that is not closed yet (one
    transaction each). Safe to run twice: returns only the batches this call closed (not one
    another worker closed while this one waited for the lock)."""
    now = now or timezone.now()
    due = latest_cutoff(now)
    closed = []
    while True:
        last = (ClearingBatch.objects.exclude(status=ClearingBatch.Status.OPEN).order_by("-cutoff_at").first())
        cutoff = following_cutoff(last.cutoff_at) if last else due
        if cutoff > due:
            return closed
        batch, closed_now = _close(cutoff_at=cutoff, actor=actor, now=now)
        if closed_now:
            closed.append(batch)


# ---- approval and settlement --------------------------------------------------------------------

def in_finance(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.groups.filter(name=FINANCE).exists())


def _locked(batch: ClearingBatch) -> ClearingBatch:
    return ClearingBatch.objects.select_for_update().get(pk=batch.pk)


@transaction.atomic
def approve_batch(*, batch: ClearingBatch, user, now: datetime | None = None) -> ClearingBatch:
    """审批: a 财务 user other than the one who closed the batch approves it."""
    batch = _locked(batch)
    if (batch.status in (ClearingBatch.Status.APPROVED, ClearingBatch.Status.SETTLED)
            and batch.approved_by_id == getattr(user, "pk", None)):
        return batch  # approved by this user already (and perhaps settled since): nothing to do
    if not in_finance(user):
        raise NoAuth("只有财务人员可以审批清算批次")
    if batch.status != ClearingBatch.Status.CLOSED:
        raise ParamError(f"批次状态为“{batch.get_status_display()}”，只有已关闭的批次可以审批")
    if batch.closed_by_id is not None and batch.closed_by_id == user.pk:
        raise NoAuth("关闭批次的人不能审批同一批次，请由另一位财务人员审批")
    ClearingBatch.objects.filter(pk=batch.pk).update(
        status=ClearingBatch.Status.APPROVED, approved_by=user, approved_at=now or timezone.now())
    batch.refresh_from_db()
    logger.info("clearing batch %s approved by user %s", batch.pk, user.pk)
    return batch


@transaction.atomic
def settle_batch(*, batch: ClearingBatch, user, bank_reference: str, now: datetime | None = None) -> ClearingBatch:
    """结算: finance records that the batch's settlement instructions were paid."""
    reference = (bank_reference or "").strip()
    if not reference or len(reference) > 64:
        raise ParamError("请填写银行流水号（不超过 64 个字符）")
    batch = _locked(batch)
    if batch.status == ClearingBatch.Status.SETTLED and batch.bank_reference == reference:
        return batch
    if not in_finance(user):
        raise NoAuth("只有财务人员可以登记结算")
    if batch.status != ClearingBatch.Status.APPROVED:
        raise ParamError(f"批次状态为“{batch.get_status_display()}”，只有已审批的批次可以登记结算")
    ClearingBatch.objects.filter(pk=batch.pk).update(
        status=ClearingBatch.Status.SETTLED, settled_by=user, settled_at=now or timezone.now(),
        bank_reference=reference)
    batch.refresh_from_db()
    logger.info("clearing batch %s settled by user %s, bank reference %s", batch.pk, user.pk, reference)
    return batch
