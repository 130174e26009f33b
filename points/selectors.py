"""Reads of the ledger for the till and the mini-program (no writes here)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from hub.db import fetch_prepared
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
    rows = fetch_prepared(  # every identify asks: planned once per connection
        """SELECT a.kind,
                  CASE WHEN a.kind = 3 THEN a.balance
                       ELSE (SELECT coalesce(sum(l.remaining), 0) FROM points_lot l
                              WHERE l.account_id = a.id AND l.remaining > 0
                                AND (l.expires_at IS NULL OR l.expires_at > %s)) END
             FROM points_account a
            WHERE a.member_id = %s AND a.program_id = %s AND a.kind IN (1, 2, 3)""",
        [now, member.pk, program.pk],
    )
    found = {kind: int(total) for kind, total in rows}
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


# ---- the member's own view (the mini-program) ---------------------------------------------------

# ledger transaction kind -> the history's type (an operation's own kind wins where it is one of
# these: a rights claim paid in points, say); mature and confirm move nothing the member sees.
HISTORY_TYPES = ("earn", "redeem", "refund", "reverse", "expire", "convert", "claim", "grant")
_TXN_TYPE = {"earn": "earn", "redeem": "redeem", "freeze": "redeem", "release": "reverse", "refund": "refund",
             "reverse": "reverse", "convert": "convert", "expire": "expire", "adjust": "grant"}


def member_programs(member) -> list[int]:
    """Ids of the programs the member holds an account in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT program_id FROM points_account WHERE member_id = %s AND kind IN (1, 2, 3) "
                       "ORDER BY program_id", [member.pk])
        return [row[0] for row in cursor.fetchall()]


def expiring(member, program, now: datetime | None = None, *, dates: int = 3) -> list[dict]:
    """The member's next ``dates`` expiry dates of available points with the points expiring then."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT l.expires_at, sum(l.remaining) FROM points_lot l JOIN points_account a ON a.id = l.account_id
                WHERE a.member_id = %s AND a.program_id = %s AND a.kind = 1 AND l.remaining > 0
                  AND l.expires_at > %s
                GROUP BY l.expires_at ORDER BY l.expires_at LIMIT %s""",
            [member.pk, program.pk, now, dates])
        return [{"points": int(points), "expires_at": at} for at, points in cursor.fetchall()]


def member_history(member, *, limit: int, before: tuple[int, int] | None = None, types: tuple[str, ...] = (),
                   since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """The member's ledger movements, newest first, one item per transaction × program: ``points``
    is the change of available + pending points, ``balance_after`` the available account's
    balance right after it. Keyset pages: ``before`` is the (transaction id, program id) of the
    last item of the previous page. Movements that change nothing the member holds (a hold
    confirmed, points maturing) are left out."""
    where, params = ["a.member_id = %s", "a.kind IN (1, 2, 3)"], [member.pk]
    if before is not None:
        where.append("(t.id, a.program_id) < (%s, %s)")
        params += list(before)
    if since is not None:
        where.append("t.created_at >= %s")
        params.append(since)
    if until is not None:
        where.append("t.created_at < %s")
        params.append(until)
    type_sql = ("CASE WHEN o.kind IN ('claim', 'grant', 'convert') THEN o.kind ELSE "
                + "CASE t.kind " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _TXN_TYPE.items())
                + " ELSE t.kind END END")
    having = ""
    if types:
        having = f" AND ({type_sql}) = ANY(%s)"
    sql = f"""
        SELECT t.id, t.created_at, a.program_id, {type_sql} AS type,
               sum(p.amount) FILTER (WHERE a.kind IN (1, 2)) AS net,
               max(p.id) AS last_posting, o.merchant_id, o.store_id, o.result ->> 'memo'
          FROM points_posting p
          JOIN points_account a ON a.id = p.account_id
          JOIN points_txn t ON t.id = p.txn_id
          LEFT JOIN points_operation o ON o.id = t.operation_id
         WHERE {' AND '.join(where)}
         GROUP BY t.id, a.program_id, o.id
        HAVING coalesce(sum(p.amount) FILTER (WHERE a.kind IN (1, 2)), 0) <> 0{having}
         ORDER BY t.id DESC, a.program_id DESC
         LIMIT %s"""
    if types:
        params.append(list(types))
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        out = []
        for txn_id, at, program_id, kind, net, last_posting, merchant_id, store_id, memo in rows:
            cursor.execute(
                """SELECT coalesce(sum(p.amount), 0) FROM points_posting p JOIN points_account a ON a.id = p.account_id
                    WHERE a.member_id = %s AND a.program_id = %s AND a.kind = 1 AND p.id <= %s""",
                [member.pk, program_id, last_posting])
            out.append({"txn_id": txn_id, "at": at, "program_id": program_id, "type": kind, "points": int(net),
                        "balance_after": int(cursor.fetchone()[0]), "merchant_id": merchant_id,
                        "store_id": store_id, "memo": memo or ""})
    return out
