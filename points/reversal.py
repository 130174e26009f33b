"""冲正 (reverse): undo a till request, or fence off one the hub has not seen yet.

A reverse is always accepted. For a request the hub has done it posts the exact opposite of
everything the request wrote (points back to the lots they came from, earned lots taken back,
clearing items negated). For a request number the hub has never seen it records a tombstone, so
the original, arriving late, is refused ``ORDER_REVERSED``. Allowed until the end of the business
day after the original's; later, a refund is the way back.

Everything a reverse writes — the tombstone, the status, the original's refunded totals when a
refund is reversed, the legs — goes through the one ledger primitive (``points.ledger.apply``).
Earned lots are taken back with the ``claw`` lot mode and what a refund gave back with
``reclaim``: both decide under the member's locks which lots, so a request racing the reverse
cannot make it fail, and expired points are never taken twice (docs/ledger.md, policies).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from hub.errors import DomainError, ParamError
from points import ledger, rules
from points.common import existing_operation, op_row, program_by_id
from points.ledger import AVAILABLE, BREAKAGE, ISSUER_LIABILITY, Entry, Posting
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
        res = ledger.apply(Entry(
            now=now, txn_kind="reverse", reverse={}, result=_answer(request_no, "tombstone"),
            op=op_row(merchant=merchant, store=store, terminal=terminal, member=None, program=None,
                      request_no=request_no, kind=Operation.Kind.TOMBSTONE, status=Operation.Status.REVERSED,
                      fp="", now=now)))
        if not res.get("replay"):
            return _answer(request_no, "tombstone")
        op = existing_operation(merchant, request_no, for_update=True)  # the original committed meanwhile
    if op.kind == Operation.Kind.TOMBSTONE:
        return _answer(request_no, "tombstone")
    if op.reversed_at is not None:
        return _answer(request_no, "reverse")
    if not rules.reverse_allowed(rules.business_date(op.created_at), now):  # by the hub's receive time
        raise ParamError("已超过冲正期限（次一营业日结束），请使用退货")
    if op.status == Operation.Status.REFUSED:  # nothing moved: only mark it
        entry = Entry(now=now, txn_kind="reverse", op_id=op.pk, reverse={})
    else:
        if op.refunded_fen or op.refunded_points:
            raise ParamError("该交易已有退货，不能冲正；请继续使用退货")
        if op.kind == Operation.Kind.REFUND:  # lock order: the original before the accounts
            Operation.objects.select_for_update().filter(pk=op.original_id).first()
        entry = _undo(op, now)
        if op.kind == Operation.Kind.REFUND:
            entry.reverse = {"original": op.original_id, "fen": op.amount_fen, "points": op.points}
    res = ledger.apply(entry)
    if res.get("error_code"):
        raise DomainError("会员积分已被使用，无法冲正" if res["error_code"] == "POINTS_INSUFFICIENT" else None,
                          code=res["error_code"])
    return _answer(request_no, "reverse")


def _undo(op: Operation, now: datetime) -> Entry:
    """The entry posting the opposite of everything ``op`` wrote, lot for lot."""
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

    # Points it gave back on behalf of another operation (a refund of a payment): take them again
    # from exactly the lots it gave them to (a grace lot when the original lot had expired).
    given: dict[tuple, list] = defaultdict(list)
    for row in (LotUsage.objects.filter(txn__operation=op).exclude(operation=op)
                .values("operation_id", "lot__account__program_id", "lot__account__member_id",
                        target=Coalesce("restored_to_id", "lot_id"))
                .annotate(net=Sum("amount")).filter(net__lt=0).order_by("target")):
        given[(row["operation_id"], row["lot__account__program_id"], row["lot__account__member_id"])].append(
            [row["target"], -row["net"]])
    for (usage_operation, program_id, member_id), lots in given.items():
        issuer_id = program_by_id(program_id).issuer_id
        legs.append(Posting(ledger.member_account(AVAILABLE, program_id, member_id), -sum(n for _, n in lots),
                            {"reclaim": {"lots": lots, "usage_operation": usage_operation,
                                         "breakage": ledger.party_account(BREAKAGE, program_id, issuer_id)}}))

    # Holds and the counter-parties' side: the plain opposite of the net postings.
    nets = (PostingRow.objects.filter(txn__operation=op)
            .exclude(account__kind__in=(Account.Kind.AVAILABLE, Account.Kind.PENDING))
            .values("account__kind", "account__program_id", "account__member_id", "account__party_id")
            .annotate(net=Sum("amount")).exclude(net=0))
    for row in nets:
        legs.append(Posting([row["account__kind"], row["account__program_id"], row["account__member_id"],
                             row["account__party_id"]], -row["net"]))
    legs = [leg for leg in legs if leg.amount]

    # Lots it created (an earn, a conversion's target, a grant): taken back by the ledger under the
    # locks; what of them expired stays breakage, and that program's liability leg shrinks by it.
    for lot in Lot.objects.filter(source_operation=op, restored_from=None).select_related("account"):
        program_id, member_id = lot.account.program_id, lot.account.member_id
        counter = next(i for i, leg in enumerate(legs)
                       if leg.account[0] == ISSUER_LIABILITY and leg.account[1] == program_id)
        legs.append(Posting(ledger.member_account(AVAILABLE, program_id, member_id), -lot.original,
                            ledger.claw(lot.pk, owed=lot.original, counter=counter)))

    clearing = [
        {"payer": c["payer_id"], "payee": c["payee_id"], "program": c["program_id"], "kind": c["kind"],
         "points": -c["points"], "amount_fen": -c["amount"], "fee_fen": -c["fee"]}
        for c in ClearingItem.objects.filter(operation=op)
        .values("payer_id", "payee_id", "program_id", "kind")
        .annotate(points=Sum("points"), amount=Sum("amount_fen"), fee=Sum("fee_fen"))
        if c["amount"] or c["points"] or c["fee"]
    ]
    return Entry(now=now, txn_kind="reverse", op_id=op.pk, legs=legs, clearing=clearing, reverse={})
