"""Reads of the ledger for the till and the mini-program (no writes here)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from hub.errors import OrderNotExist
from points import rules
from points.common import agreement_for
from points.models import Operation

_STATUS = {
    Operation.Status.SUCCESS: "SUCCESS",
    Operation.Status.CONFIRMED: "SUCCESS",
    Operation.Status.FROZEN: "FROZEN",
    Operation.Status.RELEASED: "UNFROZEN",
    Operation.Status.REVERSED: "REVERSED",
    Operation.Status.REFUSED: "FAILED",
}


def balances(member, program, now: datetime | None = None) -> dict:
    """available (spendable: open, unexpired lots), pending and frozen points of one program."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.kind,
                      CASE WHEN a.kind = 3 THEN a.balance
                           ELSE (SELECT coalesce(sum(l.remaining), 0) FROM points_lot l
                                  WHERE l.account_id = a.id AND l.remaining > 0
                                    AND (l.expires_at IS NULL OR l.expires_at > %s)) END
                 FROM points_account a
                WHERE a.member_id = %s AND a.program_id = %s AND a.kind IN (1, 2, 3)""",
            [now, member.pk, program.pk],
        )
        found = {kind: int(total) for kind, total in cursor.fetchall()}
    return {"available": found.get(1, 0), "pending": found.get(2, 0), "frozen": found.get(3, 0)}


def redeemed_today(member, merchant, program, now: datetime) -> int:
    """Points counted toward the daily cap, as points_apply counts them (an expired hold the sweep
    has not released yet does not count)."""
    total = (Operation.objects.filter(
        member=member, merchant=merchant, program=program, business_date=rules.business_date(now),
        kind__in=(Operation.Kind.REDEEM, Operation.Kind.FREEZE),
        status__in=(Operation.Status.SUCCESS, Operation.Status.FROZEN, Operation.Status.CONFIRMED),
    ).exclude(status=Operation.Status.FROZEN, hold_expires_at__lte=now).aggregate(points=Sum("points"), back=Sum("refunded_points")))
    return (total["points"] or 0) - (total["back"] or 0)


def member_summary(*, merchant, member, now: datetime | None = None) -> dict:
    """The member summary a till may see (masked), for the merchant's default program (identify:
    ``points.till.identify``)."""
    now = now or timezone.now()
    agreement, _ = agreement_for(merchant)
    program = agreement.program
    held = balances(member, program, now)
    used = redeemed_today(member, merchant, program, now) if agreement.daily_cap_points is not None else 0
    return {
        "name_masked": member.masked_name,
        "mobile_masked": member.masked_mobile,
        "tier": member.tier.name,
        "points": held["available"],
        "points_value_fen": rules.points_value_fen(program, held["available"]),
        "point_value_fen_per_100": rules.points_value_fen(program, 100),
        "pending_points": held["pending"],
        "frozen_points": held["frozen"],
        "redeemable_points": rules.redeemable_now(agreement, spendable=held["available"], used_today=used),
        "rights": [],
    }


def query(*, merchant, request_no: str) -> dict:
    """查询: the state of a request by its number."""
    op = Operation.objects.filter(merchant=merchant, request_no=request_no).first()
    if op is None:
        raise OrderNotExist()
    if op.kind == Operation.Kind.TOMBSTONE:
        return {"request_no": request_no, "type": "unknown", "status": "REVERSED", "points": 0, "amount_fen": 0,
                "refunds": []}
    status = _STATUS[op.status]
    if status == "SUCCESS" and op.refunded_fen:
        status = "REFUNDED" if op.refunded_fen >= op.amount_fen else "PART_REFUNDED"
    refunds = [
        {"refund_no": r.request_no, "amount_fen": r.amount_fen,
         "points_clawed_back": (r.result or {}).get("points_clawed_back", 0),
         "points_returned": (r.result or {}).get("points_returned", 0),
         "status": _STATUS[r.status]}
        for r in op.children.filter(kind=Operation.Kind.REFUND).order_by("id")
    ]
    return {"request_no": request_no, "type": op.kind, "status": status, "points": op.points,
            "amount_fen": op.amount_fen, "refunds": refunds, "error_code": op.error_code}
