"""Member writes. Every change to members, their links and consents goes through one of these.

Each function is keyword-only, atomic, and refuses bad input with ``hub.errors.ParamError``
(Chinese message) before anything is written. Uniqueness is checked first for a clear message
and enforced by the database; a constraint violation from a concurrent writer is caught and
answered with the same message, never leaked as an ``IntegrityError``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.errors import MemberNotFound, NoAuth, ParamError, RateLimited
from hub.models import Merchant
from members import vault
from members.models import Consent, Member, PiiRevealAudit, Tier, VendorMemberLink
from members.selectors import active_link, link_conflict
from members.validation import (
    DUPLICATE_MOBILE,
    DUPLICATE_POSTAL_NO,
    EXTERNAL_ID_TAKEN,
    MEMBER_ALREADY_LINKED,
    clean_external_id,
    clean_id_number,
    clean_mobile,
    clean_name,
    clean_postal_no,
    clean_reason,
    pii_search_candidate,
)

logger = logging.getLogger("members.services")

REVEALABLE_FIELDS = {"mobile": "手机号", "id_number": "身份证号"}
# A reveal or an exact search must say why: at least this many letters/digits/characters.
REVEAL_REASON_MIN = 2
# Exact searches by a full mobile or ID number per staff user per hour (settings may lower it).
PII_SEARCHES_PER_HOUR = 30
# A till's clock may run slightly ahead of ours; anything beyond this is refused.
VERIFIED_AT_TOLERANCE = timedelta(minutes=5)

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def _actor_id(actor) -> int | None:
    return getattr(actor, "pk", None)


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


def _mobile_index(mobile: str) -> str:
    return vault.blind_index(mobile, purpose="mobile")


def _mobile_indexes(mobile: str) -> list[str]:
    """Every index the mobile may be stored under (one per key of the ring): lookups and
    uniqueness checks use all of them, writes the newest (``_mobile_index``)."""
    return vault.blind_indexes(mobile, purpose="mobile")


def _id_number_index(id_number: str) -> str | None:
    return vault.blind_index(id_number, purpose="id_number") if id_number else None


def _require_tier(tier: Tier | None) -> Tier:
    if not isinstance(tier, Tier) or tier.pk is None:
        raise ParamError("请选择有效的会员等级")
    return tier


def _lock_member(member: Member) -> Member:
    locked = Member.objects.select_for_update().filter(pk=getattr(member, "pk", None)).first()
    if locked is None:
        raise MemberNotFound()
    return locked


def _member_conflict(
    *, postal_no: str | None, mobile_index: str | None = None, exclude_pk: int | None, mobile: str | None = None
) -> str | None:
    """The message for an existing member holding this postal number or mobile, if any. With
    ``mobile`` the check covers its index under every key of the ring."""
    others = Member.objects.exclude(pk=exclude_pk) if exclude_pk else Member.objects.all()
    if postal_no and others.filter(postal_no=postal_no).exists():
        return DUPLICATE_POSTAL_NO
    indexes = _mobile_indexes(mobile) if mobile else [mobile_index] if mobile_index else []
    if indexes and others.filter(mobile_index__in=indexes).exists():
        return DUPLICATE_MOBILE
    return None


def _save_member(member: Member, *, update_fields: list[str] | None = None) -> None:
    """Save in a savepoint; a unique violation becomes the ParamError a pre-check would give."""
    try:
        with transaction.atomic():
            if update_fields is None:
                member.save(force_insert=True)
            else:
                member.save(update_fields=update_fields)
    except IntegrityError as exc:
        name = _constraint_name(exc)
        if "postal_no" in name:
            raise ParamError(DUPLICATE_POSTAL_NO) from None
        if "mobile_index" in name:
            raise ParamError(DUPLICATE_MOBILE) from None
        message = _member_conflict(
            postal_no=member.postal_no, mobile_index=member.mobile_index, exclude_pk=member.pk
        )
        if message:
            raise ParamError(message) from None
        raise


@transaction.atomic
def register_member(
    *, postal_no: str, name: str, mobile: str, id_number: str = "", tier: Tier, actor=None
) -> Member:
    """Create a member; name, mobile and ID number are stored encrypted with blind indexes."""
    postal_no = clean_postal_no(postal_no)
    name = clean_name(name)
    mobile = clean_mobile(mobile)
    id_number = clean_id_number(id_number)
    _require_tier(tier)
    mobile_index = _mobile_index(mobile)
    message = _member_conflict(postal_no=postal_no, mobile=mobile, exclude_pk=None)
    if message:
        raise ParamError(message)
    member = Member(
        postal_no=postal_no,
        name=name,
        mobile=mobile,
        mobile_index=mobile_index,
        id_number=id_number,
        id_number_index=_id_number_index(id_number),
        tier=tier,
    )
    _save_member(member)
    logger.info("member registered: id=%s actor=%s", member.pk, _actor_id(actor))
    return member


@transaction.atomic
def update_member(
    *,
    member: Member,
    name: str | None = None,
    mobile: str | None = None,
    id_number: str | None = None,
    tier: Tier | None = None,
    status: str | None = None,
    actor=None,
) -> Member:
    """Change the given attributes (``None`` = keep; ``id_number=""`` clears it)."""
    locked = _lock_member(member)
    changed: list[str] = []
    if name is not None:
        name = clean_name(name)
        if name != locked.name:
            locked.name = name
            changed.append("name")
    if mobile is not None:
        mobile = clean_mobile(mobile)
        if mobile != locked.mobile:
            index = _mobile_index(mobile)
            if _member_conflict(postal_no=None, mobile=mobile, exclude_pk=locked.pk):
                raise ParamError(DUPLICATE_MOBILE)
            locked.mobile, locked.mobile_index = mobile, index
            changed += ["mobile", "mobile_index"]
    if id_number is not None:
        id_number = clean_id_number(id_number)
        if id_number != locked.id_number:
            locked.id_number, locked.id_number_index = id_number, _id_number_index(id_number)
            changed += ["id_number", "id_number_index"]
    if tier is not None:
        _require_tier(tier)
        if tier.pk != locked.tier_id:
            locked.tier = tier
            changed.append("tier")
    if status is not None:
        if status not in Member.Status.values:
            raise ParamError("会员状态无效")
        if status != locked.status:
            locked.status = status
            changed.append("status")
    if changed:
        _save_member(locked, update_fields=[*changed, "updated_at"])
        logger.info("member updated: id=%s fields=%s actor=%s", locked.pk, ",".join(changed), _actor_id(actor))
    return locked


def update_member_tier(*, member: Member, tier: Tier, actor=None) -> Member:
    """Move a member to another tier (tiers are fed from postal finance's asset levels)."""
    return update_member(member=member, tier=_require_tier(tier), actor=actor)


@transaction.atomic
def import_member(
    *, postal_no: str, name: str, mobile: str, id_number: str = "", tier: Tier, actor=None
) -> tuple[Member, str]:
    """Create or bring up to date the member with this postal number, from an export record.

    Returns the member and ``created``, ``updated`` or ``unchanged``. An empty ID number keeps
    the one on record. Running it twice with the same record changes nothing the second time.
    """
    postal_no = clean_postal_no(postal_no)
    name, mobile, id_number = clean_name(name), clean_mobile(mobile), clean_id_number(id_number)
    _require_tier(tier)
    existing = Member.objects.select_for_update().filter(postal_no=postal_no).first()
    if existing is None:
        member = register_member(
            postal_no=postal_no, name=name, mobile=mobile, id_number=id_number, tier=tier, actor=actor
        )
        return member, CREATED
    same = (
        existing.name == name
        and existing.mobile == mobile
        and (not id_number or existing.id_number == id_number)
        and existing.tier_id == tier.pk
    )
    if same:
        return existing, UNCHANGED
    member = update_member(
        member=existing, name=name, mobile=mobile, id_number=id_number or None, tier=tier, actor=actor
    )
    return member, UPDATED


@transaction.atomic
def link_member(
    *, member: Member, merchant, external_id: str, method: str, verified_at: datetime | None = None, actor=None
) -> VendorMemberLink:
    """Record that ``member`` is customer ``external_id`` in ``merchant``'s cashier software.

    Linking the same card to the same member again returns the existing link. A card already
    linked to another member is refused with ``该会员卡号已绑定其他会员``, also when two tills race:
    the partial unique constraint lets exactly one insert win.
    """
    external_id = clean_external_id(external_id)
    if method not in VendorMemberLink.Method.values:
        raise ParamError("核验方式无效")
    now = timezone.now()
    verified_at = verified_at or now
    if verified_at > now + VERIFIED_AT_TOLERANCE:
        raise ParamError("核验时间不能晚于当前时间")
    member = Member.objects.filter(pk=getattr(member, "pk", None)).first()
    if member is None:
        raise MemberNotFound()
    if member.status != Member.Status.ACTIVE:
        raise ParamError("会员状态非正常，不能绑定")
    merchant = Merchant.objects.filter(pk=getattr(merchant, "pk", None)).first()
    if merchant is None or not merchant.is_active:
        raise ParamError("商户不存在或未处于正常状态，不能绑定")
    # One read decides "same card, same member": reading twice could see a racing link
    # committed in between and hand it out as ours.
    existing = active_link(merchant=merchant, external_id=external_id)
    if existing is not None and existing.member_id == member.pk:
        return existing
    message = link_conflict(member=member, merchant=merchant, external_id=external_id)
    if message:
        raise ParamError(message)
    link = VendorMemberLink(
        member=member, merchant=merchant, external_id=external_id, verified_method=method, verified_at=verified_at
    )
    try:
        with transaction.atomic():
            link.save(force_insert=True)
    except IntegrityError as exc:
        winner = VendorMemberLink.objects.filter(
            merchant=merchant, external_id=external_id, unlinked_at__isnull=True
        ).first()
        if winner is not None and winner.member_id == member.pk:
            return winner
        if winner is not None or _constraint_name(exc) == "link_external_id_unique_per_merchant":
            raise ParamError(EXTERNAL_ID_TAKEN) from None
        if _constraint_name(exc) == "link_one_active_per_member_merchant":
            raise ParamError(MEMBER_ALREADY_LINKED) from None
        raise
    logger.info(
        "member linked: link=%s member=%s merchant=%s method=%s actor=%s",
        link.pk, member.pk, merchant.pk, method, _actor_id(actor),
    )
    return link


@transaction.atomic
def unlink_member(*, link: VendorMemberLink, reason: str, actor=None) -> VendorMemberLink:
    """End a link; the row stays as history with the time and reason."""
    reason = clean_reason(reason, what="解绑原因")
    locked = VendorMemberLink.objects.select_for_update().filter(pk=getattr(link, "pk", None)).first()
    if locked is None:
        raise ParamError("绑定关系不存在")
    if locked.unlinked_at is not None:
        raise ParamError("该绑定关系已解绑")
    locked.unlinked_at = timezone.now()
    locked.unlink_reason = reason
    locked.save(update_fields=["unlinked_at", "unlink_reason"])
    link.unlinked_at, link.unlink_reason = locked.unlinked_at, locked.unlink_reason
    logger.info("member unlinked: link=%s actor=%s", locked.pk, _actor_id(actor))
    return locked


def _clean_scope(scope: str) -> str:
    if scope not in Consent.Scope.values:
        raise ParamError("授权范围无效")
    return scope


@transaction.atomic
def grant_consent(
    *, member: Member, merchant, scope: str = Consent.Scope.MEMBER_RECOGNITION, source: str = "mini_program",
    version: str = "", actor=None,
) -> Consent:
    """Record a member's consent to share data with a merchant; granting twice is a no-op.
    ``version`` is the consent text's version the member agreed to (the mini-program's)."""
    scope = _clean_scope(scope)
    source = (source or "").strip()
    if not source or len(source) > 32:
        raise ParamError("授权来源无效")
    status = Member.objects.filter(pk=getattr(member, "pk", None)).values_list("status", flat=True).first()
    if status is None:
        raise MemberNotFound()
    if status == Member.Status.CLOSED:
        raise ParamError("会员已注销，不能授权")
    if merchant is None or merchant.pk is None:
        raise ParamError("商户不存在")
    active = Consent.objects.filter(member=member, merchant=merchant, scope=scope, withdrawn_at__isnull=True)
    current = active.first()
    if current is not None:
        return current
    if not isinstance(version, str) or len(version) > 16:
        raise ParamError("授权协议版本无效")
    consent = Consent(member=member, merchant=merchant, scope=scope, source=source, version=version,
                      granted_at=timezone.now())
    try:
        with transaction.atomic():
            consent.save(force_insert=True)
    except IntegrityError:
        current = active.first()
        if current is None:
            raise
        return current
    logger.info("consent granted: consent=%s actor=%s", consent.pk, _actor_id(actor))
    return consent


@transaction.atomic
def withdraw_consent(
    *, member: Member, merchant, scope: str = Consent.Scope.MEMBER_RECOGNITION, actor=None
) -> Consent:
    """Withdraw a consent (the record stays). Withdrawing member recognition also ends the
    member's active link with that merchant: without consent the hub stops sharing data."""
    scope = _clean_scope(scope)
    consent = (
        Consent.objects.select_for_update()
        .filter(member=member, merchant=merchant, scope=scope, withdrawn_at__isnull=True)
        .first()
    )
    if consent is None:
        raise ParamError("该会员对此商户没有有效的授权")
    consent.withdrawn_at = timezone.now()
    consent.save(update_fields=["withdrawn_at"])
    if scope == Consent.Scope.MEMBER_RECOGNITION:
        for link in VendorMemberLink.objects.filter(member=member, merchant=merchant, unlinked_at__isnull=True):
            unlink_member(link=link, reason="会员撤回数据共享授权", actor=actor)
    logger.info("consent withdrawn: consent=%s actor=%s", consent.pk, _actor_id(actor))
    return consent


@transaction.atomic
def reveal_pii(*, user, member: Member, field: str, reason: str) -> str:
    """Return a member's full mobile or ID number to a permitted user, recording who, when, why."""
    if user is None or not user.is_active or not user.has_perm("members.reveal_pii"):
        raise NoAuth("无权查看会员完整手机号或身份证号")
    if field not in REVEALABLE_FIELDS:
        raise ParamError("不支持查看该字段")
    reason = clean_reason(reason, what="查看原因", min_length=REVEAL_REASON_MIN)
    fresh = Member.objects.filter(pk=getattr(member, "pk", None)).first()
    if fresh is None:
        raise MemberNotFound()
    value = getattr(fresh, field)
    if vault.is_unreadable(value):
        raise ParamError(f"该会员的{REVEALABLE_FIELDS[field]}无法解密，请联系系统管理员")
    if not value:
        raise ParamError(f"该会员未登记{REVEALABLE_FIELDS[field]}")
    PiiRevealAudit.objects.create(user=user, member=fresh, field=field, reason=reason)
    logger.info("pii revealed: member=%s field=%s user=%s", fresh.pk, field, user.pk)
    return value


def parse_pii_term(term: str | None) -> tuple[str, str] | None:
    """(``mobile`` or ``id_number``, normalised value) if ``term`` is a full mobile or ID number
    as people type them (full-width digits, spaces, ``+86``), else ``None``."""
    candidate = pii_search_candidate(term)
    for field, check in (("mobile", clean_mobile), ("id_number", clean_id_number)):
        try:
            value = check(candidate)
        except ParamError:
            continue
        if value:
            return field, value
    return None


def _pii_search_limit() -> int:
    return int(getattr(settings, "MEMBERS_PII_SEARCHES_PER_HOUR", PII_SEARCHES_PER_HOUR))


@transaction.atomic
def search_members_by_pii(*, user, term: str, reason: str) -> tuple[str, list[Member]]:
    """Exact search by a full mobile or ID number. It confirms whose the value is, so it is a
    reveal: it needs ``members.reveal_pii`` and a reason, leaves one ``PiiRevealAudit`` row
    (``kind=search``) per member found (one with no member if nobody matched; the value searched
    is never stored), and a user may make ``MEMBERS_PII_SEARCHES_PER_HOUR`` of them per hour.
    Returns the field searched and the members found."""
    if user is None or not user.is_active or not user.has_perm("members.reveal_pii"):
        raise NoAuth("按完整手机号或身份证号查找会员需要“查看敏感信息”权限")
    parsed = parse_pii_term(term)
    if parsed is None:
        raise ParamError("请输入完整的11位手机号或18位身份证号")
    field, value = parsed
    reason = clean_reason(reason, what="查找原因", min_length=REVEAL_REASON_MIN)
    # One user's searches are counted one at a time (the row lock), so racing requests cannot
    # both slip under the limit.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    since = timezone.now() - timedelta(hours=1)
    done = PiiRevealAudit.objects.filter(user=user, kind=PiiRevealAudit.Kind.SEARCH, at__gte=since).count()
    if done >= _pii_search_limit():
        raise RateLimited("精确查找过于频繁，请一小时后再试")
    indexes = vault.blind_indexes(value, purpose=field)
    found = list(Member.objects.select_related("tier").filter(**{f"{field}_index__in": indexes}).order_by("pk"))
    for member in found or [None]:
        PiiRevealAudit.objects.create(
            user=user, kind=PiiRevealAudit.Kind.SEARCH, member=member, field=field, reason=reason
        )
    logger.info("pii search: field=%s found=%s user=%s", field, len(found), user.pk)
    return field, found
