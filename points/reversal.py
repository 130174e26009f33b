"""冲正 (reverse): undo a till request, or fence off one the hub has not seen yet.

A reverse is always accepted. For a request the hub has done it posts the exact opposite of
everything the request wrote (points back to the lots they came from, earned lots taken back,
clearing items negated). For a request number the hub has never seen it records a tombstone, so
the original, arriving late, is refused ``ORDER_REVERSED``. Allowed until the end of the business
day after the original's; later, a refund is the way back.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from hub.errors import ParamError
from points import ledger, rules
from points.common import existing_operation
from points.ledger import AVAILABLE, Entry, Posting
from points.models import Account, ClearingItem, Lot, LotUsage, Operation
from points.models import Posting as PostingRow


def _answer(request_no: str, action: str) -> dict:
    return {"request_no": request_no, "status": "REVERSED", "action": action}


@transaction.atomic
def reverse(*, merchant, request_no: str, store=None, terminal=None, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    if not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")
    op = existing_operation(merchant, request_no, for_update=True)
    if op is None:
        try:
            with transaction.atomic():
                Operation.objects.create(
                    merchant=merchant, request_no=request_no, kind=Operation.Kind.TOMBSTONE,
                    status=Operation.Status.REVERSED, fingerprint="", store=store, terminal=terminal,
                    business_date=rules.business_date(now), created_at=now, reversed_at=now,
                    result=_answer(request_no, "tombstone"))
            return _answer(request_no, "tombstone")
        except IntegrityError:  # the original committed while we were here: reverse it
            op = existing_operation(merchant, request_no, for_update=True)
    if op.kind == Operation.Kind.TOMBSTONE:
        return _answer(request_no, "tombstone")
    if op.reversed_at is not None:
        return _answer(request_no, "reverse")
    if not rules.reverse_allowed(op.business_date, now):
        raise ParamError("已超过冲正期限（次一营业日结束），请使用退货")
    if op.status != Operation.Status.REFUSED:
        if op.refunded_fen or op.refunded_points:
            raise ParamError("该交易已有退货，不能冲正；请继续使用退货")
        if op.kind == Operation.Kind.REFUND:  # lock order: the original before the accounts
            Operation.objects.select_for_update().filter(pk=op.original_id).first()
        _undo(op, now)
    changes = {"reversed_at": now}
    if op.status != Operation.Status.REFUSED:
        changes["status"] = Operation.Status.REVERSED
    Operation.objects.filter(pk=op.pk).update(**changes)
    if op.kind == Operation.Kind.REFUND and op.status != Operation.Status.REFUSED:
        Operation.objects.filter(pk=op.original_id).update(
            refunded_fen=F("refunded_fen") - op.amount_fen, refunded_points=F("refunded_points") - op.points)
    return _answer(request_no, "reverse")


def _undo(op: Operation, now: datetime) -> None:
    """Post the opposite of everything ``op`` wrote, lot for lot."""
    legs: list[Posting] = []
    grace = op.program.restore_grace_days if op.program_id else 30

    # Points this operation took from lots: back to those lots, in the account each lives in now.
    taken = (LotUsage.objects.filter(operation=op).values("lot__account__kind", "lot__account__program_id",
                                                          "lot__account__member_id")
             .annotate(net=Sum("amount")).filter(net__gt=0))
    for row in taken:
        legs.append(Posting(
            ledger.member_account(row["lot__account__kind"], row["lot__account__program_id"], row["lot__account__member_id"]),
            row["net"], {"restore": {"operation": op.pk, "grace_days": grace}}))

    # Points it gave back on behalf of another operation (a refund of a payment): take them again.
    given = (LotUsage.objects.filter(txn__operation=op).exclude(operation=op)
             .values("operation_id", "lot__account__program_id", "lot__account__member_id")
             .annotate(net=Sum("amount")).filter(net__lt=0))
    for row in given:
        legs.append(Posting(
            ledger.member_account(AVAILABLE, row["lot__account__program_id"], row["lot__account__member_id"]),
            row["net"], {"take": True, "usage_operation": row["operation_id"]}))

    # Lots it created (an earn, a conversion's target): take them back, then other lots if spent.
    shortfall: dict[tuple, int] = defaultdict(int)
    for lot in Lot.objects.filter(source_operation=op, restored_from=None).select_related("account"):
        program_member = (lot.account.program_id, lot.account.member_id)
        if lot.remaining:
            legs.append(Posting(ledger.member_account(lot.account.kind, *program_member), -lot.remaining,
                                {"take_lot": lot.pk}))
        shortfall[program_member] += lot.original - lot.remaining - lot.expired
    for (program_id, member_id), missing in shortfall.items():
        if missing:
            legs.append(Posting(ledger.member_account(AVAILABLE, program_id, member_id), -missing, {"take": True}))

    # Holds and the counter-parties' side: the plain opposite of the net postings.
    nets = (PostingRow.objects.filter(txn__operation=op)
            .exclude(account__kind__in=(Account.Kind.AVAILABLE, Account.Kind.PENDING))
            .values("account__kind", "account__program_id", "account__member_id", "account__party_id")
            .annotate(net=Sum("amount")).exclude(net=0))
    for row in nets:
        legs.append(Posting([row["account__kind"], row["account__program_id"], row["account__member_id"],
                             row["account__party_id"]], -row["net"]))

    # Expired points of created lots went to breakage; that breakage is not undone, so neither is
    # the liability for them: the issuer's side below nets to what is actually taken back.
    expired = sum(lot.expired for lot in Lot.objects.filter(source_operation=op, restored_from=None))
    if expired:
        issuer_leg = next(leg for leg in legs if leg.account[0] == Account.Kind.ISSUER_LIABILITY)
        issuer_leg.amount -= expired

    clearing = [
        {"payer": c["payer_id"], "payee": c["payee_id"], "program": c["program_id"], "kind": c["kind"],
         "points": -c["points"], "amount_fen": -c["amount"], "fee_fen": -c["fee"]}
        for c in ClearingItem.objects.filter(operation=op)
        .values("payer_id", "payee_id", "program_id", "kind")
        .annotate(points=Sum("points"), amount=Sum("amount_fen"), fee=Sum("fee_fen"))
        if c["amount"] or c["points"]
    ]
    legs = [leg for leg in legs if leg.amount]
    if not legs and not clearing:
        return
    res = ledger.apply(Entry(now=now, txn_kind="reverse", op_id=op.pk, legs=legs, clearing=clearing))
    if res.get("error_code"):
        from hub.errors import DomainError

        raise DomainError("会员积分已被使用，无法冲正" if res["error_code"] == "POINTS_INSUFFICIENT" else None,
                          code=res["error_code"])
