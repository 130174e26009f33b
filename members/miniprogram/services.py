"""The member's own writes from the mini-program. Each one orchestrates existing services
(``members.services``, ``points.till``, ``rights.vouchers``) and adds no second way to do any of
them; ``once`` gives every write its ``request_no`` semantics (the same number with the same
content answers the first answer, other content ``IDEMPOTENCY_KEY_REUSED``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    LinkProofInvalid,
    MemberLinkConflict,
    NotFound,
    ParamError,
    QuoteExpired,
    RightNotApplicable,
)
from hub.models import Merchant
from members import services as member_services
from members.credentials import MemberName
from members.miniprogram.models import MpIdentity, MpRequest, MpSession
from members.models import Consent, Member, VendorMemberLink
from members.validation import EXTERNAL_ID_TAKEN, MEMBER_ALREADY_LINKED
from points import selectors as points_selectors
from points import till
from points.common import fingerprint
from points.models import ConversionRate, Program
from rights import vouchers
from rights.models import Right

logger = logging.getLogger("members.miniprogram")

QUOTE_TTL = timedelta(minutes=5)
QUOTE_RE = re.compile(r"^Q[0-9a-f]{24}$")
# Refusals that are not a first answer: a retry with the same number may succeed.
NOT_KEPT = frozenset({"PARAM_ERROR", "RATE_LIMITED", "SYSTEM_ERROR", "UPSTREAM_BUSY", "NO_AUTH", "TOKEN_EXPIRED"})


def check_request_no(value) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not value.isprintable():
        raise ParamError("请求单号（request_no）不能为空且不超过 64 个字符")
    return value


def once(*, member: Member, request_no: str, op: str, content: dict, do: Callable[[], dict]) -> dict:
    """Run the write ``do`` once per (member, request_no) and keep its answer (or its business
    refusal). A concurrent duplicate waits on the unique index and then answers the first answer."""
    request_no = check_request_no(request_no)
    fp = fingerprint(f"mp:{op}", member=member.pk, **content)
    refusal = None
    with transaction.atomic():
        row = MpRequest.objects.filter(member=member, request_no=request_no).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = MpRequest.objects.create(member=member, request_no=request_no, op=op, fingerprint=fp,
                                                   status=0)
            except IntegrityError:
                row = MpRequest.objects.get(member=member, request_no=request_no)
            else:
                try:
                    with transaction.atomic():
                        answer = do()
                except DomainError as exc:
                    if exc.code in NOT_KEPT:
                        raise
                    refusal = exc
                    row.status, row.answer = exc.http_status, {"code": exc.code, "message": exc.message,
                                                                "detail": exc.detail}
                else:
                    row.status, row.answer = 200, answer
                row.save(update_fields=["status", "answer"])
                if refusal is None:
                    return answer
    if refusal is not None:
        raise refusal
    if row.fingerprint != fp or row.op != op:
        raise IdempotencyKeyReused()
    if row.status != 200:
        raise DomainError((row.answer or {}).get("message"), code=(row.answer or {}).get("code", "SYSTEM_ERROR"),
                          detail=(row.answer or {}).get("detail") or None)
    return row.answer


# ---- consents -----------------------------------------------------------------------------------

def set_consent(*, member: Member, identity: MpIdentity, merchant_code: str | None, scope: str, granted: bool,
                version: str) -> None:
    """Grant or withdraw a consent: to a merchant (``members.services``), or without a merchant
    code the hub's own consent text (recorded on the identity; withdrawing it is closing the
    account)."""
    if not merchant_code:
        if not granted:
            raise ParamError("撤回平台授权请使用注销账户")
        MpIdentity.objects.filter(pk=identity.pk).update(consent_version=version)
        return
    merchant = Merchant.objects.filter(code=merchant_code).first()
    if merchant is None:
        raise NotFound("商户不存在")
    if granted:
        member_services.grant_consent(member=member, merchant=merchant, scope=scope, version=version)
    else:
        member_services.withdraw_consent(member=member, merchant=merchant, scope=scope)


# ---- memberships --------------------------------------------------------------------------------

PROOFS = ("mobile_match",)


@transaction.atomic
def link_membership(*, member: Member, merchant_code: str, card_no: str, proof: str, version: str) -> VendorMemberLink:
    """Link the member's card of a merchant. The proof that the card is the member's: today
    ``mobile_match`` (the card number is the member's own bound mobile, as most cashier software
    numbers its cards). Linking records the recognition consent to that merchant."""
    merchant = Merchant.objects.filter(code=merchant_code).first() if isinstance(merchant_code, str) else None
    if merchant is None or not merchant.is_active:
        raise NotFound("商户不存在")
    if proof not in PROOFS:
        raise LinkProofInvalid("不支持的核验方式")
    if proof == "mobile_match" and card_no != member.mobile:
        raise LinkProofInvalid("会员卡号与绑定手机号不一致，无法核验")
    member_services.grant_consent(member=member, merchant=merchant, version=version)
    try:
        return member_services.link_member(member=member, merchant=merchant, external_id=card_no,
                                           method=VendorMemberLink.Method.MOBILE_MATCH)
    except ParamError as exc:
        if exc.message in (EXTERNAL_ID_TAKEN, MEMBER_ALREADY_LINKED):
            raise MemberLinkConflict(exc.message) from None
        raise


def unlink_membership(*, member: Member, link_id) -> None:
    link = VendorMemberLink.objects.filter(pk=link_id, member=member, unlinked_at__isnull=True).first()
    if link is None:
        raise NotFound("会员卡绑定不存在")
    member_services.unlink_member(link=link, reason="会员在小程序解绑")


# ---- rights -------------------------------------------------------------------------------------

def claim_right(*, member: Member, right: Right, request_no: str):
    """The one place the mini-program claims a right (the lead switches it to the claim entry
    point that also takes points and tier grants)."""
    return vouchers.claim(member=member, right=right, request_no=request_no)


# ---- conversion ---------------------------------------------------------------------------------

def _quotes():
    return caches["default"]


def quote_conversion(*, member: Member, from_code: str, to_code: str, points: int,
                     now: datetime | None = None) -> dict:
    """What ``points`` of one program give in another at today's rate, kept ``QUOTE_TTL``."""
    now = now or timezone.now()
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= 10**9:
        raise ParamError("转换积分必须为正整数")
    programs = {p.code: p for p in Program.objects.filter(code__in=[from_code, to_code], active=True)}
    source, target = programs.get(from_code), programs.get(to_code)
    if source is None or target is None:
        raise NotFound("积分计划不存在")
    rate = ConversionRate.objects.filter(from_program=source, to_program=target, active=True).first()
    if rate is None:
        raise RightNotApplicable("这两个积分计划之间不能转换")
    if points < rate.min_points or points % rate.from_points:
        raise RightNotApplicable(f"转换积分须不少于 {rate.min_points} 且为 {rate.from_points} 的整数倍")
    available = points_selectors.balances(member, source, now)["available"]
    if points > available:
        raise DomainError(f"积分余额不足，可用 {available}", code="POINTS_INSUFFICIENT")
    quote_id = "Q" + secrets.token_hex(12)
    receive = points // rate.from_points * rate.to_points
    expires_at = now + QUOTE_TTL
    _quotes().set(f"mp-quote:{quote_id}", {"member": member.pk, "from": source.pk, "to": target.pk,
                                           "points": points, "receive": receive, "rate": rate.pk},
                  timeout=int(QUOTE_TTL.total_seconds()))
    return {"quote_id": quote_id, "receive_points": receive,
            "rate": {"from_points": rate.from_points, "to_points": rate.to_points, "min_points": rate.min_points},
            "expires_at": expires_at}


def convert(*, member: Member, quote_id: str, request_no: str, now: datetime | None = None) -> dict:
    """Convert as quoted, through ``points.till.convert`` (the one home of conversions): the
    operation is the source issuer's, under a ledger number derived from the member's own."""
    now = now or timezone.now()
    quote = _quotes().get(f"mp-quote:{quote_id}") if isinstance(quote_id, str) and QUOTE_RE.match(quote_id) else None
    if not quote or quote["member"] != member.pk:
        raise QuoteExpired()
    source, target = Program.objects.get(pk=quote["from"]), Program.objects.get(pk=quote["to"])
    rate = ConversionRate.objects.filter(pk=quote["rate"], active=True).first()
    if rate is None or quote["points"] // rate.from_points * rate.to_points != quote["receive"]:
        raise QuoteExpired("转换比例已变更，请重新获取报价")
    ledger_no = "MP" + hashlib.sha256(f"{member.pk}\n{request_no}".encode()).hexdigest()[:40]
    result = till.convert(place=till.Place(merchant=source.issuer, received_at=now),
                          member=MemberName.verified(member), from_program=source, to_program=target,
                          points=quote["points"], request_no=ledger_no)
    _quotes().delete(f"mp-quote:{quote_id}")
    balances = [{"program": {"code": p.code, "name": p.name}, **points_selectors.balances(member, p, now)}
                for p in (source, target)]
    return {"points": result["points"], "points_gained": result["points_gained"], "balances": balances}


# ---- closing the account ------------------------------------------------------------------------

@transaction.atomic
def close_account(*, member: Member, now: datetime | None = None) -> None:
    """注销: every session revoked, every link ended, every consent withdrawn (records kept), the
    identities unbound and the member closed. The ledger keeps its rows."""
    now = now or timezone.now()
    member = Member.objects.select_for_update().get(pk=member.pk)
    MpSession.objects.filter(identity__member=member, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason="closed")
    for link in VendorMemberLink.objects.filter(member=member, unlinked_at__isnull=True):
        member_services.unlink_member(link=link, reason="会员注销账户")
    for consent in Consent.objects.filter(member=member, withdrawn_at__isnull=True).select_related("merchant"):
        member_services.withdraw_consent(member=member, merchant=consent.merchant, scope=consent.scope)
    MpIdentity.objects.filter(member=member).update(member=None)
    member_services.update_member(member=member, status=Member.Status.CLOSED)
    logger.info("mp account closed: member=%s", member.pk)
