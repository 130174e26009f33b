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

from datetime import datetime

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


def rights_for(*, merchant, store, member, now: datetime, shown: Voucher | None = None) -> list[dict]:
    """The canonical ``rights`` items of identify: the shown voucher first, then the member's
    other vouchers usable here (soonest expiry first), then the tier discounts.

    The merchant's active till rights come in one statement with their providers, stores and
    tiers (``Right.with_relation_ids``), so that checking each costs no further query; the
    member's vouchers in a second, only when one of those rights is a voucher."""
    items = []
    catalogue = {right.pk: right for right in Right.with_relation_ids(
        Right.objects.filter(providers=merchant, status=Right.Status.ACTIVE, kind__in=TILL_KINDS)).order_by("code")}
    if shown is None and not catalogue:
        return items  # a merchant without rights at its tills: one query
    if shown is not None:
        items.append(_item(shown.right, code=voucher_ref(voucher=shown, merchant=merchant), voucher=True))
    voucher_rights = [pk for pk, right in catalogue.items() if right.is_voucher]
    held = (vouchers.usable_vouchers(member=member, now=now).filter(right_id__in=voucher_rights)
            .exclude(pk=getattr(shown, "pk", None))[:MAX_ITEMS]) if voucher_rights else []
    checked: dict[int, bool] = {}
    for voucher in held:
        right = catalogue[voucher.right_id]
        if right.pk not in checked:
            checked[right.pk] = _usable_here(right, merchant=merchant, store=store, member=member, now=now)
        if checked[right.pk]:
            items.append(_item(right, code=voucher_ref(voucher=voucher, merchant=merchant), voucher=True))
    discounts = [right for right in catalogue.values() if right.kind == Right.Kind.TIER_DISCOUNT]
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

