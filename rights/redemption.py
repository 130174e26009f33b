"""Write-off (核销): the one home of every use of a voucher, whoever calls it (the till's earn,
a gate, an online platform, the native voucher endpoints).

- ``redeem``: write off now (available → used), one guarded statement
  ``… WHERE state = 'available' AND valid_from <= now AND expires_at > now`` plus a redemption
  row whose partial unique index (one live use per voucher) makes a second use impossible.
- ``reserve`` / ``confirm`` / ``release``: a till that opens a sale holds the voucher for 15
  minutes (available → reserved → used, or back to available); ``release_lapsed`` tidies lapses.
- ``reverse``: the caller never got an answer and cancels its request number; an unseen number
  leaves a tombstone so the late original is refused ``ORDER_REVERSED``.
- ``refund``: a (partial) refund of the sale reduces the funding proportionally; a full refund
  gives the voucher back when the right says ``return_on_refund``.

Idempotent per merchant × request number: the same number with the same content answers the
first answer (refusals included), other content is ``IDEMPOTENCY_KEY_REUSED``. The quotas per
store per day and the budget are consumed at use (at reserve for a reservation) and given back
by reverse, release and refund. Each use writes a ``RightsFunding`` row (funder → provider, the
settlement amount fixed at use time) and its ``rights_funding`` clearing item in the same
transaction; reverse and refunds write the matching negative rows and items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.db import Lookup, fetch_prepared
from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    OrderNotExist,
    OrderReversed,
    ParamError,
    RefundExceedsOriginal,
    RightNotApplicable,
    VoucherExpired,
    VoucherNotFound,
    VoucherUsed,
)
from points.models import ClearingItem
from rights import quotas, vouchers
from rights.models import Redemption, Right, RightsFunding, Voucher
from rights.states import State, fingerprint, recorded_refusal, transition
from rights.validity import local_date, weekday_allowed

RESERVE_MINUTES = 15
MAX_FEN = 10**12
Kind = Redemption.Kind
Status = Redemption.Status


def _fen(value, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FEN:
        raise ParamError(f"{name}必须为非负整数（分）")
    return value


def check_discount(right: Right, *, sale_fen: int, discount_fen: int) -> None:
    """The discount a till applied must not exceed what the right allows: a fixed amount for
    满减, at most ⌈gross × (1 − rate)⌉ (capped) for a rate, where gross = sale + discount."""
    fixed = right.kind == Right.Kind.AMOUNT_OFF or (right.kind == Right.Kind.ONLINE_COUPON and right.off_fen)
    rated = right.kind in (Right.Kind.PERCENT_OFF, Right.Kind.TIER_DISCOUNT) or (
        right.kind == Right.Kind.ONLINE_COUPON and right.rate_bp)  # an online coupon carries either value
    if fixed:
        if discount_fen > right.off_fen:
            raise RightNotApplicable(f"优惠金额超过该权益允许的 {right.off_fen} 分")
    elif rated:
        gross = sale_fen + discount_fen
        most = -((-gross * (10000 - right.rate_bp)) // 10000)  # exact integer ceiling
        if right.cap_fen is not None:
            most = min(most, right.cap_fen)
        if discount_fen > most:
            raise RightNotApplicable(f"优惠金额超过该权益允许的 {most} 分")
    elif discount_fen:
        raise RightNotApplicable("该权益不含金额优惠")


def settlement_for(right: Right, discount_fen: int) -> int:
    """What the funder owes the provider for one use, fixed now: the price per use, or the funded
    share of the discount (basis points, rounded half up)."""
    if right.settlement_fen is not None:
        return right.settlement_fen
    if right.funded_share_bp is not None:
        return (discount_fen * right.funded_share_bp + 5000) // 10000
    return 0


def check_applicable(right: Right, *, merchant, store, member, sale_fen: int, discount_fen: int,
                     now: datetime) -> None:
    """Is this right usable here, now, by this member, on this sale? RIGHT_NOT_APPLICABLE if not."""
    if right.status != Right.Status.ACTIVE:
        raise RightNotApplicable("权益未上线或已暂停")
    if merchant.pk not in right.related_ids("providers"):
        raise RightNotApplicable("该权益不适用于本商户")
    if store is not None:
        if store.merchant_id != merchant.pk:
            raise ParamError("门店不属于该商户")
        store_ids = right.related_ids("stores")
        if store_ids and store.pk not in store_ids:
            raise RightNotApplicable("该权益不适用于本门店")
    if right.scenes and merchant.scene not in right.scenes:
        raise RightNotApplicable("该权益不适用于本场景")
    if right.valid_from and now < right.valid_from:
        raise RightNotApplicable("权益尚未开始")
    if right.valid_until and now >= right.valid_until:
        raise VoucherExpired("权益已过有效期")
    if not weekday_allowed(right, now):
        raise RightNotApplicable("该权益今日不可使用")
    if member is not None:
        vouchers.check_member_eligible(right, member)
    if right.threshold_fen and sale_fen + discount_fen < right.threshold_fen:
        raise RightNotApplicable(f"未达到使用门槛 {right.threshold_fen} 分")
    check_discount(right, sale_fen=sale_fen, discount_fen=discount_fen)


def _explain_refusal(voucher_id: int, now: datetime) -> DomainError:
    """Why the guarded write-off matched no row, in the canonical vocabulary."""
    voucher = Voucher.objects.filter(pk=voucher_id).first()
    if voucher is None:
        return VoucherNotFound()
    if voucher.state == State.USED:
        return VoucherUsed(detail={"used_at": voucher.used_at.isoformat()} if voucher.used_at else None)
    if voucher.state == State.DEACTIVATED:
        return VoucherExpired("凭证已作废")
    if voucher.state == State.EXPIRED or voucher.expires_at <= now:
        return VoucherExpired()
    if voucher.state == State.RESERVED:
        return VoucherUsed("凭证已被其他交易预占")
    if voucher.valid_from > now:
        return RightNotApplicable("凭证尚未生效")
    return VoucherUsed()


def _result(r: Redemption, voucher: Voucher | None, right: Right, status: str) -> dict:
    body = {"request_no": r.request_no, "status": status, "right_code": right.code, "right_name": right.name,
            "discount_fen": r.discount_fen, "settlement_fen": r.settlement_fen}
    if voucher is not None:
        body["voucher_id"] = voucher.pk
    if right.people:
        body["people"] = right.people
    if r.reserved_until is not None and status == "RESERVED":
        body["reserved_until"] = r.reserved_until.isoformat()
    return body


def _replay(existing: Redemption, fp: str, kind: str = Kind.USE) -> dict:
    if existing.kind == Kind.TOMBSTONE:
        raise OrderReversed("该核销已冲正，原请求不再受理")
    if existing.fingerprint != fp or existing.kind != kind:
        raise IdempotencyKeyReused()
    if existing.status == Status.REVERSED:
        raise OrderReversed("该核销已冲正")
    if existing.status == Status.REFUSED:
        raise recorded_refusal(existing.error_code, (existing.result or {}).get("message"))
    return existing.result


def _record_refusal(*, merchant, request_no: str, fp: str, error: DomainError, voucher_id, right_id, member,
                    store, terminal, sale_fen: int, now: datetime) -> None:
    try:
        with transaction.atomic():
            Redemption.objects.create(
                merchant=merchant, request_no=request_no, kind=Kind.USE, status=Status.REFUSED, fingerprint=fp,
                voucher_id=voucher_id, right_id=right_id, member=member, store=store, terminal=terminal,
                sale_fen=sale_fen, business_date=local_date(now), error_code=error.code,
                result={"code": error.code, "message": error.message}, created_at=now)
    except IntegrityError:
        pass  # the number was taken concurrently: the caller replays it


def _locate(*, merchant, voucher, display_code, member, now):
    if display_code is not None:
        code_member, found = vouchers.resolve_display_code(code=display_code, merchant=merchant, now=now)
        if member is not None and member.pk != code_member.pk:
            raise VoucherNotFound("凭证不属于该会员")
        return code_member, found
    if voucher is None:
        raise ParamError("须提供凭证或展示码")
    voucher = Voucher.objects.filter(pk=getattr(voucher, "pk", voucher)).select_related("member").first()
    if voucher is None:
        raise VoucherNotFound()
    if member is not None and voucher.member_id != member.pk:
        raise VoucherNotFound("凭证不属于该会员")  # never use another member's voucher
    return voucher.member, voucher


def _write_off(*, reserve: bool, merchant, store, terminal, request_no: str, fp: str, voucher: Voucher | None,
               member, right: Right, sale_fen: int, discount_fen: int, now: datetime,
               check_sale_fen: int | None = None) -> Redemption:
    """The one write-off, inside the caller's transaction: the right's checks, the guarded
    voucher move (none for a tier discount, which has no voucher), the quotas, the redemption row
    and its funding. ``check_sale_fen`` is the sale the threshold and rate are checked against
    when it differs from the recorded ``sale_fen`` (a till sale with several rights: the
    recorded sale is what the member paid, the check uses gross minus this discount)."""
    check_applicable(right, merchant=merchant, store=store, member=member,
                     sale_fen=sale_fen if check_sale_fen is None else check_sale_fen,
                     discount_fen=discount_fen, now=now)
    settlement = settlement_for(right, discount_fen)
    business_date = local_date(now)
    reserved_until = now + timedelta(minutes=RESERVE_MINUTES) if reserve else None
    if voucher is not None:
        # pending whose day has come: available first (its own event), then the write-off
        transition(voucher.pk, "activate", now=now, where="v.valid_from <= %s AND v.expires_at > %s",
                   params=(now, now), merchant_id=merchant.pk, request_no=request_no)
        old = transition(
            voucher.pk, "reserve" if reserve else "use", now=now,
            where="v.valid_from <= %s AND v.expires_at > %s", params=(now, now),
            merchant_id=merchant.pk, request_no=request_no,
            set_columns={"reserved_until": reserved_until} if reserve else {"used_at": now})
        if old is None:
            raise _explain_refusal(voucher.pk, now)
    elif right.is_voucher:
        raise RightNotApplicable("该权益须出示凭证使用")
    # the voucher row is locked first, then the counters (the same order as reverse)
    quotas.consume(right, quotas.use_takes(right, store_id=getattr(store, "pk", None),
                                           business_date=business_date, settlement_fen=settlement))
    row = Redemption(
        merchant=merchant, request_no=request_no, kind=Kind.USE,
        status=Status.RESERVED if reserve else Status.SUCCESS, fingerprint=fp, voucher=voucher,
        right=right, member=member, store=store, terminal=terminal, sale_fen=sale_fen,
        discount_fen=discount_fen, settlement_fen=settlement, business_date=business_date,
        reserved_until=reserved_until, created_at=now)
    row.result = _result(row, voucher, right, "RESERVED" if reserve else "SUCCESS")
    row.save()
    if not reserve:
        _fund(row, right, settlement, reason="use", now=now)
    return row


def _use(*, reserve: bool, merchant, store, terminal, request_no: str, voucher, display_code, member,
         sale_fen: int, discount_fen: int, now: datetime | None) -> dict:
    now = now or timezone.now()
    if not isinstance(request_no, str) or not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")
    sale_fen = _fen(sale_fen, "订单金额")
    discount_fen = _fen(discount_fen, "优惠金额")
    ref = (f"d:{vouchers.display_code_digest(display_code)}" if isinstance(display_code, str)
           else f"v:{getattr(voucher, 'pk', voucher)}")
    fp = fingerprint("reserve" if reserve else "use", ref=ref, sale=sale_fen, discount=discount_fen,
                     store=getattr(store, "pk", None))
    existing = Redemption.objects.filter(merchant=merchant, request_no=request_no).first()
    if existing is not None:
        return _replay(existing, fp)
    found_voucher = found_member = None
    try:
        with transaction.atomic():
            found_member, found_voucher = _locate(merchant=merchant, voucher=voucher, display_code=display_code,
                                                  member=member, now=now)
            right = Right.objects.get(pk=found_voucher.right_id)
            row = _write_off(reserve=reserve, merchant=merchant, store=store, terminal=terminal,
                             request_no=request_no, fp=fp, voucher=found_voucher, member=found_member, right=right,
                             sale_fen=sale_fen, discount_fen=discount_fen, now=now)
            return row.result
    except IntegrityError:
        # the same request number (or this voucher's live use) committed concurrently
        existing = Redemption.objects.filter(merchant=merchant, request_no=request_no).first()
        if existing is not None:
            return _replay(existing, fp)
        error = VoucherUsed()
    except DomainError as refusal:
        if isinstance(refusal, ParamError | IdempotencyKeyReused):
            raise  # bad input is answered, not recorded
        error = refusal
    _record_refusal(merchant=merchant, request_no=request_no, fp=fp, error=error,
                    voucher_id=getattr(found_voucher, "pk", None), right_id=getattr(found_voucher, "right_id", None),
                    member=found_member, store=store, terminal=terminal, sale_fen=sale_fen, now=now)
    existing = Redemption.objects.filter(merchant=merchant, request_no=request_no).first()
    if existing is not None and existing.status != Status.REFUSED:
        return _replay(existing, fp)
    raise error


def _fund(row: Redemption, right: Right, amount: int, *, reason: str, now: datetime) -> None:
    """What the funder owes the provider for this use (negative: undone by a reverse or refund),
    in the same transaction as the use: a ``RightsFunding`` row and its clearing item
    (``points_clearing_item`` kind ``rights_funding``, funder → provider, no ledger transaction,
    no program, no points), which the daily clearing batch takes like any other item, by its
    ``created_at``. A right the provider funds itself moves nothing between parties: no item."""
    if amount == 0:
        return
    item = None
    if right.funder_id != row.merchant_id:
        item = ClearingItem.objects.create(payer_id=right.funder_id, payee_id=row.merchant_id,
                                           kind=ClearingItem.Kind.RIGHTS_FUNDING, points=0, amount_fen=amount,
                                           fee_fen=0, created_at=now)
    RightsFunding.objects.create(redemption=row, right=right, funder_id=right.funder_id, provider_id=row.merchant_id,
                                 amount_fen=amount, reason=reason, clearing_item=item, created_at=now)


def largest_remainder(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` fen in proportion to ``weights`` (non-negative integers, not all zero):
    each part gets the floor of its exact share, and the fen left over go one each to the parts
    with the largest remainders (ties: the earlier part). The parts add up to ``total`` exactly."""
    whole = sum(weights)
    if whole <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative and not all zero")
    parts = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:total - sum(parts)]:
        parts[i] += 1
    return parts


def refunded_settlement(*, settlement_fen: int, sale_fen: int, refunded_fen: int) -> int:
    """The part of a use's settlement that refunds of ``refunded_fen`` of its ``sale_fen`` have
    taken back: the settlement split by largest remainder between the refunded and the kept part
    of the sale. It never decreases as more is refunded and is the whole at a full refund, so the
    funding given back by a sequence of partial refunds (each the difference of two of these)
    adds back exactly to the whole."""
    if sale_fen == 0:
        return settlement_fen if refunded_fen else 0
    return largest_remainder(settlement_fen, [refunded_fen, sale_fen - refunded_fen])[0]


def redeem(*, merchant, store, terminal, request_no: str, voucher=None, display_code: str | None = None,
           member=None, sale_fen: int = 0, discount_fen: int = 0, now: datetime | None = None) -> dict:
    """核销 now. ``display_code`` (a scanned ``97…`` code) or ``voucher`` names the voucher; when
    ``member`` is given (from the till's identify), the voucher must be that member's."""
    return _use(reserve=False, merchant=merchant, store=store, terminal=terminal, request_no=request_no,
                voucher=voucher, display_code=display_code, member=member, sale_fen=sale_fen,
                discount_fen=discount_fen, now=now)


def reserve(*, merchant, store, terminal, request_no: str, voucher=None, display_code: str | None = None,
            member=None, sale_fen: int = 0, discount_fen: int = 0, now: datetime | None = None) -> dict:
    """预占 while the sale is open: confirm within 15 minutes or it lapses back to available."""
    return _use(reserve=True, merchant=merchant, store=store, terminal=terminal, request_no=request_no,
                voucher=voucher, display_code=display_code, member=member, sale_fen=sale_fen,
                discount_fen=discount_fen, now=now)


def _locked(merchant, request_no: str) -> Redemption:
    row = Redemption.objects.select_for_update().filter(merchant=merchant, request_no=request_no).first()
    if row is None:
        raise OrderNotExist()
    if row.kind == Kind.TOMBSTONE or row.status == Status.REVERSED:
        raise OrderReversed()
    return row


def _takes(row: Redemption, right: Right) -> list:
    return quotas.use_takes(right, store_id=row.store_id, business_date=row.business_date,
                            settlement_fen=row.settlement_fen - row.refunded_settlement_fen)


@transaction.atomic
def confirm(*, merchant, request_no: str, now: datetime | None = None) -> dict:
    """确认 a reservation: the voucher is used now (unless the hold lapsed or the voucher expired)."""
    now = now or timezone.now()
    row = _locked(merchant, request_no)
    right = Right.objects.get(pk=row.right_id)
    if row.kind != Kind.USE or row.status == Status.REFUSED:
        raise OrderNotExist("该单号不是有效的预占")
    if row.status == Status.SUCCESS:
        return _result(row, row.voucher, right, "SUCCESS")
    if row.status == Status.RELEASED or row.reserved_until <= now:
        raise VoucherExpired("预占已超时，请重新核销")
    if transition(row.voucher_id, "confirm", now=now, where="v.expires_at > %s", params=(now,),
                  merchant_id=merchant.pk, request_no=request_no, set_columns={"used_at": now}) is None:
        raise _explain_refusal(row.voucher_id, now)
    row.status = Status.SUCCESS
    row.result = _result(row, row.voucher, right, "SUCCESS")
    row.save(update_fields=["status", "result"])
    _fund(row, right, row.settlement_fen, reason="use", now=now)
    return row.result


def _release(row: Redemption, *, now: datetime, status: str) -> None:
    right = Right.objects.get(pk=row.right_id)
    voucher = Voucher.objects.get(pk=row.voucher_id)
    transition(row.voucher_id, "release", now=now, to=State.EXPIRED if voucher.expires_at <= now else None,
               merchant_id=row.merchant_id, request_no=row.request_no)
    quotas.give_back(right, _takes(row, right))
    row.status = status
    row.reversed_at = now if status == Status.REVERSED else None
    row.save(update_fields=["status", "reversed_at"])


@transaction.atomic
def release(*, merchant, request_no: str, now: datetime | None = None) -> dict:
    """释放 a reservation now (idempotent)."""
    now = now or timezone.now()
    row = _locked(merchant, request_no)
    if row.kind != Kind.USE or row.status == Status.REFUSED:
        raise OrderNotExist("该单号不是有效的预占")
    if row.status == Status.SUCCESS:
        raise ParamError("预占已确认，不能释放；请使用冲正或退货")
    if row.status == Status.RESERVED:
        _release(row, now=now, status=Status.RELEASED)
    return {"request_no": request_no, "status": "RELEASED"}


def release_lapsed(*, now: datetime | None = None, batch: int = 500) -> int:
    """The scheduled job: reservations past their 15 minutes go back (safe to run twice)."""
    now = now or timezone.now()
    done = 0
    ids = list(Redemption.objects.filter(status=Status.RESERVED, reserved_until__lte=now)
               .values_list("pk", flat=True)[:batch])
    for pk in ids:
        with transaction.atomic():
            row = Redemption.objects.select_for_update(skip_locked=True).filter(
                pk=pk, status=Status.RESERVED, reserved_until__lte=now).first()
            if row is not None:
                _release(row, now=now, status=Status.RELEASED)
                done += 1
    return done


def reverse(*, merchant, request_no: str, now: datetime | None = None) -> dict:
    """冲正: undo the use of this request number, whatever its state; an unseen number leaves a
    tombstone (the original, arriving late, is refused ORDER_REVERSED). Idempotent."""
    now = now or timezone.now()
    if not isinstance(request_no, str) or not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")
    answer = {"request_no": request_no, "status": "REVERSED"}
    for _ in range(3):
        try:
            with transaction.atomic():
                Redemption.objects.create(merchant=merchant, request_no=request_no, kind=Kind.TOMBSTONE,
                                          status=Status.REVERSED, business_date=local_date(now), created_at=now,
                                          reversed_at=now, result=answer)
            return answer
        except IntegrityError:
            pass  # the number exists (or is being written): reverse it
        with transaction.atomic():
            row = Redemption.objects.select_for_update().filter(merchant=merchant, request_no=request_no).first()
            if row is None:
                continue
            if row.kind == Kind.REFUND:
                raise ParamError("退货退回不能冲正")
            if row.kind == Kind.TOMBSTONE or row.status in (Status.REVERSED, Status.REFUSED):
                return answer
            right = Right.objects.get(pk=row.right_id)
            if row.status in (Status.RESERVED, Status.RELEASED):
                if row.status == Status.RESERVED:
                    _release(row, now=now, status=Status.REVERSED)
                else:
                    row.status, row.reversed_at = Status.REVERSED, now
                    row.save(update_fields=["status", "reversed_at"])
                return answer
            takes = _takes(row, right)
            if row.voucher_id is None:  # a tier discount: no voucher to give back, every take goes back
                moved = True
            else:
                voucher = Voucher.objects.get(pk=row.voucher_id)
                moved = transition(row.voucher_id, "reverse", now=now,
                                   to=State.EXPIRED if voucher.expires_at <= now else None,
                                   merchant_id=merchant.pk, request_no=request_no)
            if moved is None:  # given back already by a full refund: its store-day use went with it
                takes = [t for t in takes if t.scope == quotas.Scope.BUDGET]
            quotas.give_back(right, takes)
            _fund(row, right, -(row.settlement_fen - row.refunded_settlement_fen), reason="reverse", now=now)
            row.status, row.reversed_at = Status.REVERSED, now
            row.save(update_fields=["status", "reversed_at"])
            return answer
    raise ParamError("冲正状态正在变化，请重试")


def refund(*, merchant, request_no: str, original_request_no: str, refund_fen: int,
           now: datetime | None = None) -> dict:
    """退货: the sale of a use is refunded by ``refund_fen`` (0 for a use without a sale amount,
    meaning the whole). The funding goes down proportionally: by ``refunded_settlement`` (a
    largest-remainder split of the settlement between refunded and kept), cumulatively, so the
    parts add back exactly to the whole. A full refund
    gives the voucher back (available, or expired if past its expiry) when ``return_on_refund``."""
    now = now or timezone.now()
    if not isinstance(request_no, str) or not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")
    refund_fen = _fen(refund_fen, "退货金额")
    fp = fingerprint("refund", original=original_request_no, refund=refund_fen)
    existing = Redemption.objects.filter(merchant=merchant, request_no=request_no).first()
    if existing is not None:
        return _replay(existing, fp, kind=Kind.REFUND)
    try:
        with transaction.atomic():
            original = _locked(merchant, original_request_no)
            if original.kind != Kind.USE or original.status != Status.SUCCESS:
                raise OrderNotExist("原核销不存在或未成功")
            right = Right.objects.get(pk=original.right_id)
            if original.sale_fen == 0:
                if refund_fen != 0 or original.refunded_settlement_fen or original.refunded_fen:
                    raise RefundExceedsOriginal()
                full, back = True, original.settlement_fen
            else:
                if refund_fen == 0:
                    raise ParamError("退货金额必须为正整数（分）")
                total = original.refunded_fen + refund_fen
                if total > original.sale_fen:
                    raise RefundExceedsOriginal()
                full = total == original.sale_fen
                back = refunded_settlement(settlement_fen=original.settlement_fen, sale_fen=original.sale_fen,
                                           refunded_fen=total) - original.refunded_settlement_fen
                original.refunded_fen = total
            row = Redemption(merchant=merchant, request_no=request_no, kind=Kind.REFUND, status=Status.SUCCESS,
                             fingerprint=fp, voucher_id=original.voucher_id, right=right, member_id=original.member_id,
                             store_id=original.store_id, original=original, sale_fen=refund_fen,
                             settlement_fen=back, business_date=local_date(now), created_at=now)
            returned = False
            if full and right.return_on_refund and original.voucher_id is not None:
                voucher = Voucher.objects.get(pk=original.voucher_id)
                returned = transition(original.voucher_id, "return", now=now,
                                      to=State.EXPIRED if voucher.expires_at <= now else None,
                                      merchant_id=merchant.pk, request_no=request_no) is not None
            takes = quotas.use_takes(right, store_id=original.store_id, business_date=original.business_date,
                                     settlement_fen=back)
            if not returned:
                takes = [t for t in takes if t.scope == quotas.Scope.BUDGET]
            quotas.give_back(right, takes)
            row.result = {"request_no": request_no, "status": "REFUNDED", "original_request_no": original_request_no,
                          "settlement_fen_returned": back, "voucher_returned": returned}
            row.save()
            original.refunded_settlement_fen += back
            original.save(update_fields=["refunded_fen", "refunded_settlement_fen"])
            _fund(row, right, -back, reason="refund", now=now)
            return row.result
    except IntegrityError:
        existing = Redemption.objects.filter(merchant=merchant, request_no=request_no).first()
        if existing is None:
            raise
        return _replay(existing, fp, kind=Kind.REFUND)


# ---- the uses of one till sale (contract v1.1: earn's rights_used) ---------------------------
#
# A till's earn may report the rights it applied. Their uses are written by ``record_sale_uses``
# inside the earn's own transaction (points.till.earn), one redemption row per right, numbered
# from the sale's request number (``sale_use_no``) so that the earn's refund and reverse find them
# and a second recording of the same sale is impossible (unique per merchant × number).

MAX_SALE_USES = 8


def _sale_key(number: str) -> str:
    return hashlib.sha256(number.encode("utf-8")).hexdigest()[:40]


def sale_use_no(sale_request_no: str, position: int) -> str:
    """The redemption number of the ``position``-th right used by a till sale."""
    return f"till:{_sale_key(sale_request_no)}:{position}"


def sale_refund_no(refund_no: str, position: int) -> str:
    """The redemption number of a till refund's give-back of the ``position``-th use."""
    return f"tillrf:{_sale_key(refund_no)}:{position}"


@dataclass(frozen=True)
class SaleUse:
    """One right applied to a sale: the right, its voucher (None for a tier discount) and the
    discount the till gave in fen."""

    right: Right
    voucher: Voucher | None
    discount_fen: int


_SALE_HAS_USES = ("SELECT EXISTS (SELECT 1 FROM rights_redemption WHERE merchant_id = %s AND kind = %s"
                  f" AND request_no IN ({', '.join(['%s'] * MAX_SALE_USES)}))")


def _sale_use_numbers(sale_request_no: str) -> list[str]:
    return [sale_use_no(sale_request_no, n) for n in range(MAX_SALE_USES)]


def sale_uses_lookup(merchant_id: int, sale_request_no: str) -> Lookup:
    """The statement ``sale_has_uses`` sends (one row), for the gateway to read ahead."""
    return Lookup(_SALE_HAS_USES, (merchant_id, Kind.USE.value, *_sale_use_numbers(sale_request_no)), 1)


def sale_has_uses(*, merchant, sale_request_no: str) -> bool:
    """Whether a till sale recorded any rights uses (one prepared statement, or the row read
    ahead: every till refund asks)."""
    lookup = sale_uses_lookup(merchant.pk, sale_request_no)
    return bool(fetch_prepared(lookup.sql, lookup.params)[0][0])


def sale_uses(*, merchant, sale_request_no: str) -> list[Redemption]:
    """The uses recorded for a till sale (any status), in the order the till reported them."""
    numbers = _sale_use_numbers(sale_request_no)
    rows = Redemption.objects.filter(merchant=merchant, request_no__in=numbers, kind=Kind.USE)
    return sorted(rows, key=lambda r: numbers.index(r.request_no))


def sale_refunded_uses(*, merchant, refund_no: str) -> bool:
    """Whether a till refund gave back rights uses (such a refund cannot be reversed: the points
    reverse would leave the funding and the returned voucher behind)."""
    numbers = [sale_refund_no(refund_no, n) for n in range(MAX_SALE_USES)]
    return Redemption.objects.filter(merchant=merchant, request_no__in=numbers, kind=Kind.REFUND).exists()


def record_sale_uses(*, merchant, store, terminal, member, sale_request_no: str, sale_fen: int,
                     uses: list[SaleUse], now: datetime) -> list[dict]:
    """Write off every right of one sale, all or nothing: call inside the sale's transaction
    (a refusal raises and the caller's atomic block undoes the sale and every use before it).

    ``sale_fen`` is what the member paid other than with points (the earn amount, recorded on
    each use for refunds); the checks use gross = sale + all the discounts: a right's threshold
    against the gross, a rate's discount at most ⌈gross × (1 − rate)⌉."""
    if not uses:
        return []
    if len(uses) > MAX_SALE_USES:
        raise ParamError(f"一笔交易最多使用 {MAX_SALE_USES} 项权益")
    gross = sale_fen + sum(use.discount_fen for use in uses)
    results = []
    for position, use in enumerate(uses):
        number = sale_use_no(sale_request_no, position)
        fp = fingerprint("sale-use", sale=sale_request_no, right=use.right.pk,
                         voucher=getattr(use.voucher, "pk", None), discount=use.discount_fen, sale_fen=sale_fen)
        row = _write_off(reserve=False, merchant=merchant, store=store, terminal=terminal, request_no=number,
                         fp=fp, voucher=use.voucher, member=member, right=use.right, sale_fen=sale_fen,
                         check_sale_fen=gross - use.discount_fen, discount_fen=use.discount_fen, now=now)
        row.result = {**row.result, "sale_request_no": sale_request_no}
        row.save(update_fields=["result"])
        results.append(row.result)
    return results


def reverse_sale_uses(*, merchant, sale_request_no: str, now: datetime) -> int:
    """The sale was reversed (points.till.reverse, in the same transaction): every use of it is
    reversed — the voucher available again, the quotas given back, negative funding. Returns how
    many uses were reversed now."""
    done = 0
    for row in sale_uses(merchant=merchant, sale_request_no=sale_request_no):
        if row.status == Status.SUCCESS:
            reverse(merchant=merchant, request_no=row.request_no, now=now)
            done += 1
    return done


def refund_sale_uses(*, merchant, refund_no: str, sale_request_no: str, refund_fen: int,
                     now: datetime) -> list[dict]:
    """The sale was (partly) refunded by ``refund_fen`` (points.till.refund, in the same
    transaction): each use's funding goes down in proportion (``refund``), and a full refund
    gives a voucher back when its right says ``return_on_refund``."""
    out = []
    for position, row in enumerate(sale_uses(merchant=merchant, sale_request_no=sale_request_no)):
        if row.status != Status.SUCCESS:
            continue
        out.append(refund(merchant=merchant, request_no=sale_refund_no(refund_no, position),
                          original_request_no=row.request_no, refund_fen=refund_fen if row.sale_fen else 0, now=now))
    return out
