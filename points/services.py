"""The posting layer of the till operations: what earn, redeem, freeze, confirm, unfreeze,
convert and grant write.

The way in is ``points.till`` (one function per operation): it checks the arguments, computes
the fingerprint, looks the request number up first (a seen number answers its first answer
whatever today's rules say) and resolves the member; only then does it call the function here,
which applies today's rules (agreement, limits, the naming's strength), decides in Python what
to write (legs, clearing items, the answer) and writes it atomically with one call of the ledger
(``points.ledger.apply``), which still replays a request that raced in meanwhile. Refund's
posting lives in ``points.refunds``, reverse's in ``points.reversal``; reads in
``points.selectors``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from hub.errors import (
    DomainError,
    FreezeExpired,
    NoAuth,
    OrderNotExist,
    OrderReversed,
    ParamError,
    RedeemLimitExceeded,
)
from points import ledger, rules
from points.common import (
    RETRIES,
    agreement_for,
    check_fen,
    check_points,
    earn_fingerprint,
    fingerprint,
    op_row,
    outcome,
    program_by_id,
    spend_fingerprint,
)
from points.ledger import (
    AVAILABLE,
    HELD,
    ISSUER_LIABILITY,
    MERCHANT_REDEEMED,
    PENDING,
    Entry,
    Posting,
    member_account,
    party_account,
)
from points.models import Agreement, ClearingItem, ConversionRate, Operation

FREEZE_MINUTES = 15


def _clearing(*, payer, payee, program, kind, points, amount_fen, fee_fen=0) -> dict:
    return {
        "payer": payer, "payee": payee, "program": program.pk, "kind": kind,
        "points": points, "amount_fen": amount_fen, "fee_fen": fee_fen,
    }


def earn(*, merchant, store, terminal, member, amount_fen: int, request_no: str, program=None,
         business_time: datetime | None = None, fp: str | None = None, now: datetime | None = None) -> dict:
    """积分累计: a completed sale of ``amount_fen`` (paid other than with points) awards points."""
    now = now or timezone.now()
    check_fen(amount_fen, name="消费金额", allow_zero=True)
    agreement, campaigns = agreement_for(merchant, program)
    if not agreement.can_award:
        raise NoAuth("该商户不可发放此积分")
    program = agreement.program
    fp = fp or earn_fingerprint(member_id=member.pk, amount_fen=amount_fen, business_time=business_time, store=store,
                                terminal=terminal)
    # Campaigns run by the hub's receive time: a sale backdated into an ended campaign earns as today.
    points = rules.earn_points(agreement, program, amount_fen=amount_fen, tier_code=member.tier.code,
                               at=now, campaigns=campaigns)
    entry = Entry(
        now=now, txn_kind="earn",
        op=op_row(merchant=merchant, store=store, terminal=terminal, member=member, program=program,
                  request_no=request_no, kind="earn", status="success", fp=fp, now=now, points=points,
                  amount_fen=amount_fen, business_time=business_time),
        balance_of=member_account(AVAILABLE, program.pk, member.pk),
        result={"request_no": request_no, "points_earned": points},
    )
    if points:
        matures = rules.matures_at(agreement, now)
        entry.legs = [
            Posting(member_account(PENDING if matures else AVAILABLE, program.pk, member.pk), points,
                    {"new_lot": {"expires_at": ledger.iso(rules.expiry_for(program, rules.earned_at(business_time, now))),
                                 "matures_at": ledger.iso(matures)}}),
            Posting(party_account(ISSUER_LIABILITY, program.pk, program.issuer_id), -points),
        ]
        funded = rules.merchant_funded_points(agreement, program, points=points, amount_fen=amount_fen,
                                              tier_code=member.tier.code, at=now, campaigns=campaigns)
        if agreement.funding == agreement.Funding.MERCHANT and merchant.pk != program.issuer_id and funded:
            entry.clearing = [_clearing(payer=merchant.pk, payee=program.issuer_id, program=program,
                                        kind=ClearingItem.Kind.EARN_FUNDING, points=funded,
                                        amount_fen=rules.issue_cost_fen(agreement, funded))]
    return outcome(ledger.apply(entry), fp=fp, kind="earn")


def _spend(*, kind: str, merchant, store, terminal, member, points: int, request_no: str, program,
           stated_amount_fen, sale_amount_fen, strong_credential: bool, fp, now) -> dict:
    """redeem and freeze: the same checks, different destination of the points."""
    now = now or timezone.now()
    check_points(points, name="抵扣积分")
    agreement, _ = agreement_for(merchant, program)
    if not agreement.can_accept:
        raise NoAuth("该商户不受理此积分抵扣")
    if not strong_credential and not agreement.phone_may_redeem:
        raise NoAuth("积分抵扣须出示动态会员码")
    program = agreement.program
    value = rules.points_value_fen(program, points)
    if stated_amount_fen is not None and stated_amount_fen != value:
        raise ParamError(f"抵扣金额与积分价值不符（{points} 积分价值 {value} 分）")
    fp = fp or spend_fingerprint(kind, member_id=member.pk, points=points, stated_amount_fen=stated_amount_fen,
                                 sale_amount_fen=sale_amount_fen, store=store, terminal=terminal)
    hold_until = now + timedelta(minutes=FREEZE_MINUTES) if kind == "freeze" else None
    entry = Entry(
        now=now, txn_kind=kind,
        op=op_row(merchant=merchant, store=store, terminal=terminal, member=member, program=program,
                  request_no=request_no, kind=kind, status="frozen" if kind == "freeze" else "success",
                  fp=fp, now=now, points=points, amount_fen=value, hold_expires_at=hold_until),
        balance_of=member_account(AVAILABLE, program.pk, member.pk),
        result={"request_no": request_no, "points": points, "amount_fen": value},
    )
    try:
        rules.check_redeem(agreement, program, points=points, sale_amount_fen=sale_amount_fen)
    except RedeemLimitExceeded as refusal:
        entry.refuse = {"code": refusal.code, "message": refusal.message}
        outcome(ledger.apply(entry), fp=fp, kind=kind)  # replays the first answer if any
        raise
    entry.legs = [Posting(member_account(AVAILABLE, program.pk, member.pk), -points, {"take": True})]
    if kind == "freeze":
        entry.legs.append(Posting(member_account(HELD, program.pk, member.pk), points))
        entry.result["expires_at"] = hold_until.isoformat()
    else:
        entry.legs.append(Posting(party_account(MERCHANT_REDEEMED, program.pk, merchant.pk), points))
        entry.clearing = _redemption_clearing(agreement, merchant, program, points, value)
    if agreement.daily_cap_points is not None:
        entry.daily_cap = {"limit": agreement.daily_cap_points, "merchant": merchant.pk, "program": program.pk,
                           "member": member.pk, "date": rules.business_date(now).isoformat(), "points": points}
    return outcome(ledger.apply(entry), fp=fp, kind=kind)


def _redemption_clearing(agreement, merchant, program, points: int, value: int) -> list[dict]:
    if merchant.pk == program.issuer_id:
        return []
    return [_clearing(payer=program.issuer_id, payee=merchant.pk, program=program,
                      kind=ClearingItem.Kind.REDEMPTION, points=points, amount_fen=value,
                      fee_fen=rules.acceptance_fee_fen(agreement, value))]


def redeem(*, merchant, store, terminal, member, points: int, request_no: str, program=None,
           stated_amount_fen: int | None = None, sale_amount_fen: int | None = None,
           strong_credential: bool = True, fp: str | None = None, now: datetime | None = None) -> dict:
    """积分抵扣: points pay part of a sale in one step."""
    return _spend(kind="redeem", merchant=merchant, store=store, terminal=terminal, member=member, points=points,
                  request_no=request_no, program=program, stated_amount_fen=stated_amount_fen,
                  sale_amount_fen=sale_amount_fen, strong_credential=strong_credential, fp=fp, now=now)


def freeze(*, merchant, store, terminal, member, points: int, request_no: str, program=None,
           stated_amount_fen: int | None = None, sale_amount_fen: int | None = None,
           strong_credential: bool = True, fp: str | None = None, now: datetime | None = None) -> dict:
    """冻结: hold points while the sale is open; confirm within 15 minutes or they are released."""
    return _spend(kind="freeze", merchant=merchant, store=store, terminal=terminal, member=member, points=points,
                  request_no=request_no, program=program, stated_amount_fen=stated_amount_fen,
                  sale_amount_fen=sale_amount_fen, strong_credential=strong_credential, fp=fp, now=now)




def _hold(merchant, request_no: str) -> Operation:
    op = Operation.objects.filter(merchant=merchant, request_no=request_no).first()
    if op is None:
        raise OrderNotExist()
    if op.program_id is not None:
        op.program = program_by_id(op.program_id)  # cached: no join on the till's path
    if op.kind == Operation.Kind.TOMBSTONE or op.status == Operation.Status.REVERSED:
        raise OrderReversed()
    if op.kind != Operation.Kind.FREEZE or op.status == Operation.Status.REFUSED:
        raise OrderNotExist("该单号不是有效的冻结交易")
    return op


def confirm(*, merchant, request_no: str, store=None, terminal=None, now: datetime | None = None) -> dict:
    """确认: the held points pay the sale. An expired hold can never be confirmed (the write is
    guarded on the hold being unexpired at that instant, whatever the sweep has done yet)."""
    now = now or timezone.now()
    for _ in range(RETRIES):
        op = _hold(merchant, request_no)
        result = {"request_no": request_no, "points": op.points, "amount_fen": op.amount_fen}
        if op.status == Operation.Status.CONFIRMED:
            result["points_balance"] = ledger.spendable(member_account(AVAILABLE, op.program_id, op.member_id), now)
            return result
        if op.status == Operation.Status.RELEASED or now >= op.hold_expires_at:
            raise FreezeExpired()
        agreement, _ = agreement_for(merchant, op.program)
        try:
            res = ledger.apply(Entry(
                now=now, txn_kind="confirm", op_id=op.pk,
                guard={"op": op.pk, "status": "frozen", "unexpired": True, "new_status": "confirmed"},
                legs=[Posting(member_account(HELD, op.program_id, op.member_id), -op.points),
                      Posting(party_account(MERCHANT_REDEEMED, op.program_id, merchant.pk), op.points)],
                clearing=_redemption_clearing(agreement, merchant, op.program, op.points, op.amount_fen),
                balance_of=member_account(AVAILABLE, op.program_id, op.member_id),
            ))
        except ledger.Conflict:
            continue  # released or confirmed meanwhile: read again
        if res.get("error_code"):  # the ledger refused the write (nothing moved): never a success
            raise DomainError(code=res["error_code"])
        result["points_balance"] = res["points_balance"]
        return result
    raise FreezeExpired()


def release_hold(op: Operation, now: datetime) -> int | None:
    """Give a frozen hold's points back to the lots they came from; None if it was confirmed or
    released meanwhile (the write is guarded on the hold still being frozen)."""
    try:
        res = ledger.apply(Entry(
            now=now, txn_kind="release", op_id=op.pk,
            guard={"op": op.pk, "status": "frozen", "new_status": "released"},
            legs=[Posting(member_account(HELD, op.program_id, op.member_id), -op.points),
                  Posting(member_account(AVAILABLE, op.program_id, op.member_id), op.points,
                          {"restore": {"operation": op.pk, "grace_days": op.program.restore_grace_days}})],
            balance_of=member_account(AVAILABLE, op.program_id, op.member_id),
        ))
    except ledger.Conflict:
        return None
    if res.get("error_code"):  # the ledger refused the write (nothing moved)
        raise DomainError(code=res["error_code"])
    return res["points_balance"]


def unfreeze(*, merchant, request_no: str, store=None, terminal=None, now: datetime | None = None) -> dict:
    """解冻: release a hold now (idempotent)."""
    now = now or timezone.now()
    for _ in range(RETRIES):
        op = _hold(merchant, request_no)
        if op.status == Operation.Status.CONFIRMED:
            raise ParamError("冻结已确认，不能解冻；请使用退货")
        balance = release_hold(op, now) if op.status == Operation.Status.FROZEN else None
        if balance is None and op.status == Operation.Status.FROZEN:
            continue  # changed meanwhile: read again
        if balance is None:
            balance = ledger.spendable(member_account(AVAILABLE, op.program_id, op.member_id), now)
        return {"request_no": request_no, "status": "UNFROZEN", "points_balance": balance}
    raise ParamError("冻结状态正在变化，请重试")


def convert(*, merchant, member, from_program, to_program, points: int, request_no: str, store=None,
            terminal=None, fp: str | None = None, now: datetime | None = None) -> dict:
    """积分转换: the member moves points between two programs at the issuers' rate; the issuer of
    the source program owes the issuer of the target program the value created."""
    now = now or timezone.now()
    check_points(points, name="转换积分")
    rate = ConversionRate.objects.filter(from_program=from_program, to_program=to_program, active=True).first()
    if rate is None:
        raise NoAuth("这两个积分计划之间不能转换")
    if points < rate.min_points or points % rate.from_points:
        raise RedeemLimitExceeded(f"转换积分须不少于 {rate.min_points} 且为 {rate.from_points} 的整数倍")
    gained = points // rate.from_points * rate.to_points
    fp = fp or fingerprint("convert", member=member.pk, points=points, src=from_program.pk, dst=to_program.pk)
    entry = Entry(
        now=now, txn_kind="convert",
        op=op_row(merchant=merchant, store=store, terminal=terminal, member=member, program=from_program,
                  request_no=request_no, kind="convert", status="success", fp=fp, now=now, points=points),
        legs=[
            Posting(member_account(AVAILABLE, from_program.pk, member.pk), -points, {"take": True}),
            Posting(party_account(ISSUER_LIABILITY, from_program.pk, from_program.issuer_id), points),
            Posting(member_account(AVAILABLE, to_program.pk, member.pk), gained,
                    {"new_lot": {"expires_at": ledger.iso(rules.expiry_for(to_program, now)), "matures_at": None}}),
            Posting(party_account(ISSUER_LIABILITY, to_program.pk, to_program.issuer_id), -gained),
        ],
        balance_of=member_account(AVAILABLE, to_program.pk, member.pk),
        result={"request_no": request_no, "points": points, "points_gained": gained},
    )
    if from_program.issuer_id != to_program.issuer_id:
        entry.clearing = [_clearing(payer=from_program.issuer_id, payee=to_program.issuer_id, program=to_program,
                                    kind=ClearingItem.Kind.CONVERSION, points=gained,
                                    amount_fen=rules.points_value_fen(to_program, gained))]
    return outcome(ledger.apply(entry), fp=fp, kind="convert")


def grant(*, program, member, points: int, request_no: str, memo: str = "", fp: str | None = None,
          now: datetime | None = None) -> dict:
    """发行方赠送: the issuer credits points it funds itself (welcome points, goodwill, the
    sandbox's demo balances). Recorded as an operation of the issuer, so it is idempotent by
    request number like any till request; no clearing item (nobody else owes anything)."""
    now = now or timezone.now()
    check_points(points, name="赠送积分")
    fp = fp or fingerprint("grant", member=member.pk, points=points, program=program.pk)
    entry = Entry(
        now=now, txn_kind="adjust",
        op=op_row(merchant=program.issuer, store=None, terminal=None, member=member, program=program,
                  request_no=request_no, kind="grant", status="success", fp=fp, now=now, points=points),
        legs=[
            Posting(member_account(AVAILABLE, program.pk, member.pk), points,
                    {"new_lot": {"expires_at": ledger.iso(rules.expiry_for(program, now)), "matures_at": None}}),
            Posting(party_account(ISSUER_LIABILITY, program.pk, program.issuer_id), -points),
        ],
        balance_of=member_account(AVAILABLE, program.pk, member.pk),
        result={"request_no": request_no, "points": points, "memo": memo},
    )
    return outcome(ledger.apply(entry), fp=fp, kind="grant")


def spend_for_right(*, member, program, points: int, funder, request_no: str, fp: str,
                    now: datetime | None = None) -> tuple[int, dict]:
    """积分兑换权益: the member pays ``points`` of ``program`` for a voucher of a right that
    ``funder`` funds. Call it inside the claim's transaction (rights.vouchers.claim), so that the
    debit and the voucher commit together or not at all.

    The points go to the funder, the party that will pay the provider for the voucher's use: a
    redemption of the program at the funder (member available → the funder's accepted points,
    spent from the lots that expire first). When the funder is not the program's issuer, the
    issuer owes it the points' cash value less the acceptance fee of the funder's agreement (a
    ``redemption`` clearing item, as at a till); the funder needs an active agreement accepting
    the program. An issuer selling a right for its own points owes nobody.

    Returns (the operation's id, its answer). A short balance is POINTS_INSUFFICIENT with nothing
    written; the request number already taken (a concurrent claim of the same number committed
    first) raises ``ledger.Conflict`` for the caller to replay the claim.
    """
    now = now or timezone.now()
    check_points(points, name="兑换积分")
    value = rules.points_value_fen(program, points)
    clearing: list[dict] = []
    if funder.pk != program.issuer_id:
        agreement = Agreement.objects.filter(merchant=funder, program=program, active=True, can_accept=True).first()
        if agreement is None:
            raise NoAuth("权益出资方未签署受理该积分计划的协议，不能以积分兑换")
        clearing = _redemption_clearing(agreement, funder, program, points, value)
    res = ledger.apply(Entry(
        now=now, txn_kind="right_claim",
        op=op_row(merchant=funder, store=None, terminal=None, member=member, program=program, request_no=request_no,
                  kind="right_claim", status="success", fp=fp, now=now, points=points, amount_fen=value),
        legs=[Posting(member_account(AVAILABLE, program.pk, member.pk), -points, {"take": True}),
              Posting(party_account(MERCHANT_REDEEMED, program.pk, funder.pk), points)],
        clearing=clearing,
        balance_of=member_account(AVAILABLE, program.pk, member.pk),
        result={"request_no": request_no, "points": points, "amount_fen": value},
    ))
    if res.get("replay"):
        raise ledger.Conflict()
    if res.get("error_code"):
        raise DomainError(code=res["error_code"])
    return res["op_id"], res["result"]


def undo_right_claim(*, operation_id: int, now: datetime | None = None) -> bool:
    """The points of a claim paid with points go back to the member (to the lots they came from;
    a lot that expired meanwhile is re-credited with the program's grace expiry), the funder's
    accepted points and the redemption clearing item are undone — the exact opposite of
    ``spend_for_right``, by the same construction as a reverse. Called by operations'
    deactivation of an unused voucher, in its transaction. False if already undone."""
    from points.reversal import _undo  # the one construction of "the opposite of an operation"

    now = now or timezone.now()
    op = Operation.objects.select_for_update().get(pk=operation_id)
    if op.kind != Operation.Kind.RIGHT_CLAIM:
        raise ParamError("不是积分兑换权益的交易")
    if op.status != Operation.Status.SUCCESS:
        return False
    op.program = program_by_id(op.program_id)
    res = ledger.apply(_undo(op, now))
    if res.get("error_code"):  # the ledger refused the write (nothing moved)
        raise DomainError(code=res["error_code"])
    return True
