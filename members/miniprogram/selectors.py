"""What the mini-program's pages read, always for the token's member and masked (the export is
the one unmasked answer). Reads only: the writes are ``services`` and ``sessions``."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from hub.errors import NotFound, ParamError, RightNotApplicable
from hub.models import Merchant, Store
from hub.timezone import SHANGHAI
from members import vault
from members.miniprogram.models import MpIdentity, MpSession
from members.models import Consent, Member, MemberCode, VendorMemberLink
from points import rules
from points import selectors as points_selectors
from points.common import program_by_id
from rights import quotas, vouchers
from rights.models import QuotaCounter, Redemption, Right, Voucher

MAX_LIMIT = 50
FEW_LEFT = 10  # stock "few" at or below this many (or a tenth of the total, if more)


def at(value: datetime | None) -> str | None:
    """RFC 3339 with +08:00, to the second."""
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds") if value else None


# ---- cursors ------------------------------------------------------------------------------------

def encode_cursor(*parts: int) -> str:
    return base64.urlsafe_b64encode(".".join(str(p) for p in parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, parts: int) -> tuple[int, ...] | None:
    if cursor in (None, ""):
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        values = tuple(int(p) for p in raw.split("."))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ParamError("cursor 无效") from None
    if len(values) != parts or any(v < 0 or v > 2**62 for v in values):
        raise ParamError("cursor 无效")
    return values


def page_limit(raw) -> int:
    if raw in (None, ""):
        return 20
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise ParamError("limit 须为 1 至 50 的整数") from None
    if not 1 <= limit <= MAX_LIMIT or str(raw).strip() != str(limit):
        raise ParamError("limit 须为 1 至 50 的整数")
    return limit


# ---- the member ---------------------------------------------------------------------------------

def member_brief(member: Member) -> dict:
    return {"name_masked": member.masked_name, "mobile_masked": member.masked_mobile, "tier": member.tier.name}


def consents(member: Member) -> list[dict]:
    rows = Consent.objects.filter(member=member, withdrawn_at__isnull=True).select_related("merchant")
    return [{"merchant_code": c.merchant.code, "merchant_name": c.merchant.name, "scope": c.scope,
             "scope_name": c.get_scope_display(), "version": c.version, "granted_at": at(c.granted_at)}
            for c in rows.order_by("merchant__code", "scope")]


def me(member: Member, identity: MpIdentity) -> dict:
    benefits = (Right.objects.filter(kind=Right.Kind.TIER_DISCOUNT, status=Right.Status.ACTIVE)
                .filter(Q(tiers=member.tier) | Q(tiers__isnull=True)).distinct().order_by("pk"))
    return {
        "name_masked": member.masked_name, "mobile_masked": member.masked_mobile,
        "tier": {"code": member.tier.code, "name": member.tier.name},
        "tier_benefits": [{"right_id": r.pk, "name": r.name, "description": r.description} for r in benefits],
        "consent_version": identity.consent_version,
        "consents": consents(member),
    }


def memberships(member: Member) -> list[dict]:
    links = VendorMemberLink.objects.filter(member=member, unlinked_at__isnull=True).select_related("merchant")
    return [link_item(link) for link in links.order_by("-linked_at", "-pk")]


def link_item(link: VendorMemberLink) -> dict:
    return {"id": link.pk, "merchant_code": link.merchant.code, "merchant_name": link.merchant.name,
            "scene": link.merchant.scene, "card_no_masked": link.masked_external_id, "linked_at": at(link.linked_at),
            "verified_by": link.verified_method}


# ---- points -------------------------------------------------------------------------------------

def balances(member: Member, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    items = []
    for program_id in points_selectors.member_programs(member):
        program = program_by_id(program_id)
        held = points_selectors.balances(member, program, now)
        items.append({
            "program": {"code": program.code, "name": program.name}, **held,
            "value_fen": rules.points_value_fen(program, held["available"]),
            "expiring": [{"points": e["points"], "expires_at": at(e["expires_at"])}
                         for e in points_selectors.expiring(member, program, now)],
        })
    return items


def _moment(raw, name: str) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ParamError(f"{name} 须为 RFC 3339 时间或日期") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value


def transactions(member: Member, *, cursor=None, limit=None, type=None, since=None, until=None) -> dict:
    limit = page_limit(limit)
    before = decode_cursor(cursor, 2)
    types: tuple[str, ...] = ()
    if type not in (None, ""):
        if type not in points_selectors.HISTORY_TYPES:
            raise ParamError("type 无效")
        types = (type,)
    rows = points_selectors.member_history(member, limit=limit + 1, before=before, types=types,
                                           since=_moment(since, "from"), until=_moment(until, "to"))
    more = len(rows) > limit
    rows = rows[:limit]
    merchants = {m.pk: m.name for m in Merchant.objects.filter(pk__in={r["merchant_id"] for r in rows} - {None})}
    stores = {s.pk: s.name for s in Store.objects.filter(pk__in={r["store_id"] for r in rows} - {None})}
    items = []
    for r in rows:
        program = program_by_id(r["program_id"])
        items.append({"id": encode_cursor(r["txn_id"], r["program_id"]), "at": at(r["at"]), "type": r["type"],
                      "points": r["points"], "balance_after": r["balance_after"],
                      "program": {"code": program.code, "name": program.name},
                      "merchant_name": merchants.get(r["merchant_id"], ""), "store_name": stores.get(r["store_id"], ""),
                      "memo": r["memo"]})
    last = rows[-1] if rows else None
    return {"items": items, "next_cursor": encode_cursor(last["txn_id"], last["program_id"]) if more else None}


def member_code_status(member: Member, code_id) -> dict:
    row = (MemberCode.objects.filter(pk=code_id, member=member).select_related("used_by").first()
           if isinstance(code_id, int) else None)
    if row is None:
        raise NotFound("会员码不存在")
    answer = {"used": row.used_at is not None, "expired": row.used_at is None and row.expires_at <= timezone.now(),
              "expires_at": at(row.expires_at)}
    if row.used_at is not None:
        answer["used_at"] = at(row.used_at)
        answer["merchant_name"] = row.used_by.name if row.used_by else ""
    return answer


# ---- rights -------------------------------------------------------------------------------------

def visible_rights():
    now = timezone.now()
    return (Right.objects.filter(status=Right.Status.ACTIVE, kind__in=Right.VOUCHER_KINDS)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now)))


def right_for(right_id) -> Right:
    right = visible_rights().filter(pk=right_id).first() if isinstance(right_id, int) else None
    if right is None:
        raise NotFound("权益不存在")
    return right


def _stock(right: Right) -> str:
    """From the quota counters themselves (one query; ``quotas.usage`` also counts vouchers)."""
    used = dict(QuotaCounter.objects.filter(right=right, key="", scope__in=(quotas.Scope.TOTAL, quotas.Scope.BUDGET))
                .values_list("scope", "used"))
    if right.budget_fen is not None and right.budget_fen - used.get(quotas.Scope.BUDGET, 0) <= 0:
        return "none"
    left = None if right.total_limit is None else right.total_limit - used.get(quotas.Scope.TOTAL, 0)
    if left is None:
        return "plenty"
    if left <= 0:
        return "none"
    return "few" if left <= max(FEW_LEFT, (right.total_limit or 0) // 10) else "plenty"


def _member_left(right: Right, member: Member) -> int | None:
    if right.member_limit is None:
        return None
    held = Voucher.objects.filter(right=right, member=member).count()
    return max(right.member_limit - held, 0)


def right_item(right: Right, member: Member) -> dict:
    stock = _stock(right)
    left = _member_left(right, member)
    reason = None
    try:
        if right.claim_mode == Right.ClaimMode.TIER_GRANT:
            raise RightNotApplicable("按会员等级定期发放，无需领取")
        vouchers.check_member_eligible(right, member)
        if stock == "none":
            reason = "权益已领完"
        elif left == 0:
            reason = "已达到每人领取上限"
    except RightNotApplicable as exc:
        reason = exc.message
    providers = list(right.providers.all().order_by("pk"))
    cost = {}
    if right.claim_mode == Right.ClaimMode.POINTS and right.claim_program_id:
        program = program_by_id(right.claim_program_id)
        cost = {"points": right.claim_points, "program": {"code": program.code, "name": program.name}}
    item = {
        "id": right.pk, "code": right.code, "name": right.name, "kind": right.kind,
        "provider_name": "、".join(p.name for p in providers), "claim_mode": right.claim_mode, "cost": cost,
        "valid": {"from": at(right.valid_from), "until": at(right.valid_until), "days_after_claim": right.valid_days},
        "stock": stock, "member_left": left, "eligible": reason is None,
    }
    if reason is not None:
        item["ineligible_reason"] = reason
    return item


def rights(member: Member, *, scene=None, kind=None, cursor=None, limit=None) -> dict:
    limit = page_limit(limit)
    before = decode_cursor(cursor, 1)
    qs = visible_rights()
    if scene not in (None, ""):
        if scene not in Merchant.Scene.values:
            raise ParamError("scene 无效")
        qs = qs.filter(Q(scenes__contains=[scene]) | Q(scenes=[], providers__scene=scene)).distinct()
    if kind not in (None, ""):
        if kind not in Right.VOUCHER_KINDS:
            raise ParamError("kind 无效")
        qs = qs.filter(kind=kind)
    if before is not None:
        qs = qs.filter(pk__lt=before[0])
    found = list(qs.order_by("-pk")[:limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return {"items": [right_item(r, member) for r in found],
            "next_cursor": encode_cursor(found[-1].pk) if more else None}


def _stacking(right: Right) -> str:
    if right.exclusive:
        return "不可与其他权益叠加使用"
    if right.stack_group:
        return f"同一叠加组（{right.stack_group}）内每单限用一张，可与其他组权益叠加"
    return "可与其他权益叠加使用"


def _funding(right: Right) -> str:
    if right.settlement_fen is not None:
        return f"由{right.funder.name}出资，每次使用结算 {right.settlement_fen} 分"
    if right.funded_share_bp is not None:
        return f"由{right.funder.name}承担优惠金额的 {right.funded_share_bp / 100:g}%"
    return f"由{right.funder.name}出资"


def right_detail(right: Right, member: Member) -> dict:
    stores = list(right.stores.select_related("merchant").order_by("pk"))
    if not stores:
        stores = list(Store.objects.filter(merchant__in=right.providers.all()).select_related("merchant")
                      .order_by("pk")[:50])
    detail = right_item(right, member)
    detail.update({
        "rules": right.description,
        "terms": {"off_fen": right.off_fen, "threshold_fen": right.threshold_fen, "rate_bp": right.rate_bp,
                  "cap_fen": right.cap_fen, "people": right.people, "weekdays": list(right.weekdays or [])},
        "stores": [{"merchant_name": s.merchant.name, "store_name": s.name} for s in stores],
        "stacking": _stacking(right), "funding": _funding(right),
    })
    return detail


# ---- vouchers -----------------------------------------------------------------------------------

LIVE = (Voucher.State.PENDING, Voucher.State.AVAILABLE, Voucher.State.RESERVED)


def voucher_state(voucher: Voucher, now: datetime) -> str:
    if voucher.state == Voucher.State.USED:
        return "used"
    if voucher.state in LIVE and voucher.expires_at > now:
        return "available"
    return "expired"


def voucher_for(member: Member, voucher_id) -> Voucher:
    voucher = (Voucher.objects.filter(pk=voucher_id, member=member).select_related("right").first()
               if isinstance(voucher_id, int) else None)
    if voucher is None:
        raise NotFound("权益凭证不存在")
    return voucher


def voucher_item(voucher: Voucher, now: datetime | None = None, *, places: dict | None = None) -> dict:
    now = now or timezone.now()
    right = voucher.right
    item = {"id": voucher.pk, "right": {"id": right.pk, "code": right.code, "name": right.name, "kind": right.kind},
            "state": voucher_state(voucher, now), "valid_from": at(voucher.valid_from),
            "expires_at": at(voucher.expires_at)}
    if voucher.state == Voucher.State.USED:
        item["used_at"] = at(voucher.used_at)
        place = (places or {}).get(voucher.pk)
        if place is None and places is None:
            place = _used_places([voucher.pk]).get(voucher.pk)
        item["used_place"] = place or ""
    return item


def _used_places(voucher_ids: list[int]) -> dict[int, str]:
    rows = (Redemption.objects.filter(voucher_id__in=voucher_ids, kind=Redemption.Kind.USE,
                                      status=Redemption.Status.SUCCESS)
            .select_related("merchant", "store").order_by("pk"))
    return {r.voucher_id: (f"{r.merchant.name} {r.store.name}" if r.store else r.merchant.name) for r in rows}


def member_vouchers(member: Member, *, state=None, cursor=None, limit=None) -> dict:
    now = timezone.now()
    limit = page_limit(limit)
    before = decode_cursor(cursor, 1)
    qs = Voucher.objects.filter(member=member).select_related("right")
    if state not in (None, ""):
        live = Q(state__in=LIVE, expires_at__gt=now)
        if state == "available":
            qs = qs.filter(live)
        elif state == "used":
            qs = qs.filter(state=Voucher.State.USED)
        elif state == "expired":
            qs = qs.exclude(live).exclude(state=Voucher.State.USED)
        else:
            raise ParamError("state 须为 available、used 或 expired")
    if before is not None:
        qs = qs.filter(pk__lt=before[0])
    found = list(qs.order_by("-pk")[:limit + 1])
    more = len(found) > limit
    found = found[:limit]
    places = _used_places([v.pk for v in found if v.state == Voucher.State.USED])
    return {"items": [voucher_item(v, now, places=places) for v in found],
            "next_cursor": encode_cursor(found[-1].pk) if more else None}


# ---- the PIPL export ----------------------------------------------------------------------------

def _all_history(member: Member) -> list[dict]:
    out, cursor = [], None
    while True:
        page = transactions(member, cursor=cursor, limit=MAX_LIMIT)
        out.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def _plain(value) -> str:
    return "无法解密" if vault.is_unreadable(value) else (value or "")


def export(member: Member) -> dict:
    """Everything the hub holds about the member, unmasked: the one answer with the member's own
    full mobile and ID number (PIPL access right). WeChat's openid is not held (only a keyed
    digest of it), so it cannot be exported; tokens are held only as digests too."""
    member = Member.objects.select_related("tier").get(pk=member.pk)
    identities = MpIdentity.objects.filter(member=member).order_by("pk")
    sessions = MpSession.objects.filter(identity__member=member).order_by("pk")
    links = VendorMemberLink.objects.filter(member=member).select_related("merchant").order_by("pk")
    all_consents = Consent.objects.filter(member=member).select_related("merchant").order_by("pk")
    codes = MemberCode.objects.filter(member=member).select_related("used_by").order_by("pk")
    held = Voucher.objects.filter(member=member).select_related("right").order_by("pk")
    places = _used_places([v.pk for v in held if v.state == Voucher.State.USED])
    return {
        "member": {"postal_no": member.postal_no, "name": _plain(member.name),
                   "mobile": _plain(member.mobile), "id_number": _plain(member.id_number),
                   "tier": {"code": member.tier.code, "name": member.tier.name}, "status": member.status,
                   "registered_at": at(member.created_at)},
        "identities": [{"channel": i.channel, "app_id": i.app_id, "has_unionid": i.has_unionid,
                        "consent_version": i.consent_version, "bound_at": at(i.bound_at),
                        "first_login_at": at(i.created_at)} for i in identities],
        "sessions": [{"created_at": at(s.created_at), "last_used_at": at(s.last_used_at),
                      "expires_at": at(s.expires_at), "revoked_at": at(s.revoked_at)} for s in sessions],
        "memberships": [{"merchant_code": link.merchant.code, "merchant_name": link.merchant.name,
                         "card_no": link.external_id, "verified_by": link.verified_method,
                         "linked_at": at(link.linked_at), "unlinked_at": at(link.unlinked_at),
                         "unlink_reason": link.unlink_reason} for link in links],
        "consents": [{"merchant_code": c.merchant.code, "merchant_name": c.merchant.name, "scope": c.scope,
                      "version": c.version, "source": c.source, "granted_at": at(c.granted_at),
                      "withdrawn_at": at(c.withdrawn_at)} for c in all_consents],
        "balances": balances(member),
        "transactions": _all_history(member),
        "vouchers": [voucher_item(v, places=places) for v in held],
        "member_codes": [{"issued_at": at(c.issued_at), "expires_at": at(c.expires_at), "used_at": at(c.used_at),
                          "merchant_name": c.used_by.name if c.used_by else ""} for c in codes],
    }

