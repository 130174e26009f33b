"""Rights at the till (contract v1.1): what identify offers, and the checks of what earn reports.

- ``voucher_ref`` / ``voucher_of_ref``: the opaque voucher reference a till sees, scoped to the
  merchant as the member id is (``rights.references``: stateless, another merchant's reference
  does not open here, ``VOUCHER_NOT_FOUND``). It is valid as long as the voucher is (its use is
  refused ``VOUCHER_EXPIRED`` after that).
- ``display_code_member``: a scanned ``97…`` display code, resolved once (used up) to the member
  and the voucher; ``peek_display_code`` the same without any side effect (replays).
- ``rights_for``: the rights applicable here for this member (tier discounts of the member's tier
  at this merchant and store, and the member's vouchers usable here), as canonical items.
- ``sale_uses``: the ``rights_used`` of an earn turned into ``rights.redemption.SaleUse`` rows,
  with the stacking rules checked (the use itself — eligibility, store, threshold, discount,
  quotas, the voucher's state — is checked by ``rights.redemption.record_sale_uses``).

Stacking: at most one voucher per sale, unless every voucher used is of a right that is not
``exclusive``; two rights of one ``stack_group`` in a sale only if neither is exclusive; a right
or a voucher at most once per sale.
"""

from __future__ import annotations

import functools
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS

from hub.db import fetch_prepared
from hub.errors import DomainError, ParamError, RightNotApplicable, VoucherNotFound
from hub.gateway.canonical import RightUse
from members.models import Member
from rights import redemption, references, vouchers
from rights.models import DisplayCode, Right, Voucher
from rights.states import State

REF_RE = references.REF_RE
TILL_KINDS = (Right.Kind.TIER_DISCOUNT, Right.Kind.AMOUNT_OFF, Right.Kind.PERCENT_OFF, Right.Kind.GIFT)
MAX_ITEMS = 20  # rights items identify returns at most


def voucher_ref(*, voucher, merchant) -> str:
    """The opaque reference of ``voucher`` at ``merchant`` (rights.references, the one definition
    shared with the native voucher endpoints and the gates)."""
    return references.voucher_reference(voucher, merchant)


def voucher_of_ref(ref: str, *, merchant) -> Voucher:
    """The voucher a reference of this merchant names, or ``VOUCHER_NOT_FOUND``."""
    voucher = references.resolve_reference(ref, merchant)
    if voucher is None:
        raise VoucherNotFound()  # another merchant's reference, a forged one, or not one at all
    return voucher


def is_display_code(value: str) -> bool:
    return isinstance(value, str) and bool(vouchers.DISPLAY_RE.match(value))


def peek_display_code(code: str) -> Member | None:
    """The member a display code stands for, used or not, with no side effect (a retried request
    whose first answer is stored)."""
    row = DisplayCode.objects.filter(digest=vouchers.display_code_digest(code)).select_related("member").first()
    return row.member if row is not None else None


def display_code_member(*, code: str, merchant, now: datetime) -> tuple[Member, Voucher]:
    """Use a display code once: (member, voucher). Unknown: VOUCHER_NOT_FOUND; used or expired:
    VOUCHER_EXPIRED (the member shows a fresh one)."""
    return vouchers.resolve_display_code(code=code, merchant=merchant, now=now)


# ---- identify -------------------------------------------------------------------------------------

def _item(right: Right, *, code: str, voucher: bool) -> dict:
    item: dict = {"code": code, "name": right.name}
    if right.rate_bp is not None and right.kind in (Right.Kind.TIER_DISCOUNT, Right.Kind.PERCENT_OFF):
        item["discount_bp"] = right.rate_bp
    if right.kind == Right.Kind.AMOUNT_OFF and right.off_fen is not None:
        item["discount_fen"] = right.off_fen
    if right.threshold_fen:
        item["threshold_fen"] = right.threshold_fen
    item["voucher"] = voucher
    return item


def _usable_here(right: Right, *, merchant, store, member, now: datetime) -> bool:
    try:
        redemption.check_applicable(right, merchant=merchant, store=store, member=member,
                                    sale_fen=right.threshold_fen or 0, discount_fen=0, now=now)
    except DomainError:
        return False
    return True


def check_voucher_here(voucher: Voucher, *, merchant, store, member, now: datetime) -> None:
    """The shown voucher must be usable here now: its state, its validity, its right."""
    if voucher.member_id != member.pk:
        raise VoucherNotFound("凭证不属于该会员")
    if voucher.right.kind not in TILL_KINDS:
        raise RightNotApplicable("该凭证不能在收银台使用")
    if voucher.state not in (State.PENDING, State.AVAILABLE) or voucher.expires_at <= now or voucher.valid_from > now:
        raise redemption._explain_refusal(voucher.pk, now)
    redemption.check_applicable(voucher.right, merchant=merchant, store=store, member=member,
                                sale_fen=voucher.right.threshold_fen or 0, discount_fen=0, now=now)


@functools.cache
def _catalogue_sql() -> str:
    """One statement for identify: the merchant's active till rights (every column of Right),
    the ids of each one's providers, stores and tiers, and the member's usable vouchers of it as
    ``[[id, expires_at], …]`` (soonest expiry first, at most MAX_ITEMS). "Usable" is
    ``vouchers.usable_vouchers``'s filter, written in SQL."""
    columns = ", ".join(f"r.{field.column}" for field in Right._meta.concrete_fields)
    return f"""
            SELECT {columns},
                   ARRAY(SELECT merchant_id FROM rights_right_providers WHERE right_id = r.id),
                   ARRAY(SELECT store_id FROM rights_right_stores WHERE right_id = r.id),
                   ARRAY(SELECT tier_id FROM rights_right_tiers WHERE right_id = r.id),
                   CASE WHEN r.kind = ANY(%s) THEN (
                       SELECT coalesce(json_agg(json_build_array(v.id, v.expires_at) ORDER BY v.expires_at, v.id), '[]')
                         FROM (SELECT v.id, v.expires_at FROM rights_voucher v
                                WHERE v.right_id = r.id AND v.member_id = %s AND v.state = ANY(%s)
                                  AND v.expires_at > %s AND v.valid_from <= %s AND v.id <> %s
                                ORDER BY v.expires_at, v.id LIMIT {MAX_ITEMS}) v)
                   END
              FROM rights_right r
             WHERE r.status = %s AND r.kind = ANY(%s)
               AND EXISTS (SELECT 1 FROM rights_right_providers p WHERE p.right_id = r.id AND p.merchant_id = %s)
             ORDER BY r.code"""


def rights_for(*, merchant, store, member, now: datetime, shown: Voucher | None = None) -> list[dict]:
    """The canonical ``rights`` items of identify: the shown voucher first, then the member's
    other vouchers usable here (soonest expiry first), then the tier discounts.

    One prepared statement reads the merchant's active till rights with their providers', stores'
    and tiers' ids (``Right.related_ids`` then answers ``check_applicable`` without a query) and
    the member's usable vouchers of each; the profile of bench/till_http.py had the ORM's six
    statements (and building them) as most of an identify."""
    names = [field.attname for field in Right._meta.concrete_fields]
    rows = fetch_prepared(_catalogue_sql(), [
        list(Right.VOUCHER_KINDS), member.pk, [State.PENDING, State.AVAILABLE], now, now, getattr(shown, "pk", 0) or 0,
        Right.Status.ACTIVE, list(TILL_KINDS), merchant.pk])
    items = []
    if shown is None and not rows:
        return items  # a merchant without rights at its tills
    if shown is not None:
        items.append(_item(shown.right, code=voucher_ref(voucher=shown, merchant=merchant), voucher=True))
    catalogue, held = [], []
    for row in rows:
        right = Right.from_db(DEFAULT_DB_ALIAS, names, row[:len(names)])
        right.providers_id_list, right.stores_id_list, right.tiers_id_list, vouchers_json = row[len(names):]
        catalogue.append(right)
        held += [(datetime.fromisoformat(expires), voucher_id, right) for voucher_id, expires in vouchers_json or ()]
    checked: dict[int, bool] = {}
    for _, voucher_id, right in sorted(held, key=lambda h: h[:2])[:MAX_ITEMS]:
        if right.pk not in checked:
            checked[right.pk] = _usable_here(right, merchant=merchant, store=store, member=member, now=now)
        if checked[right.pk]:
            items.append(_item(right, code=voucher_ref(voucher=voucher_id, merchant=merchant), voucher=True))
    discounts = [right for right in catalogue if right.kind == Right.Kind.TIER_DISCOUNT]
    for right in discounts[:MAX_ITEMS]:
        if _usable_here(right, merchant=merchant, store=store, member=member, now=now):
            items.append(_item(right, code=right.code, voucher=False))
    return items[:MAX_ITEMS]


# ---- earn -------------------------------------------------------------------------------------------

def canonical_uses(rights_used) -> tuple[RightUse, ...]:
    """The shape of earn's ``rights_used`` (codes and integer fen), before anything is looked up."""
    if not rights_used:
        return ()
    if len(rights_used) > redemption.MAX_SALE_USES:
        raise ParamError(f"一笔交易最多使用 {redemption.MAX_SALE_USES} 项权益")
    for use in rights_used:
        if not isinstance(use, RightUse) or not isinstance(use.code, str) or not use.code or len(use.code) > 64:
            raise ParamError("rights_used 格式错误")
        if isinstance(use.discount_fen, bool) or not isinstance(use.discount_fen, int) or use.discount_fen < 0:
            raise ParamError("rights_used 优惠金额必须为非负整数（分）")
    codes = [use.code for use in rights_used]
    if len(set(codes)) != len(codes):
        raise ParamError("rights_used 中的权益重复")
    return tuple(rights_used)


def fingerprint_part(uses: tuple[RightUse, ...]) -> list:
    return [[use.code, use.discount_fen] for use in uses]


def sale_uses(*, merchant, member, uses: tuple[RightUse, ...]) -> list[redemption.SaleUse]:
    """What each reported code names, and the stacking rules across them."""
    out = []
    for use in uses:
        if REF_RE.match(use.code):
            voucher = voucher_of_ref(use.code, merchant=merchant)
            if voucher.member_id != member.pk:
                raise VoucherNotFound("凭证不属于该会员")  # never another member's voucher
            if voucher.right.kind not in TILL_KINDS:
                raise RightNotApplicable("该凭证不能在收银台使用")
            out.append(redemption.SaleUse(right=voucher.right, voucher=voucher, discount_fen=use.discount_fen))
            continue
        right = Right.objects.filter(code=use.code).first()
        if right is None or right.kind != Right.Kind.TIER_DISCOUNT:
            # a right code that is not a tier discount: a voucher is named by its reference only
            if right is not None and right.is_voucher:
                raise RightNotApplicable("券类权益须使用识别会员时返回的凭证编码")
            raise VoucherNotFound("权益不存在")
        out.append(redemption.SaleUse(right=right, voucher=None, discount_fen=use.discount_fen))
    check_stacking(out)
    return out


def check_stacking(uses: list[redemption.SaleUse]) -> None:
    rights = [use.right for use in uses]
    if len({r.pk for r in rights if not r.is_voucher}) != sum(1 for r in rights if not r.is_voucher):
        raise RightNotApplicable("同一权益在一笔交易中只能使用一次")
    voucher_rights = [use.right for use in uses if use.voucher is not None]
    if len(voucher_rights) > 1 and any(r.exclusive for r in voucher_rights):
        raise RightNotApplicable("每笔交易最多使用一张券")
    groups: dict[str, list[Right]] = {}
    for right in rights:
        if right.stack_group:
            groups.setdefault(right.stack_group, []).append(right)
    for members in groups.values():
        if len(members) > 1 and any(r.exclusive for r in members):
            raise RightNotApplicable("同一叠加组的权益不能同时使用")


def record(*, place, member, sale_request_no: str, amount_fen: int, uses: tuple[RightUse, ...]) -> list[dict]:
    """Record the uses of one earn, inside the earn's transaction (points.till.earn). A second
    recording of the same sale (a retry that raced its first and lost) records nothing: the
    ledger has already answered it as a replay."""
    if redemption.sale_uses(merchant=place.merchant, sale_request_no=sale_request_no):
        return []
    resolved = sale_uses(merchant=place.merchant, member=member, uses=uses)
    return redemption.record_sale_uses(merchant=place.merchant, store=place.store, terminal=place.terminal,
                                       member=member, sale_request_no=sale_request_no, sale_fen=amount_fen,
                                       uses=resolved, now=place.received_at)

