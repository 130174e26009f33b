"""The till operations: one keyword-only function per canonical operation, the only way in.

Every function takes the ``Place`` of the call (merchant, store, terminal and the time the hub
received it) and its own fields, and works in one order:

1. the shape of the arguments (``PARAM_ERROR``; nothing is looked up yet);
2. the fingerprint of the canonical content: a keyed HMAC over the resolved member's *id*
   (never the credential as sent), the amounts, the business time, the place;
3. the request number, **first**: a number the hub has seen answers its stored first answer
   (refusals included) when the fingerprint matches, ``IDEMPOTENCY_KEY_REUSED`` when it does not,
   ``ORDER_REVERSED`` once it was reversed, whatever the rules say today;
4. only then today's rules: who the member is and whether this naming may redeem
   (``members.credentials``), the agreement, limits and business-time bounds; and the write
   (``points.services`` / ``points.refunds`` / ``points.reversal``, one atomic ledger call).

The gateway's dispatch table (``hub.gateway.dispatch``) maps each canonical operation to one of
these; the store-and-forward batch uses the same table. Nothing else calls the posting layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hub.db import Lookup
from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    MemberNotFound,
    NoAuth,
    OrderNotExist,
    OrderReversed,
    ParamError,
    VoucherExpired,
    VoucherNotFound,
)
from hub.gateway.canonical import RightUse
from hub.gateway.throttle import count_failed_guess, throttle_guess
from members import codes
from members.credentials import (
    CARD,
    CODE,
    MOBILE,
    REF,
    MemberName,
    Resolved,
    members_for_refs,
    peek,
    ref_lookup,
    ref_to_return,
    resolve,
)
from members.models import Member
from members.selectors import load_members
from points import refunds, reversal, selectors, services
from points.batch import EarnItem, earn_many
from points.common import (
    LATER_ANSWERS,
    agreement_for,
    check_fen,
    check_points,
    earn_fingerprint,
    existing_operation,
    fingerprint,
    operation_lookup,
    replay,
    spend_fingerprint,
)
from points.models import Operation, Program
from rights import redemption as rights_redemption
from rights import till as rights_till


@dataclass(frozen=True)
class Place:
    """Where and when a call happened: the merchant (from the credential), the store and terminal
    it named, and the hub's own receive time (campaigns, windows and hold expiry run on it)."""

    merchant: object
    store: object = None
    terminal: object = None
    received_at: datetime = field(default_factory=timezone.now)


# ---- shared steps -------------------------------------------------------------------------------

def _request_no(value: str, *, name: str = "请求单号") -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ParamError(f"{name}不能为空且不超过 64 个字符")
    return value


def _site(place: Place) -> dict:
    return {"store": getattr(place.store, "pk", None), "terminal": getattr(place.terminal, "pk", None)}


def bound_business_time(business_time: datetime | None, received_at: datetime) -> datetime | None:
    """The till's business time, if it is believable: not after the hub's clock plus the skew,
    not before the store-and-forward window; else ``PARAM_ERROR`` (never an overflow)."""
    if business_time is None:
        return None
    if not isinstance(business_time, datetime) or business_time.tzinfo is None:
        raise ParamError("业务时间格式错误")
    skew = timedelta(seconds=settings.BUSINESS_TIME_SKEW_SECONDS)
    window = timedelta(days=settings.STORE_AND_FORWARD_DAYS)
    try:
        early = business_time < received_at - window
        late = business_time > received_at + skew
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise ParamError("业务时间超出范围") from None
    if early:
        raise ParamError(f"业务时间早于离线补传期限（{settings.STORE_AND_FORWARD_DAYS} 天）")
    if late:
        raise ParamError("业务时间晚于当前时间")
    return business_time


def _seen(place: Place, request_no: str) -> Operation | None:
    return existing_operation(place.merchant, request_no)


def _mobile_allowed(merchant) -> bool:
    agreement, _ = agreement_for(merchant)
    return agreement.allow_mobile_lookup


def _display_code(member: MemberName) -> bool:
    """v1.1: a voucher display code (97…) is accepted wherever a member code is."""
    return member.kind == CARD and rights_till.is_display_code(member.value)


def _by_display_code(place: Place, member: MemberName, *, with_pii: bool = False, defer_count: bool = False):
    """(Resolved, voucher) of a display code, used up now; an unknown or used code is a failed
    guess like a bad member code."""
    throttle_guess(place.terminal, place.merchant.pk)
    try:
        found, voucher = rights_till.display_code_member(code=member.value, merchant=place.merchant,
                                                         now=place.received_at)
    except (VoucherNotFound, VoucherExpired) as miss:
        if defer_count:
            miss.failed_guess = True  # counted by the caller once its transaction has rolled back
        else:
            count_failed_guess(place.terminal, place.merchant.pk)
        raise
    loaded = load_members("WHERE m.id = %s", [found.pk], with_pii=with_pii)
    if not loaded or loaded[0].status != Member.Status.ACTIVE:
        raise MemberNotFound()
    return Resolved(loaded[0], True), voucher


def _peek(member: MemberName, merchant):
    if _display_code(member):
        return rights_till.peek_display_code(member.value)
    return peek(member, merchant=merchant)


def _resolve(place: Place, member: MemberName, *, with_pii: bool = False) -> Resolved:
    if _display_code(member):
        return _by_display_code(place, member, with_pii=with_pii)[0]
    return resolve(member, merchant=place.merchant, terminal=place.terminal, now=place.received_at,
                   mobile_allowed=member.kind != MOBILE or _mobile_allowed(place.merchant), with_pii=with_pii)


# What each operation reads first, by the statements it sends (points.common.existing_operation
# for its request number, members.credentials._by_ref for a member named by ref): an identify
# loads the member with the PII it masks, the other writes without.
FIRST_READS = {"identify": (False, True), "earn": (True, False), "redeem": (True, False),
               "freeze": (True, False), "refund": (True, None)}


def reads_ahead(merchant_id: int, op: str, *, member: str | None, request_no: str | None,
                original_request_no: str | None = None) -> list[Lookup]:
    """The first reads ``op`` will make for these arguments, for the gateway to read ahead in the
    statement that admits the call (``hub.db.read_ahead``). Reading them changes nothing: a read
    the operation does not make is dropped, one it makes differently goes to the database."""
    numbered, member_pii = FIRST_READS.get(op, (False, None))
    lookups = []
    if numbered and request_no:
        lookups.append(operation_lookup(merchant_id, request_no))
    if op == "refund" and original_request_no:  # then whether the sale used rights
        lookups.append(rights_redemption.sale_uses_lookup(merchant_id, original_request_no))
    if member_pii is not None and member:
        try:
            name = MemberName.parse(member)
        except DomainError:
            return lookups
        if name.kind == REF:
            lookups.append(ref_lookup(name.value, merchant_id, with_pii=member_pii))
    return lookups


def _replay_named(place: Place, prior: Operation, member: MemberName, fp_of, kind: str) -> dict:
    """The first answer of a seen request that names a member. The naming is resolved without
    side effects (a used code still names its member); a guessable naming (a code, a mobile)
    that does not match is a failed guess like any other, so replays cannot be used to test
    mobiles against a known request number."""
    guessable = member.kind in (CODE, MOBILE) or _display_code(member)
    if guessable:
        throttle_guess(place.terminal, place.merchant.pk)
    found = _peek(member, place.merchant)
    try:
        return replay(prior, fp=fp_of(found.pk if found is not None else None), kind=kind)
    except IdempotencyKeyReused:
        if guessable:
            count_failed_guess(place.terminal, place.merchant.pk)
        raise


def _earn_fp(place: Place, member_id, amount_fen: int, business_time: datetime | None,
             uses: tuple[RightUse, ...] = ()) -> str:
    base = earn_fingerprint(member_id=member_id, amount_fen=amount_fen, business_time=business_time,
                            store=place.store, terminal=place.terminal)
    if not uses:
        return base  # a v1 earn: the fingerprint it always had
    return fingerprint("earn.rights", earn=base, rights=rights_till.fingerprint_part(uses))


def _spend_fp(kind: str, place: Place, member_id, points: int, stated_amount_fen, sale_amount_fen) -> str:
    return spend_fingerprint(kind, member_id=member_id, points=points, stated_amount_fen=stated_amount_fen,
                             sale_amount_fen=sale_amount_fen, store=place.store, terminal=place.terminal)


# ---- identify -----------------------------------------------------------------------------------

def identify(*, place: Place, member: MemberName) -> dict:
    """会员查询: the masked member summary, the ref the till names the member by next and the
    rights applicable here (v1.1). A voucher display code (97…) names the member too, and puts
    that voucher first; a voucher not usable here is refused (the code stays unused)."""
    if _display_code(member):
        try:
            with transaction.atomic():
                resolved, shown = _by_display_code(place, member, with_pii=True, defer_count=True)
                rights_till.check_voucher_here(shown, merchant=place.merchant, store=place.store,
                                               member=resolved.member, now=place.received_at)
                ref = codes.issue_strong_ref(member=resolved.member, merchant=place.merchant,
                                             terminal=place.terminal, now=place.received_at)
        except DomainError as refusal:
            if getattr(refusal, "failed_guess", False):
                count_failed_guess(place.terminal, place.merchant.pk)
            raise
    else:
        shown = None
        resolved = _resolve(place, member, with_pii=True)
        ref = ref_to_return(member, resolved, merchant=place.merchant, terminal=place.terminal, now=place.received_at)
    summary = selectors.member_summary(merchant=place.merchant, member=resolved.member, now=place.received_at)
    rights = rights_till.rights_for(merchant=place.merchant, store=place.store, member=resolved.member,
                                    now=place.received_at, shown=shown)
    return {"member_ref": ref, **summary, "rights": rights}


# ---- earn ---------------------------------------------------------------------------------------

def earn(*, place: Place, member: MemberName, request_no: str, amount_fen: int,
         business_time: datetime | None = None, rights_used: tuple[RightUse, ...] | None = None) -> dict:
    """积分累计: a completed sale of ``amount_fen`` (paid other than with points) awards points.

    v1.1: ``rights_used`` lists the rights the till applied (a voucher's reference or a tier
    discount's code, and the discount in fen); their uses are recorded in the same transaction
    as the points, all or nothing (``rights.till.record``): a refusal writes nothing at all."""
    _request_no(request_no)
    check_fen(amount_fen, name="消费金额", allow_zero=True)
    uses = rights_till.canonical_uses(rights_used)
    prior = _seen(place, request_no)
    if prior is not None:
        return _replay_named(place, prior, member, lambda m: _earn_fp(place, m, amount_fen, business_time, uses),
                             "earn")
    business_time = bound_business_time(business_time, place.received_at)
    resolved = _resolve(place, member)

    def award() -> dict:
        return services.earn(merchant=place.merchant, store=place.store, terminal=place.terminal,
                             member=resolved.member, amount_fen=amount_fen, request_no=request_no,
                             business_time=business_time,
                             fp=_earn_fp(place, resolved.member.pk, amount_fen, business_time, uses),
                             now=place.received_at)

    if not uses:
        return award()
    with transaction.atomic():
        answer = award()
        rights_till.record(place=place, member=resolved.member, sale_request_no=request_no, amount_fen=amount_fen,
                           uses=uses)
        return answer


@dataclass(frozen=True)
class EarnRequest:
    """One queued earn of a store-and-forward upload."""

    request_no: str
    member: MemberName
    amount_fen: int
    business_time: datetime | None = None


def earn_batch(*, place: Place, items: list[EarnRequest]) -> list:
    """Many earns named by ref, written set-based; a result dict or a DomainError per item, the
    same as ``earn`` item by item would answer. Anything the set-based path cannot answer as
    ``earn`` would (a ref it does not know, a member no longer active, a merchant that may not
    award: replays still answer first) goes through ``earn`` on its own."""
    out: list = [None] * len(items)
    found = members_for_refs(place.merchant, sorted({item.member.value for item in items if item.member.kind == "ref"}))
    bulk, positions, single = [], [], []
    for position, item in enumerate(items):
        member = found.get(item.member.value) if item.member.kind == "ref" else None
        if member is None or member.status != Member.Status.ACTIVE:
            single.append(position)
            continue
        try:
            _request_no(item.request_no)
            check_fen(item.amount_fen, name="消费金额", allow_zero=True)
            when = bound_business_time(item.business_time, place.received_at)
        except DomainError:
            single.append(position)  # refused by ``earn`` itself, unless it is a replay of a first answer
            continue
        fp = _earn_fp(place, member.pk, item.amount_fen, item.business_time)
        bulk.append(EarnItem(item.request_no, member, item.amount_fen, when, fp))
        positions.append(position)
    if bulk:
        try:
            outcomes = earn_many(merchant=place.merchant, store=place.store, terminal=place.terminal, items=bulk,
                                 now=place.received_at)
        except NoAuth:  # today's agreement refuses; replays must still answer first: one by one
            single.extend(positions)
        else:
            for position, result in zip(positions, outcomes, strict=True):
                out[position] = result
    for position in sorted(single):
        item = items[position]
        try:
            out[position] = earn(place=place, member=item.member, request_no=item.request_no,
                                 amount_fen=item.amount_fen, business_time=item.business_time)
        except DomainError as exc:
            out[position] = exc
    return out


# ---- redeem and freeze --------------------------------------------------------------------------

def _spend(kind: str, *, place: Place, member: MemberName, request_no: str, points: int,
           stated_amount_fen: int | None, sale_amount_fen: int | None) -> dict:
    _request_no(request_no)
    check_points(points, name="抵扣积分")
    if stated_amount_fen is not None:
        check_fen(stated_amount_fen, name="抵扣金额", allow_zero=True)
    if sale_amount_fen is not None:
        check_fen(sale_amount_fen, name="订单金额", allow_zero=True)
    prior = _seen(place, request_no)
    if prior is not None:
        return _replay_named(place, prior, member,
                             lambda m: _spend_fp(kind, place, m, points, stated_amount_fen, sale_amount_fen), kind)
    resolved = _resolve(place, member)
    spend = services.redeem if kind == "redeem" else services.freeze
    return spend(merchant=place.merchant, store=place.store, terminal=place.terminal, member=resolved.member,
                 points=points, request_no=request_no, stated_amount_fen=stated_amount_fen,
                 sale_amount_fen=sale_amount_fen, strong_credential=resolved.strong,
                 fp=_spend_fp(kind, place, resolved.member.pk, points, stated_amount_fen, sale_amount_fen),
                 now=place.received_at)


def redeem(*, place: Place, member: MemberName, request_no: str, points: int, stated_amount_fen: int | None = None,
           sale_amount_fen: int | None = None) -> dict:
    """积分抵扣: points pay part of a sale in one step (a strong naming, or the agreement's
    phone exception)."""
    return _spend("redeem", place=place, member=member, request_no=request_no, points=points,
                  stated_amount_fen=stated_amount_fen, sale_amount_fen=sale_amount_fen)


def freeze(*, place: Place, member: MemberName, request_no: str, points: int, stated_amount_fen: int | None = None,
           sale_amount_fen: int | None = None) -> dict:
    """冻结: hold points while the sale is open (confirm or unfreeze by the same number)."""
    return _spend("freeze", place=place, member=member, request_no=request_no, points=points,
                  stated_amount_fen=stated_amount_fen, sale_amount_fen=sale_amount_fen)


# ---- confirm and unfreeze: the first answer is kept on the hold ----------------------------------

def _later_answer(request_no: str, place: Place, step: str) -> dict | None:
    op = _seen(place, request_no)
    answers = ((op.result or {}).get(LATER_ANSWERS) or {}) if op is not None else {}
    return answers.get(step)


def _keep_answer(place: Place, request_no: str, step: str, answer: dict) -> dict:
    """Store ``answer`` as the first answer of ``step`` on the hold, unless one is there already
    (then that one is the answer)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE points_operation
                  SET result = jsonb_set(coalesce(result, '{}'::jsonb) || jsonb_build_object(%s::text,
                                           coalesce(result -> %s, '{}'::jsonb)), ARRAY[%s, %s], %s::jsonb)
                WHERE merchant_id = %s AND request_no = %s AND NOT coalesce(result -> %s ? %s, false)""",
            [LATER_ANSWERS, LATER_ANSWERS, LATER_ANSWERS, step,
             _json(answer), place.merchant.pk, request_no, LATER_ANSWERS, step])
        if cursor.rowcount:
            return answer
    return _later_answer(request_no, place, step) or answer


def _json(value) -> str:
    return json.dumps(value, default=str)


def confirm(*, place: Place, request_no: str) -> dict:
    """确认: the held points pay the sale; a retry answers the first confirmation."""
    _request_no(request_no)
    stored = _later_answer(request_no, place, "confirm")
    if stored is not None:
        return stored
    with transaction.atomic():
        answer = services.confirm(merchant=place.merchant, request_no=request_no, store=place.store,
                                  terminal=place.terminal, now=place.received_at)
        return _keep_answer(place, request_no, "confirm", answer)


def unfreeze(*, place: Place, request_no: str) -> dict:
    """解冻: release a hold now; a retry answers the first release."""
    _request_no(request_no)
    stored = _later_answer(request_no, place, "unfreeze")
    if stored is not None:
        return stored
    with transaction.atomic():
        answer = services.unfreeze(merchant=place.merchant, request_no=request_no, store=place.store,
                                   terminal=place.terminal, now=place.received_at)
        return _keep_answer(place, request_no, "unfreeze", answer)


# ---- refund, reverse, query ---------------------------------------------------------------------

def refund(*, place: Place, refund_no: str, original_request_no: str, amount_fen: int,
           points: int | None = None) -> dict:
    """退货: a full or partial return of an earlier sale or payment (``points.refunds``)."""
    _request_no(refund_no, name="退货单号")
    _request_no(original_request_no, name="原交易单号")
    check_fen(amount_fen, name="退货金额")
    if points is not None:
        check_points(points, name="退回积分")
    fp = fingerprint("refund", original=original_request_no, amount_fen=amount_fen, points=points, **_site(place))
    prior = _seen(place, refund_no)
    if prior is not None:
        return replay(prior, fp=fp, kind="refund")
    try:
        if not rights_redemption.sale_has_uses(merchant=place.merchant, sale_request_no=original_request_no):
            return refunds.refund(merchant=place.merchant, store=place.store, terminal=place.terminal,
                                  refund_no=refund_no, original_request_no=original_request_no, amount_fen=amount_fen,
                                  points=points, fp=fp, now=place.received_at)
        with transaction.atomic():  # v1.1: the sale's rights uses go down with it, all or nothing
            answer = refunds.refund(merchant=place.merchant, store=place.store, terminal=place.terminal,
                                    refund_no=refund_no, original_request_no=original_request_no,
                                    amount_fen=amount_fen, points=points, fp=fp, now=place.received_at)
            rights_redemption.refund_sale_uses(merchant=place.merchant, refund_no=refund_no,
                                               sale_request_no=original_request_no, refund_fen=amount_fen,
                                               now=place.received_at)
            return answer
    except OrderNotExist:
        original = _seen(place, original_request_no)
        if original is not None and original.kind == Operation.Kind.TOMBSTONE:
            raise OrderReversed("原交易已冲正") from None
        raise


def reverse(*, place: Place, request_no: str) -> dict:
    """冲正: undo a request, or fence off one not seen yet (``points.reversal``); the rights uses
    of a reversed sale are reversed in the same transaction (vouchers available again)."""
    _request_no(request_no)
    if rights_redemption.sale_refunded_uses(merchant=place.merchant, refund_no=request_no):
        raise ParamError("该退货已退回权益核销，不能冲正")
    with transaction.atomic():
        answer = reversal.reverse(merchant=place.merchant, request_no=request_no, store=place.store,
                                  terminal=place.terminal, now=place.received_at)
        rights_redemption.reverse_sale_uses(merchant=place.merchant, sale_request_no=request_no,
                                            now=place.received_at)
        return answer


def query(*, place: Place, request_no: str) -> dict:
    """查询: the state of a request by its number."""
    _request_no(request_no)
    return selectors.query(merchant=place.merchant, request_no=request_no)


# ---- convert and grant (the member's own and the issuer's operations) ---------------------------

def convert(*, place: Place, member: MemberName, from_program: Program, to_program: Program, points: int,
            request_no: str) -> dict:
    """积分转换: the member moves points between two programs; needs a strong naming."""
    _request_no(request_no)
    check_points(points, name="转换积分")

    def fp(member_id):
        return fingerprint("convert", member=member_id, points=points, src=from_program.pk, dst=to_program.pk,
                           **_site(place))

    prior = _seen(place, request_no)
    if prior is not None:
        return _replay_named(place, prior, member, fp, "convert")
    resolved = _resolve(place, member)
    if not resolved.strong:
        raise NoAuth("积分转换须出示动态会员码")
    return services.convert(merchant=place.merchant, member=resolved.member, from_program=from_program,
                            to_program=to_program, points=points, request_no=request_no, store=place.store,
                            terminal=place.terminal, fp=fp(resolved.member.pk), now=place.received_at)


def grant(*, place: Place, member: MemberName, program: Program, points: int, request_no: str,
          memo: str = "") -> dict:
    """发行方赠送: the issuer (the place's merchant) credits points it funds itself."""
    _request_no(request_no)
    check_points(points, name="赠送积分")
    if place.merchant.pk != program.issuer_id:
        raise NoAuth("只有发行方可以赠送该积分")

    def fp(member_id):
        return fingerprint("grant", member=member_id, points=points, program=program.pk)

    prior = _seen(place, request_no)
    if prior is not None:
        return _replay_named(place, prior, member, fp, "grant")
    resolved = _resolve(place, member)
    return services.grant(program=program, member=resolved.member, points=points, request_no=request_no, memo=memo,
                          fp=fp(resolved.member.pk), now=place.received_at)
