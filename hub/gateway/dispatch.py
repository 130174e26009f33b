"""From a canonical command to the one service that does it.

``dispatch(credential, command, (store, terminal))`` resolves the member credential the till
sent and calls the till service of the ledger (points.services, points.reversal,
points.selectors) or reconciliation; it returns the canonical result dict.
"""

from __future__ import annotations

from django.utils import timezone

from hub.errors import MemberCodeExpired, MemberNotFound, ParamError
from hub.gateway.canonical import BATCH_OP, TillCommand
from hub.gateway.throttle import count_failed_guess, throttle_guess
from members import codes
from members.models import Member
from members.selectors import find_member
from points import refunds, reversal, selectors, services
from points.common import existing_operation, fingerprint, replay


def command_fingerprint(command: TillCommand) -> str:
    """What makes two requests with one number "the same content" (as the till sent it)."""
    return fingerprint(command.op, member=command.member, amount_fen=command.amount_fen, points=command.points,
                       original=command.original_request_no, store=command.store_code,
                       terminal=command.terminal_code)


def resolve_member(credential, command: TillCommand, terminal, *, now, with_pii: bool = False) -> tuple[Member, bool]:
    """(member, strong): a dynamic code is strong; an opaque id is strong for a while after the
    member showed a code at this merchant; a mobile or a store card number is weak."""
    raw = (command.member or "").strip()
    if not raw:
        raise ParamError("缺少会员凭证")
    merchant = credential.merchant
    if codes.CODE_RE.match(raw):
        throttle_guess(terminal, merchant.pk)
        try:
            member = codes.redeem_member_code(code=raw, merchant=merchant, now=now)
        except MemberCodeExpired:
            count_failed_guess(terminal, merchant.pk)
            raise
        strong = True
    elif codes.REF_RE.match(raw):
        member, strong = codes.member_for_ref(ref=raw, merchant=merchant, now=now, with_pii=with_pii)
    elif codes.MOBILE_RE.match(raw):
        member, strong = find_member(mobile=raw), False
    else:
        member, strong = find_member(merchant=merchant, external_id=raw), False
    if member is None or member.status != Member.Status.ACTIVE:
        raise MemberNotFound()
    return member, strong


def _replay_if_seen(merchant, command: TillCommand, fp: str) -> dict | None:
    """A dynamic code is single-use: a retried request must replay before the code is resolved."""
    if not codes.CODE_RE.match((command.member or "").strip()):
        return None
    op = existing_operation(merchant, command.request_no)
    if op is None:
        return None
    return replay(op, fp=fp, kind=command.op)


def dispatch(credential, command: TillCommand, place) -> dict:
    store, terminal = place
    merchant = credential.merchant
    now = timezone.now()
    op = command.op
    target = command.original_request_no or command.request_no

    if op == "identify":
        member, strong = resolve_member(credential, command, terminal, now=now, with_pii=True)
        summary = selectors.identify(merchant=merchant, member=member, store=store, terminal=terminal, now=now)
        raw = command.member.strip()
        ref = raw if codes.REF_RE.match(raw) else codes.ref_for(member=member, merchant=merchant, strong=strong, now=now)
        return {"member_ref": ref, **summary}
    if op in ("earn", "redeem", "freeze"):
        if not command.request_no:
            raise ParamError("缺少请求单号")
        fp = command_fingerprint(command)
        replay = _replay_if_seen(merchant, command, fp)
        if replay is not None:
            return replay
        member, strong = resolve_member(credential, command, terminal, now=now)
        common = {"merchant": merchant, "store": store, "terminal": terminal, "member": member,
                  "request_no": command.request_no, "fp": fp, "now": now}
        if op == "earn":
            if command.amount_fen is None:
                raise ParamError("缺少消费金额")
            return services.earn(amount_fen=command.amount_fen, business_time=command.business_time, **common)
        if command.points is None:
            raise ParamError("缺少抵扣积分")
        spend = services.redeem if op == "redeem" else services.freeze
        return spend(points=command.points, stated_amount_fen=command.amount_fen,
                     sale_amount_fen=command.extra.get("sale_amount_fen"), strong_credential=strong, **common)
    if op == "confirm":
        return services.confirm(merchant=merchant, request_no=target, store=store, terminal=terminal, now=now)
    if op == "unfreeze":
        return services.unfreeze(merchant=merchant, request_no=target, store=store, terminal=terminal, now=now)
    if op == "refund":
        if not command.request_no or not command.original_request_no:
            raise ParamError("缺少退货单号或原交易单号")
        if command.amount_fen is None:
            raise ParamError("缺少退货金额")
        return refunds.refund(merchant=merchant, store=store, terminal=terminal, refund_no=command.request_no,
                               original_request_no=command.original_request_no, amount_fen=command.amount_fen,
                               points=command.points, fp=command_fingerprint(command), now=now)
    if op == "reverse":
        return reversal.reverse(merchant=merchant, request_no=target, store=store, terminal=terminal, now=now)
    if op == "query":
        return selectors.query(merchant=merchant, request_no=target, store=store, terminal=terminal)
    if op == "day_end":
        from hub.clearing.reconciliation import record_day_end

        if command.biz_date is None or command.totals is None:
            raise ParamError("缺少营业日或日结汇总")
        return record_day_end(merchant=merchant, store=store, terminal=terminal, biz_date=command.biz_date,
                              totals=command.totals)
    if op == BATCH_OP:
        from hub.gateway.batch import run_batch

        return run_batch(credential, command, place)
    raise ParamError("不支持的操作")
