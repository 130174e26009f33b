"""Quota counters that cannot be overrun.

Each limit of a right is a ``rights_quotacounter`` row with ``CHECK (used <= limit_value)``. A
claim or a use consumes with one conditional upsert:

    INSERT … VALUES (…, used = n) ON CONFLICT (right, scope, key)
        DO UPDATE SET used = used + n WHERE used + n <= limit_value RETURNING used

PostgreSQL locks the conflicting row and evaluates the condition on its latest version, so a
storm of concurrent claims ends exactly at the limit; nothing counts rows and then inserts.
No row back means the quota is exhausted. Changes of a limit are compare-and-swap
(``change_limit``), recorded with their request number (the same number again answers the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hub.errors import IdempotencyKeyReused, ParamError, QuotaExhausted
from rights.models import QuotaChange, QuotaCounter, Right, RightHistory
from rights.validity import local_date, period_key

Scope = QuotaCounter.Scope

# limit field on Right -> counter scope
LIMIT_FIELDS = {
    "total_limit": Scope.TOTAL,
    "daily_limit": Scope.DAY,
    "member_limit": Scope.MEMBER,
    "member_period_limit": Scope.MEMBER_PERIOD,
    "store_daily_limit": Scope.STORE_DAY,
    "budget_fen": Scope.BUDGET,
}
MESSAGES = {
    Scope.TOTAL: "权益已领完",
    Scope.DAY: "今日领取额度已用完",
    Scope.MEMBER: "已达到每人领取上限",
    Scope.MEMBER_PERIOD: "本期已达到每人领取上限",
    Scope.STORE_DAY: "本店今日核销额度已用完",
    Scope.BUDGET: "权益预算已用完",
}


@dataclass(frozen=True)
class Take:
    scope: str
    key: str
    limit: int
    amount: int


def claim_takes(right: Right, *, member_id: int, now: datetime) -> list[Take]:
    """The counters one claim consumes (in a fixed order: the same for every claim)."""
    takes = []
    if right.total_limit is not None:
        takes.append(Take(Scope.TOTAL, "", right.total_limit, 1))
    if right.daily_limit is not None:
        takes.append(Take(Scope.DAY, local_date(now).isoformat(), right.daily_limit, 1))
    if right.member_limit is not None:
        takes.append(Take(Scope.MEMBER, f"m{member_id}", right.member_limit, 1))
    if right.member_period_limit is not None and right.member_period:
        takes.append(Take(Scope.MEMBER_PERIOD, f"m{member_id}:{period_key(right.member_period, now)}",
                          right.member_period_limit, 1))
    return takes


def use_takes(right: Right, *, store_id: int | None, business_date, settlement_fen: int) -> list[Take]:
    """The counters one use consumes: the store's day and the budget (the settlement amount)."""
    takes = []
    if right.store_daily_limit is not None and store_id is not None:
        takes.append(Take(Scope.STORE_DAY, f"s{store_id}:{business_date.isoformat()}", right.store_daily_limit, 1))
    if right.budget_fen is not None and settlement_fen > 0:
        takes.append(Take(Scope.BUDGET, "", right.budget_fen, settlement_fen))
    return takes


def consume(right: Right, takes: list[Take]) -> None:
    """Consume every take or raise QUOTA_EXHAUSTED. Call inside the caller's transaction: a
    refusal raises and the caller's atomic block undoes the takes already made."""
    with connection.cursor() as cursor:
        for take in takes:
            if take.amount > take.limit:
                raise QuotaExhausted(MESSAGES[take.scope])
            cursor.execute(
                """INSERT INTO rights_quotacounter (right_id, scope, key, limit_value, used, updated_at)
                   VALUES (%s, %s, %s, %s, %s, now())
                   ON CONFLICT (right_id, scope, key) DO UPDATE
                      SET used = rights_quotacounter.used + EXCLUDED.used, updated_at = now()
                    WHERE rights_quotacounter.used + EXCLUDED.used <= rights_quotacounter.limit_value
                   RETURNING used""",
                [right.pk, take.scope, take.key, take.limit, take.amount])
            if cursor.fetchone() is None:
                raise QuotaExhausted(MESSAGES[take.scope])


def give_back(right: Right, takes: list[Take]) -> None:
    """Undo takes (a reverse, a released reservation, a refund): never below zero."""
    with connection.cursor() as cursor:
        for take in takes:
            cursor.execute(
                """UPDATE rights_quotacounter SET used = greatest(used - %s, 0), updated_at = now()
                    WHERE right_id = %s AND scope = %s AND key = %s""",
                [take.amount, right.pk, take.scope, take.key])


def _already_used(right: Right, scope: str) -> int:
    from django.db.models import Sum

    from rights.models import RightsFunding

    if scope == Scope.TOTAL:
        return right.vouchers.count()
    return RightsFunding.objects.filter(right=right).aggregate(total=Sum("amount_fen"))["total"] or 0


def change_limit(*, right: Right, field: str, expected: int | None, new: int | None, request_no: str,
                 actor=None, now: datetime | None = None) -> Right:
    """Compare-and-swap one limit: ``expected`` must be the current value, else nothing changes.
    Idempotent by ``request_no``: the same change again returns the right; another change under
    the same number is IDEMPOTENCY_KEY_REUSED. A limit below what is already used is refused."""
    now = now or timezone.now()
    if field not in LIMIT_FIELDS:
        raise ParamError("未知的额度字段")
    if not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")
    for value in (expected, new):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ParamError("额度必须为非负整数")
    done = QuotaChange.objects.filter(request_no=request_no).first()
    if done is not None:
        if (done.right_id, done.field, done.expected_value, done.new_value) != (right.pk, field, expected, new):
            raise IdempotencyKeyReused()
        return Right.objects.get(pk=right.pk)
    scope = LIMIT_FIELDS[field]
    try:
        with transaction.atomic():
            changed = Right.objects.filter(pk=right.pk, **{f"{field}__isnull": True} if expected is None
                                           else {field: expected}).update(**{field: new, "updated_at": now})
            if not changed:
                current = Right.objects.filter(pk=right.pk).values_list(field, flat=True).first()
                raise ParamError(f"额度已被他人修改（当前值 {current}），请刷新后重试")
            counters = QuotaCounter.objects.filter(right=right, scope=scope)
            if new is None:
                counters.delete()
            else:
                if counters.filter(used__gt=new).exists():
                    raise ParamError("新额度低于已使用量")
                counters.update(limit_value=new, updated_at=now)
                if expected is None and scope in (Scope.TOTAL, Scope.BUDGET):
                    # a limit set on a running right counts what happened before it
                    used = _already_used(right, scope)
                    if used > new:
                        raise ParamError("新额度低于已使用量")
                    QuotaCounter.objects.create(right=right, scope=scope, key="", limit_value=new, used=used)
            QuotaChange.objects.create(right=right, request_no=request_no, field=field, expected_value=expected,
                                       new_value=new, actor=actor if getattr(actor, "pk", None) else None, at=now)
            RightHistory.objects.create(right=right, action="change_quota", actor=actor if getattr(actor, "pk", None) else None,
                                        changes={field: [expected, new], "request_no": request_no}, at=now)
    except IntegrityError:
        # the same request number committed concurrently, or used above the new limit meanwhile
        if QuotaChange.objects.filter(request_no=request_no).exists():
            return change_limit(right=right, field=field, expected=expected, new=new, request_no=request_no,
                                actor=actor, now=now)
        raise ParamError("新额度低于已使用量") from None
    return Right.objects.get(pk=right.pk)


def usage(right: Right, *, now: datetime | None = None) -> dict:
    """What the admin shows: claimed in total, claimed today, remaining, used today, budget spent."""
    now = now or timezone.now()
    today = local_date(now).isoformat()
    rows = {(c.scope, c.key): c.used for c in QuotaCounter.objects.filter(right=right)}
    claimed_total = right.vouchers.count()
    claimed_today = rows.get((Scope.DAY, today))
    store_today = sum(used for (scope, key), used in rows.items() if scope == Scope.STORE_DAY and key.endswith(today))
    spent = rows.get((Scope.BUDGET, ""), 0)
    return {
        "claimed_total": claimed_total,
        "claimed_today": claimed_today if claimed_today is not None else None,
        "remaining": None if right.total_limit is None else right.total_limit - rows.get((Scope.TOTAL, ""), 0),
        "used_today_in_stores": store_today,
        "budget_spent_fen": spent,
        "budget_left_fen": None if right.budget_fen is None else right.budget_fen - spent,
    }
