"""Many earns in one write: the store-and-forward upload of a till that was offline.

The same rules, rows and idempotency as ``points.services.earn`` item by item, written set-based
by ``points_earn_batch`` (points/sql/ledger.sql) in one call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from hub.errors import DomainError, NoAuth
from points import rules
from points.common import agreement_for, check_fen, earn_fingerprint, outcome
from points.ledger import iso as ledger_iso

MAX_ITEMS = 1000


@dataclass(frozen=True)
class EarnItem:
    request_no: str
    member: object  # members.models.Member with its tier
    amount_fen: int
    business_time: datetime | None = None
    fp: str | None = None


def earn_many(*, merchant, store, terminal, items: list[EarnItem], now: datetime | None = None) -> list:
    """Results (dict) or refusals (DomainError), one per item, in order."""
    now = now or timezone.now()
    if len(items) > MAX_ITEMS:
        raise DomainError(f"一次最多上传 {MAX_ITEMS} 笔", code="PARAM_ERROR")
    agreement, campaigns = agreement_for(merchant)
    if not agreement.can_award:
        raise NoAuth("该商户不可发放此积分")
    program = agreement.program
    funded = agreement.funding == agreement.Funding.MERCHANT and merchant.pk != program.issuer_id
    matures = rules.matures_at(agreement, now)
    out: list = [None] * len(items)
    payload_items, fps = [], {}
    for idx, item in enumerate(items):
        try:
            check_fen(item.amount_fen, name="消费金额", allow_zero=True)
            if not item.request_no or len(item.request_no) > 64:
                raise DomainError("请求单号不能为空且不超过 64 个字符", code="PARAM_ERROR")
        except DomainError as exc:
            out[idx] = exc
            continue
        at = item.business_time or now
        points = rules.earn_points(agreement, program, amount_fen=item.amount_fen, tier_code=item.member.tier.code,
                                   at=now, campaigns=campaigns)  # campaigns by the hub's receive time
        funded_points = rules.merchant_funded_points(agreement, program, points=points, amount_fen=item.amount_fen,
                                                     tier_code=item.member.tier.code, at=now, campaigns=campaigns)
        fps[idx] = item.fp or earn_fingerprint(member_id=item.member.pk, amount_fen=item.amount_fen,
                                               business_time=item.business_time, store=store, terminal=terminal)
        payload_items.append({
            "idx": idx, "request_no": item.request_no, "fp": fps[idx], "member_id": item.member.pk,
            "points": points, "amount_fen": item.amount_fen,
            "cost_fen": rules.issue_cost_fen(agreement, funded_points) if funded else 0,
            "funded_points": funded_points,
            "business_time": at.isoformat(), "business_date": rules.business_date(at).isoformat(),
            "expires_at": ledger_iso(rules.expiry_for(program, rules.earned_at(item.business_time, now))),
            "matures_at": matures.isoformat() if matures else None,
        })
    if not payload_items:
        return out
    payload = {"now": now.isoformat(), "merchant": merchant.pk, "program": program.pk, "issuer": program.issuer_id,
               "store": store.pk if store else None, "terminal": terminal.pk if terminal else None,
               "funded_by_merchant": funded, "items": payload_items}
    with connection.cursor() as cursor:
        cursor.execute("SELECT points_earn_batch(%s)", [Jsonb(payload)])
        raw = cursor.fetchone()[0]
    for row in json.loads(raw) if isinstance(raw, str) else raw:
        idx = row["idx"]
        try:
            out[idx] = outcome(row, fp=fps[idx], kind="earn")
        except DomainError as exc:
            out[idx] = exc
    return out
