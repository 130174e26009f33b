"""退货 (refund): a full or partial return of an earlier sale (earn) or payment (redeem or a
confirmed freeze).

Earned points are clawed back and redeemed points given back in proportion to the amount
refunded so far (so partial refunds add up exactly to a full one; the last refund reconciles
rounding); for a payment the till may name the points to give back instead. Never more than the
original. One read (the original with its lot and clearing items, in one query) and one write,
guarded on the original's refunded totals as read; a concurrent refund (or a reverse of one of its
refunds) means read again.

Which lots a clawback takes is decided by the ledger under the member's locks (the ``claw`` lot
mode), never from the read: a redeem or the maturation sweep moving the lot meanwhile cannot make
a refund fail. Points of the sale that expired are not taken again (they are the issuer's
breakage already). Clearing items: each refund brings the sale's items (with every refund and
every reversal of one) to the share still outstanding, so the refund that completes a sale takes
the exact remainder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from hub.db import fetch_prepared
from hub.errors import DomainError, OrderNotExist, OrderReversed, ParamError, RefundExceedsOriginal
from points import ledger, rules
from points.common import (
    RETRIES,
    check_fen,
    check_points,
    fingerprint,
    op_row,
    outcome,
    program_by_id,
    replay,
)
from points.ledger import (
    AVAILABLE,
    ISSUER_LIABILITY,
    MERCHANT_REDEEMED,
    Entry,
    Posting,
    member_account,
    party_account,
)
from points.models import Operation, Program

REFUNDABLE = ("earn", "redeem", "freeze")


@dataclass(frozen=True)
class Original:
    """What a refund needs to know of the operation it returns."""

    id: int
    kind: str
    status: str
    points: int
    amount_fen: int
    refunded_fen: int
    refunded_points: int
    program: Program
    member_id: int
    lot_id: int | None  # the lot an earn created
    clearing: list  # [{payer, payee, program, kind, points, amount, fee, net_points, net_amount, net_fee}]
    #                 per pair and kind: the original's own items, and the net with all its refunds'


_READ = """
SELECT o.id, o.kind, o.status, o.points, o.amount_fen, o.refunded_fen, o.refunded_points, o.program_id,
       o.member_id, l.id,
       (SELECT coalesce(json_agg(c), '[]') FROM (
            SELECT payer_id AS payer, payee_id AS payee, program_id AS program, kind,
                   coalesce(sum(points) FILTER (WHERE operation_id = o.id), 0) AS points,
                   coalesce(sum(amount_fen) FILTER (WHERE operation_id = o.id), 0) AS amount,
                   coalesce(sum(fee_fen) FILTER (WHERE operation_id = o.id), 0) AS fee,
                   sum(points) AS net_points, sum(amount_fen) AS net_amount, sum(fee_fen) AS net_fee
              FROM points_clearing_item
             WHERE operation_id = ANY (ARRAY(SELECT o.id UNION ALL
                                             SELECT r.id FROM points_operation r WHERE r.original_id = o.id))
             GROUP BY payer_id, payee_id, program_id, kind) c)
  FROM points_operation o
  LEFT JOIN points_lot l ON o.kind = 'earn' AND l.source_operation_id = o.id AND l.restored_from_id IS NULL
 WHERE o.merchant_id = %s AND o.request_no = %s
"""


def _read(merchant, request_no: str) -> Original | None:
    rows = fetch_prepared(_READ, [merchant.pk, request_no])  # planned once per connection
    row = rows[0] if rows else None
    if row is None or row[7] is None:
        return None
    clearing = row[10] if isinstance(row[10], list) else json.loads(row[10])
    return Original(*row[:7], program_by_id(row[7]) if row[1] in REFUNDABLE else None, *row[8:10], clearing)


def refund(*, merchant, store, terminal, refund_no: str, original_request_no: str, amount_fen: int,
           points: int | None = None, fp: str | None = None, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    check_fen(amount_fen, name="退货金额")
    if points is not None:
        check_points(points, name="退回积分")
    fp = fp or fingerprint("refund", original=original_request_no, amount_fen=amount_fen, points=points)
    for _ in range(RETRIES):
        try:
            entry = _entry(merchant, store, terminal, refund_no, original_request_no, amount_fen, points, fp, now)
        except DomainError:
            previous = Operation.objects.filter(merchant=merchant, request_no=refund_no).first()
            if previous is not None:  # a replay: answer as the first time, whatever happened since
                return replay(previous, fp=fp, kind="refund")
            raise
        try:
            return outcome(ledger.apply(entry), fp=fp, kind="refund")
        except ledger.Conflict:
            continue
    raise DomainError("退货处理冲突，请使用相同参数重试", code="SYSTEM_ERROR")


def _entry(merchant, store, terminal, refund_no, original_request_no, amount_fen, points, fp, now) -> Entry:
    original = _read(merchant, original_request_no)
    if original is None or original.kind not in REFUNDABLE:
        raise OrderNotExist("原交易不存在")
    if original.status == Operation.Status.REVERSED:
        raise OrderReversed()
    if original.status not in (Operation.Status.SUCCESS, Operation.Status.CONFIRMED):
        raise OrderNotExist("原交易未成功，不能退货")
    if amount_fen > original.amount_fen - original.refunded_fen:
        raise RefundExceedsOriginal(f"可退金额 {original.amount_fen - original.refunded_fen} 分")
    moved = _points_moved(original, amount_fen, points)

    program, member_id = original.program, original.member_id
    entry = Entry(
        now=now, txn_kind="refund",
        op={**op_row(merchant=merchant, store=store, terminal=terminal, member=None, program=program,
                     request_no=refund_no, kind="refund", status="success", fp=fp, now=now, points=moved,
                     amount_fen=amount_fen, original_id=original.id), "member_id": member_id},
        guard={"op": original.id, "status": original.status, "refunded_fen": original.refunded_fen,
               "refunded_points": original.refunded_points, "add_fen": amount_fen, "add_points": moved},
        balance_of=member_account(AVAILABLE, program.pk, member_id),
    )
    clawed = returned = 0
    if moved:
        if original.kind == Operation.Kind.EARN:
            clawed = moved  # the ledger answers what it actually took back (expired points are not)
            entry.legs = [_clawback_leg(original, moved),
                          Posting(party_account(ISSUER_LIABILITY, program.pk, program.issuer_id), moved)]
        else:
            returned = moved
            entry.legs = [
                Posting(party_account(MERCHANT_REDEEMED, program.pk, merchant.pk), -moved),
                Posting(member_account(AVAILABLE, program.pk, member_id), moved,
                        {"restore": {"operation": original.id, "grace_days": program.restore_grace_days}}),
            ]
    entry.clearing = _remaining_clearing(original, original.refunded_points + moved)
    entry.result = {"refund_no": refund_no, "request_no": original_request_no, "points_clawed_back": clawed,
                    "points_returned": returned, "amount_fen": amount_fen}
    return entry


def _points_moved(original: Original, amount_fen: int, points: int | None) -> int:
    fen_after = original.refunded_fen + amount_fen
    if original.kind == Operation.Kind.EARN and points is not None:
        raise ParamError("累计交易的退货按金额比例扣回积分，不能指定退回积分")
    if fen_after == original.amount_fen:
        moved = original.points - original.refunded_points  # the last refund reconciles rounding
        if points is not None and points != moved:
            raise RefundExceedsOriginal(f"全额退货应退回 {moved} 积分")
    elif points is not None:
        moved = points
    else:  # in proportion to the amount refunded so far, less what earlier refunds moved
        moved = max(0, rules.divide(original.points * fen_after, original.amount_fen) - original.refunded_points)
    if moved > original.points - original.refunded_points:
        raise RefundExceedsOriginal(f"可退积分 {original.points - original.refunded_points}")
    return moved


def _clawback_leg(original: Original, points: int) -> Posting:
    """Take earned points back (the ledger decides from which lots, under the locks): the sale's
    own lot first (pending or available), then what the member spent of it from other lots; the
    part that expired is not taken (the issuer's liability leg, index 1, shrinks by it)."""
    account = member_account(AVAILABLE, original.program.pk, original.member_id)
    if original.lot_id is None:
        return Posting(account, -points, {"take": True})
    return Posting(account, -points,
                   ledger.claw(original.lot_id, owed=original.points - original.refunded_points, counter=1))


def _remaining_clearing(original: Original, after: int) -> list[dict]:
    """The items that bring the sale's clearing (its own items, every refund's, every reversal's) to
    the share still outstanding once ``after`` of its points are refunded: zero, to the fen, once
    the whole sale is. Computed from the live net, not from the previous slice, so a reversed
    refund (other than the last) cannot make the slices overlap."""
    items = []
    for c in original.clearing:
        if not c["points"]:
            continue
        item = {"payer": c["payer"], "payee": c["payee"], "program": c["program"], "kind": c["kind"]}
        for key, total, net in (("points", c["points"], c["net_points"]), ("amount_fen", c["amount"], c["net_amount"]),
                                ("fee_fen", c["fee"], c["net_fee"])):
            outstanding = total - rules.cumulative_share(total, 0, after, original.points)
            item[key] = outstanding - net
        if item["points"] or item["amount_fen"] or item["fee_fen"]:
            items.append(item)
    return items
