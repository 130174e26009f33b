"""Vouchers: claim (free, for points, or granted per tier per period), display codes and QR
images, deactivation by operations, and the tidy-up of expired vouchers.

``claim`` is the one entry point of a member's claim, whatever the right's claim mode: free, or
for points — the points debit (``points.services.spend_for_right``, through the ledger) and the
voucher in one transaction, all or nothing. Tier grants are made by the scheduled job
(``grant_for_period``), never claimed.

A voucher's own code is shown once at claim and stored only as a keyed digest (HMAC with a key
derived from settings.SECRET_KEY, as member codes are). What a till or gate scans is a display
code: 18 digits starting ``97``, random, valid about 60 seconds, single use, resolving to the
member and the voucher.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    NoAuth,
    ParamError,
    RightNotApplicable,
    VoucherExpired,
    VoucherNotFound,
)
from members.models import Consent, Member
from rights import quotas
from rights.models import ClaimRequest, DisplayCode, Right, Voucher, VoucherEvent
from rights.states import State, fingerprint, record_created, recorded_refusal, transition
from rights.validity import period_key, voucher_validity

logger = logging.getLogger("rights.vouchers")

DISPLAY_TTL = timedelta(seconds=60)
DISPLAY_RE = re.compile(r"^97\d{16}$")
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _digest(purpose: str, code: str) -> str:
    key = hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def voucher_code_digest(code: str) -> str:
    return _digest("voucher-code", code.strip().upper())


def display_code_digest(code: str) -> str:
    return _digest("voucher-display-code", code)


def _new_voucher_code() -> str:
    return "V" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(15))


def _check_request_no(request_no: str) -> None:
    if not isinstance(request_no, str) or not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")


def check_member_eligible(right: Right, member: Member) -> None:
    """Tiers and consent (scenes and stores are checked where the right is used)."""
    if member.status != Member.Status.ACTIVE:
        raise RightNotApplicable("会员状态异常")
    tier_ids = right.related_ids("tiers")
    if tier_ids and member.tier_id not in tier_ids:
        raise RightNotApplicable("会员等级不符合该权益的领取条件")
    if right.requires_consent and not Consent.objects.filter(
            member=member, merchant__in=right.providers.all(), withdrawn_at__isnull=True).exists():
        raise RightNotApplicable("须先授权向权益提供方共享会员信息")


def _create_voucher(*, right: Right, member: Member, source: str, request_no: str, now: datetime,
                    grant_key: str = "") -> Voucher:
    valid_from, expires_at = voucher_validity(right, now)
    if expires_at <= now:
        raise RightNotApplicable("权益已过有效期")
    code = _new_voucher_code()
    voucher = Voucher.objects.create(
        right=right, member=member, source=source, code_digest=voucher_code_digest(code),
        claim_request_no=request_no, grant_key=grant_key, claimed_at=now, valid_from=valid_from,
        expires_at=expires_at, state=State.PENDING if valid_from > now else State.AVAILABLE)
    record_created(voucher, now=now, action="grant" if source == Voucher.Source.TIER_GRANT else "claim",
                   request_no=request_no)
    voucher.code = code  # shown once, never stored
    return voucher


def _claimable(right: Right, now: datetime, *, mode: str) -> None:
    if right.status != Right.Status.ACTIVE:
        raise RightNotApplicable("权益未上线或已暂停")
    if not right.is_voucher:
        raise RightNotApplicable("会员折扣无需领取")
    if right.claim_mode != mode:
        raise RightNotApplicable("该权益不支持此领取方式")
    if right.valid_until and right.valid_until <= now:
        raise RightNotApplicable("权益已过有效期")


def claim_operation_no(member: Member, request_no: str) -> str:
    """The ledger operation's request number of a points claim (unique per funder there): the
    member and their claim number, so that two racing claims of one number meet in the ledger."""
    raw = f"RC{member.pk}:{request_no}"
    if len(raw) <= 64:
        return raw
    return f"RC{member.pk}:#{hashlib.sha256(request_no.encode()).hexdigest()[:40]}"


def _pay_points(right: Right, member: Member, request_no: str, now: datetime) -> int:
    """Debit the right's points from the member (inside the claim's transaction): the ledger
    operation's id. POINTS_INSUFFICIENT when the balance is short."""
    from points import ledger, services

    program = right.claim_program
    fp = fingerprint("points_claim", member=member.pk, right=right.pk, program=program.pk, points=right.claim_points)
    try:
        op_id, _ = services.spend_for_right(member=member, program=program, points=right.claim_points,
                                            funder=right.funder, request_no=claim_operation_no(member, request_no),
                                            fp=fp, now=now)
    except ledger.Conflict:
        raise IntegrityError("the same claim number committed concurrently") from None
    except DomainError as refusal:
        raise recorded_refusal(refusal.code, refusal.message) from None
    return op_id


def claim(*, member: Member, right: Right, request_no: str, now: datetime | None = None) -> Voucher:
    """领取: a claim by the member (from the mini-program session, never a field a client fills
    in), by the right's claim mode:

    - ``free``: the claim quotas are consumed by conditional updates in the same transaction as
      the voucher;
    - ``points``: the same, plus the right's ``claim_points`` of ``claim_program`` debited through
      the ledger in that same transaction (POINTS_INSUFFICIENT when the balance is short,
      QUOTA_EXHAUSTED when a quota is full — and then no points are taken: nothing is written);
    - ``tier_grant``: refused, such vouchers are granted by the scheduled job.

    Idempotent per member × request number: the same number again returns the same voucher, or
    the same refusal (another right under that number is IDEMPOTENCY_KEY_REUSED)."""
    now = now or timezone.now()
    _check_request_no(request_no)
    previous = ClaimRequest.objects.filter(member=member, request_no=request_no).first()
    if previous is not None:
        return _replay_claim(previous, right)
    try:
        with transaction.atomic():
            right = Right.objects.select_related("claim_program", "funder").get(pk=right.pk)
            if right.claim_mode == Right.ClaimMode.TIER_GRANT:
                raise RightNotApplicable("该权益按会员等级定期自动发放，无需领取")
            _claimable(right, now, mode=right.claim_mode)
            check_member_eligible(right, member)
            paid = right.claim_mode == Right.ClaimMode.POINTS
            # the member's own account first, the right's shared counters last (held shortest)
            operation_id = _pay_points(right, member, request_no, now) if paid else None
            quotas.consume(right, quotas.claim_takes(right, member_id=member.pk, now=now))
            voucher = _create_voucher(right=right, member=member,
                                      source=Voucher.Source.POINTS if paid else Voucher.Source.FREE,
                                      request_no=request_no, now=now)
            ClaimRequest.objects.create(member=member, request_no=request_no, right=right,
                                        status=ClaimRequest.Status.SUCCESS, voucher=voucher,
                                        points_operation_id=operation_id, created_at=now)
        return voucher
    except DomainError as refusal:
        if isinstance(refusal, ParamError):
            raise  # bad input is answered, not recorded
        try:
            with transaction.atomic():
                ClaimRequest.objects.create(member=member, request_no=request_no, right=right,
                                            status=ClaimRequest.Status.REFUSED, error_code=refusal.code,
                                            message=refusal.message[:200], created_at=now)
        except IntegrityError:
            return _replay_claim(ClaimRequest.objects.get(member=member, request_no=request_no), right)
        raise
    except IntegrityError:
        # the same request number committed concurrently: answer as it did
        previous = ClaimRequest.objects.filter(member=member, request_no=request_no).first()
        if previous is None:
            raise
        return _replay_claim(previous, right)


def _replay_claim(previous: ClaimRequest, right: Right) -> Voucher:
    if previous.right_id != right.pk:
        raise IdempotencyKeyReused()
    if previous.status == ClaimRequest.Status.REFUSED:
        raise recorded_refusal(previous.error_code, previous.message)
    return Voucher.objects.get(pk=previous.voucher_id)


def grant_for_period(*, right: Right, now: datetime | None = None, batch: int = 500) -> int:
    """按等级发放: every active member of the right's tiers gets ``grant_count`` vouchers for the
    current period (Asia/Shanghai), once: the unique (right, member, ``<period>#<n>``) key makes
    a second run — or a run after one killed midway — grant only what is missing. Each voucher
    is its own short transaction (quotas and voucher together), members are walked in id order
    in chunks of ``batch``, and progress is logged per chunk. A member the right's per-member
    limits or consent exclude is skipped; an exhausted total, daily quota stops the run.
    Returns how many vouchers this run created."""
    now = now or timezone.now()
    right = Right.objects.get(pk=right.pk)
    if right.status != Right.Status.ACTIVE or right.claim_mode != Right.ClaimMode.TIER_GRANT:
        return 0
    if right.valid_until and right.valid_until <= now:
        return 0
    period = period_key(right.grant_period, now)
    keys = [f"{period}#{n}" for n in range(1, right.grant_count + 1)]
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    tier_ids = list(right.tiers.values_list("pk", flat=True))
    if tier_ids:
        members = members.filter(tier_id__in=tier_ids)
    shared_scopes = {quotas.Scope.TOTAL, quotas.Scope.DAY}
    created = skipped = seen = 0
    last = 0
    logger.info("tier grant %s period %s: starting (%d per member)", right.code, period, right.grant_count)
    while True:
        chunk = list(members.filter(pk__gt=last).order_by("pk")[:batch])
        if not chunk:
            logger.info("tier grant %s period %s: done, %d members, %d vouchers granted now, %d skipped",
                        right.code, period, seen, created, skipped)
            return created
        last = chunk[-1].pk
        seen += len(chunk)
        have = set(Voucher.objects.filter(right=right, member__in=chunk, grant_key__in=keys)
                   .values_list("member_id", "grant_key"))
        for member in chunk:
            for key in keys:
                if (member.pk, key) in have:
                    continue
                takes = quotas.claim_takes(right, member_id=member.pk, now=now)
                try:
                    with transaction.atomic():
                        check_member_eligible(right, member)
                        quotas.consume(right, [t for t in takes if t.scope not in shared_scopes])
                        try:
                            quotas.consume(right, [t for t in takes if t.scope in shared_scopes])
                        except DomainError as exhausted:
                            raise _Stop(exhausted) from None
                        _create_voucher(right=right, member=member, source=Voucher.Source.TIER_GRANT,
                                        request_no=f"G{right.pk}-{key}", now=now, grant_key=key)
                    created += 1
                except IntegrityError:
                    continue  # granted concurrently by another run
                except _Stop as stop:
                    logger.warning("tier grant %s period %s: stopped after %d vouchers: %s", right.code, period,
                                   created, stop.args[0].message)
                    return created
                except DomainError:
                    skipped += 1  # this member: not eligible, or their own limit reached
                    break
        logger.info("tier grant %s period %s: members up to id %d done, %d vouchers granted so far",
                    right.code, period, last, created)


class _Stop(Exception):
    """A shared quota of the right is exhausted: the grant run stops."""


def deactivate(*, voucher: Voucher, actor, reason: str, now: datetime | None = None) -> Voucher:
    """作废 by operations, with a reason: only a voucher not yet used or reserved. A voucher the
    member paid for with points gives the points back in the same transaction
    (``points.services.undo_right_claim``: to the lots they came from, the funder's side and its
    clearing item undone). The claim quotas are not given back (the voucher was claimed)."""
    from points import services as points_services

    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ParamError("作废须填写原因")
    if not getattr(actor, "pk", None):
        raise NoAuth("作废须由具名操作员完成")
    with transaction.atomic():
        if transition(voucher.pk, "deactivate", now=now, actor=actor, reason=reason) is None:
            state = Voucher.objects.filter(pk=voucher.pk).values_list("state", flat=True).first()
            raise ParamError(f"凭证当前状态为“{dict(State.choices).get(state, state)}”，不能作废")
        paid = ClaimRequest.objects.filter(voucher_id=voucher.pk, points_operation__isnull=False).first()
        if paid is not None:
            points_services.undo_right_claim(operation_id=paid.points_operation_id, now=now)
    return Voucher.objects.get(pk=voucher.pk)


def usable_vouchers(*, member: Member, now: datetime | None = None, right: Right | None = None):
    """The member's vouchers usable now (rights.till's identify statement has the same filter in SQL)."""
    now = now or timezone.now()
    qs = Voucher.objects.filter(member=member, state__in=[State.PENDING, State.AVAILABLE], expires_at__gt=now,
                                valid_from__lte=now, right__status=Right.Status.ACTIVE).select_related("right")
    if right is not None:
        qs = qs.filter(right=right)
    return qs.order_by("expires_at", "pk")


def issue_display_code(*, voucher: Voucher, now: datetime | None = None) -> tuple[str, datetime]:
    """A fresh display code for one showing: (code, expires_at)."""
    now = now or timezone.now()
    voucher = Voucher.objects.select_related("member", "right").get(pk=voucher.pk)
    if voucher.member.status != Member.Status.ACTIVE:
        raise ParamError("会员状态异常，不能出示凭证")
    if voucher.state not in (State.PENDING, State.AVAILABLE) or voucher.expires_at <= now:
        raise VoucherExpired("凭证不可使用，不能生成展示码")
    for _ in range(5):
        code = "97" + "".join(str(secrets.randbelow(10)) for _ in range(16))
        try:
            with transaction.atomic():
                DisplayCode.objects.create(voucher=voucher, member=voucher.member, digest=display_code_digest(code),
                                           issued_at=now, expires_at=now + DISPLAY_TTL)
            return code, now + DISPLAY_TTL
        except IntegrityError:  # astronomically unlikely collision with a stored code
            continue
    raise ParamError("展示码生成失败，请重试")


def resolve_display_code(*, code: str, merchant, now: datetime | None = None) -> tuple[Member, Voucher]:
    """Use a display code once: (member, voucher). Unknown: VOUCHER_NOT_FOUND; expired or used
    already: VOUCHER_EXPIRED. Inside a transaction that rolls back, the code stays unused."""
    now = now or timezone.now()
    if not isinstance(code, str) or not DISPLAY_RE.match(code):
        raise VoucherNotFound("展示码无效")
    row = DisplayCode.objects.filter(digest=display_code_digest(code)).select_related("voucher", "member").first()
    if row is None:
        raise VoucherNotFound("展示码无效")
    if row.used_at is not None or row.expires_at <= now or not DisplayCode.objects.filter(
            pk=row.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now, used_by=merchant):
        raise VoucherExpired("展示码已过期或已使用，请会员刷新后重新出示")
    return row.member, row.voucher


def find_by_code(*, code: str) -> Voucher:
    """The voucher of a voucher code (an online coupon's code given to a platform)."""
    voucher = Voucher.objects.filter(code_digest=voucher_code_digest(code or "")).first()
    if voucher is None:
        raise VoucherNotFound()
    return voucher


def qr_svg(text: str) -> bytes:
    """A QR image of a display code for the mini-program or a voucher page, as SVG (the
    ``qrcode`` package's pure-Python SVG writer: no imaging library needed)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    image = qrcode.make(text, image_factory=SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def tidy(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """The scheduled tidy-up (expiry is always checked at use; this only keeps states current):
    pending vouchers whose day has come become available, expired ones become expired. Set-based,
    bounded, safe to run twice; each change appends its event."""
    now = now or timezone.now()
    counts = {"activated": 0, "expired": 0}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """WITH due AS (SELECT id, state FROM rights_voucher
                             WHERE state IN ('pending', 'available') AND expires_at <= %s
                             ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
               UPDATE rights_voucher v SET state = 'expired' FROM due WHERE v.id = due.id
               RETURNING v.id, due.state""", [now, batch])
        expired = cursor.fetchall()
        cursor.execute(
            """WITH due AS (SELECT id FROM rights_voucher
                             WHERE state = 'pending' AND valid_from <= %s AND expires_at > %s
                             ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
               UPDATE rights_voucher v SET state = 'available' FROM due WHERE v.id = due.id
               RETURNING v.id""", [now, now, batch])
        activated = cursor.fetchall()
        VoucherEvent.objects.bulk_create(
            [VoucherEvent(voucher_id=pk, from_state=old, to_state=State.EXPIRED, action="expire", at=now)
             for pk, old in expired]
            + [VoucherEvent(voucher_id=pk, from_state=State.PENDING, to_state=State.AVAILABLE, action="activate",
                            at=now) for (pk,) in activated])
        DisplayCode.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    counts["expired"], counts["activated"] = len(expired), len(activated)
    return counts
