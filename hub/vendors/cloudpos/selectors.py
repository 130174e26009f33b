"""Reads for the cloud-POS pages (no writes): today's operations at a terminal, the hub's day
totals, the value of points before a redemption. (A voucher is shown by identify: a scanned
display code names the member and comes first in the rights, contract v1.1.)"""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from hub.clearing.reconciliation import hub_totals
from hub.errors import ParamError
from hub.gateway.base import MAX_POINTS
from hub.timezone import SHANGHAI
from points import rules
from points.common import agreement_for
from points.models import Operation

KIND_NAMES = dict(Operation.Kind.choices)
STATUS_NAMES = dict(Operation.Status.choices)


def business_day(now=None) -> date:
    return (now or timezone.now()).astimezone(SHANGHAI).date()


def today_operations(*, terminal, now=None, limit: int = 100) -> list[dict]:
    """The points operations and voucher write-offs recorded at this terminal today, newest first."""
    from rights.models import Redemption

    day = business_day(now)
    rows = []
    for op in (Operation.objects.filter(terminal=terminal, business_date=day).exclude(kind=Operation.Kind.TOMBSTONE)
               .order_by("-id")[:limit]):
        rows.append({"request_no": op.request_no, "kind": op.kind, "kind_name": KIND_NAMES.get(op.kind, op.kind),
                     "status": op.status, "status_name": STATUS_NAMES.get(op.status, op.status), "points": op.points,
                     "amount_fen": op.amount_fen, "refunded_fen": op.refunded_fen, "error_code": op.error_code,
                     "at": op.created_at.astimezone(SHANGHAI).strftime("%H:%M:%S")})
    for r in (Redemption.objects.filter(terminal=terminal, business_date=day, kind=Redemption.Kind.USE)
              .select_related("right").order_by("-id")[:limit]):
        rows.append({"request_no": r.request_no, "kind": "voucher", "kind_name": "权益核销", "status": r.status,
                     "status_name": dict(Redemption.Status.choices).get(r.status, r.status), "points": 0,
                     "amount_fen": r.sale_fen, "refunded_fen": r.refunded_fen, "error_code": r.error_code or "",
                     "right_name": r.right.name if r.right else "",
                     "at": r.created_at.astimezone(SHANGHAI).strftime("%H:%M:%S")})
    rows.sort(key=lambda row: row["at"], reverse=True)
    return rows[:limit]


def day_totals(*, terminal, biz_date: date | None = None) -> dict:
    """The hub's totals of this terminal's business day (what a day-end is compared with)."""
    totals = hub_totals(merchant=terminal.store.merchant, biz_date=biz_date or business_day(), store=terminal.store,
                        terminal=terminal)
    return {name: getattr(totals, name) for name in totals.__dataclass_fields__}


def points_quote(*, merchant, points) -> dict:
    """What ``points`` of the merchant's default program are worth (fen), by the ledger's own rule."""
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_POINTS:
        raise ParamError("抵扣积分必须为正整数")
    agreement, _ = agreement_for(merchant)
    return {"points": points, "amount_fen": rules.points_value_fen(agreement.program, points)}
