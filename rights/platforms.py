"""The native API's voucher endpoints (``vouchers/query``, ``vouchers/redeem``,
``vouchers/{request_no}/reverse``, ``vouchers/return``): a write-off without a points sale — a
gift handed over, a ticket at a counter — and the uses online platforms report.

The merchant is the credential's (hub.gateway); the voucher is named by what the member showed
or the platform was given: a display code (``97…``, used up by the write-off), the voucher's
reference at this merchant (``rights.references``, ``V`` + 26 characters) or, for an online
coupon, the voucher code the member copied (``V`` + 15 characters). Every use, reverse and return
is ``rights.redemption`` — this module only names the voucher, keeps the platform's order number
beside the write-off (``PlatformOrder``) and shapes the answers. No answer carries anything of
the member.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    ParamError,
    RightNotApplicable,
    VoucherExpired,
    VoucherNotFound,
)
from rights import redemption, references, vouchers
from rights.models import DisplayCode, PlatformOrder, Redemption, Right, Voucher
from rights.validity import local_date

VOUCHER_CODE_RE = re.compile(r"^V[0-9A-HJKMNP-TV-Z]{15}$")


def named_voucher(text, merchant, *, now: datetime) -> tuple[Voucher, str | None]:
    """(voucher, the display code to use up or None) for what a caller sent; VOUCHER_NOT_FOUND
    when it names nothing at this merchant. A display code is only looked at here, not used."""
    if not isinstance(text, str) or not text:
        raise ParamError("缺少参数：voucher")
    if vouchers.DISPLAY_RE.match(text):
        row = DisplayCode.objects.filter(digest=vouchers.display_code_digest(text)).select_related("voucher").first()
        if row is None:
            raise VoucherNotFound("展示码无效")
        if row.used_at is not None or row.expires_at <= now:
            raise VoucherExpired("展示码已过期或已使用，请会员刷新后重新出示")
        return row.voucher, text
    if references.is_reference(text):
        voucher = references.resolve_reference(text, merchant)
    elif VOUCHER_CODE_RE.match(text):
        voucher = Voucher.objects.filter(code_digest=vouchers.voucher_code_digest(text)).first()
    else:
        raise ParamError("参数格式错误：voucher（展示码、凭证标识或券码）")
    if voucher is None:
        raise VoucherNotFound()
    return voucher, None


def _value(right: Right) -> dict:
    fields = {"discount_bp": right.rate_bp, "discount_fen": right.off_fen, "threshold_fen": right.threshold_fen,
              "cap_fen": right.cap_fen, "people": right.people}
    return {k: v for k, v in fields.items() if v is not None}


def query(*, merchant, store=None, voucher: str, now: datetime | None = None) -> dict:
    """What a voucher is, its state and validity, and whether it can be used here now (a display
    code is not used up). Another merchant's right is RIGHT_NOT_APPLICABLE; nothing of the member."""
    now = now or timezone.now()
    found, _ = named_voucher(voucher, merchant, now=now)
    right = Right.objects.get(pk=found.right_id)
    if not right.providers.filter(pk=merchant.pk).exists():
        raise RightNotApplicable("该凭证不适用于本商户")
    state = found.state
    if state in (Voucher.State.PENDING, Voucher.State.AVAILABLE) and found.expires_at <= now:
        state = Voucher.State.EXPIRED  # expiry is a fact at the instant, whether or not the tidy-up ran
    usable = state in (Voucher.State.PENDING, Voucher.State.AVAILABLE) and found.valid_from <= now \
        and right.status == Right.Status.ACTIVE
    answer = {"voucher_ref": references.voucher_reference(found, merchant), "right_code": right.code,
              "right_name": right.name, "kind": right.kind, "state": state, "usable": usable,
              "valid_from": found.valid_from, "expires_at": found.expires_at,
              "valid_until": local_date(found.expires_at - timedelta(microseconds=1)), **_value(right)}
    if state == Voucher.State.USED and found.used_at is not None:
        answer["used_at"] = found.used_at
    return answer


def _order_answer(result: dict, voucher_ref: str, order: PlatformOrder | None) -> dict:
    answer = {"request_no": result["request_no"], "status": result["status"], "voucher_ref": voucher_ref,
              "right_code": result["right_code"], "right_name": result["right_name"],
              "discount_fen": result["discount_fen"]}
    if order is not None and order.order_no:
        answer["order_no"] = order.order_no
    if "people" in result:
        answer["people"] = result["people"]
    return answer


def redeem(*, merchant, store, terminal, request_no: str, voucher: str, order_no: str = "", amount_fen: int = 0,
           discount_fen: int = 0, now: datetime | None = None) -> dict:
    """核销 without a points sale (a gift, a ticket at a counter) or a use an online platform
    reports (its order number and amount): rights.redemption.redeem, with the order beside it.
    The same request number with the same content answers the same, refusals included."""
    now = now or timezone.now()
    order_no = order_no or ""
    if not isinstance(order_no, str) or len(order_no) > 64:
        raise ParamError("参数格式错误：order_no")
    previous = PlatformOrder.objects.filter(merchant=merchant, request_no=request_no).first()
    if previous is not None and (previous.order_no != order_no or previous.amount_fen != amount_fen):
        raise IdempotencyKeyReused()
    try:
        found, display_code = named_voucher(voucher, merchant, now=now)
    except VoucherExpired:
        # a display code used up: if it was used by this very request, this is its retry
        row = Redemption.objects.filter(merchant=merchant, request_no=request_no).first()
        if row is None or row.voucher_id is None:
            raise
        found, display_code = Voucher.objects.get(pk=row.voucher_id), voucher
    ref = references.voucher_reference(found, merchant)
    error = None
    with transaction.atomic():
        try:
            result = redemption.redeem(merchant=merchant, store=store, terminal=terminal, request_no=request_no,
                                       display_code=display_code, voucher=None if display_code else found,
                                       sale_fen=amount_fen, discount_fen=discount_fen, now=now)
        except (ParamError, IdempotencyKeyReused):
            raise
        except DomainError as refusal:
            error = refusal  # recorded by the write-off; committed with this transaction
        else:
            row = Redemption.objects.get(merchant=merchant, request_no=request_no)
            order, _ = PlatformOrder.objects.get_or_create(
                merchant=merchant, request_no=request_no,
                defaults={"order_no": order_no, "amount_fen": amount_fen, "redemption": row, "created_at": now})
            if order.order_no != order_no or order.amount_fen != amount_fen:
                raise IdempotencyKeyReused()
    if error is not None:
        raise error
    return _order_answer(result, ref, order)


def reverse(*, merchant, request_no: str, now: datetime | None = None) -> dict:
    """冲正 a use (rights.redemption.reverse): always accepted; an unseen number is a tombstone."""
    answer = redemption.reverse(merchant=merchant, request_no=request_no, now=now)
    row = Redemption.objects.filter(merchant=merchant, request_no=request_no).only("kind").first()
    action = "tombstone" if row is not None and row.kind == Redemption.Kind.TOMBSTONE else "reverse"
    return {**answer, "action": action}


def return_use(*, merchant, request_no: str, original_request_no: str, amount_fen: int | None,
               now: datetime | None = None) -> dict:
    """退货/退回 of a use, in full or in part (``amount_fen`` of its order amount; absent for a use
    without one): rights.redemption.refund — the funding goes down in proportion, a full return
    gives the voucher back when the right says so."""
    result = redemption.refund(merchant=merchant, request_no=request_no, original_request_no=original_request_no,
                               refund_fen=0 if amount_fen is None else amount_fen, now=now)
    return {"request_no": result["request_no"], "original_request_no": result["original_request_no"],
            "status": result["status"], "amount_fen": 0 if amount_fen is None else amount_fen,
            "voucher_returned": result["voucher_returned"]}
