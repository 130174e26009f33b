"""Rights at the till (contract v1.1): what identify offers, and the checks of what earn reports.

- ``voucher_ref`` / ``voucher_of_ref``: the opaque voucher reference a till sees, scoped to the
  merchant as the member id is: one AES block (the voucher id, the merchant id and a fixed tag)
  under a key derived from ``SECRET_KEY``, so it says nothing of the voucher's id, another
  merchant's reference does not open here (``VOUCHER_NOT_FOUND``), and it needs no table. It is
  valid as long as the voucher is (its use is refused ``VOUCHER_EXPIRED`` after that).
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

import base64
import binascii
import hashlib
import re
import struct
from datetime import datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

from hub.errors import DomainError, ParamError, RightNotApplicable, VoucherNotFound
from hub.gateway.canonical import RightUse
from members.models import Member
from rights import redemption, vouchers
from rights.models import DisplayCode, Right, Voucher
from rights.states import State

REF_PREFIX = "VR"
REF_RE = re.compile(r"^VR[A-Z2-7]{26}$")
_TAG = 0x9711A5C3
TILL_KINDS = (Right.Kind.TIER_DISCOUNT, Right.Kind.AMOUNT_OFF, Right.Kind.PERCENT_OFF, Right.Kind.GIFT)
MAX_ITEMS = 20  # rights items identify returns at most


def _cipher() -> Cipher:
    key = hashlib.sha256(f"voucher-ref:{settings.SECRET_KEY}".encode()).digest()
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - one block, a keyed permutation, no pattern to leak


def voucher_ref(*, voucher, merchant) -> str:
    """The opaque reference of ``voucher`` at ``merchant`` (28 characters, ``VR…``)."""
    block = struct.pack(">QII", voucher.pk, merchant.pk, _TAG)
    encryptor = _cipher().encryptor()
    sealed = encryptor.update(block) + encryptor.finalize()
    return REF_PREFIX + base64.b32encode(sealed).decode("ascii").rstrip("=")


def voucher_of_ref(ref: str, *, merchant) -> Voucher:
    """The voucher a reference of this merchant names, or ``VOUCHER_NOT_FOUND``."""
    if not isinstance(ref, str) or not REF_RE.match(ref):
        raise VoucherNotFound()
    try:
        sealed = base64.b32decode(ref[len(REF_PREFIX):] + "======")
    except (binascii.Error, ValueError):
        raise VoucherNotFound() from None
    decryptor = _cipher().decryptor()
    voucher_id, merchant_id, tag = struct.unpack(">QII", decryptor.update(sealed) + decryptor.finalize())
    if tag != _TAG or merchant_id != merchant.pk:
        raise VoucherNotFound()  # another merchant's reference, or not one at all
    voucher = Voucher.objects.filter(pk=voucher_id).select_related("right").first()
    if voucher is None:
        raise VoucherNotFound()
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
    other vouchers usable here (soonest expiry first), then the tier discounts."""
    items = []
    if shown is not None:
        items.append(_item(shown.right, code=voucher_ref(voucher=shown, merchant=merchant), voucher=True))
    held = (vouchers.usable_vouchers(member=member, now=now).filter(right__providers=merchant,
                                                                     right__kind__in=TILL_KINDS)
            .exclude(pk=getattr(shown, "pk", None))[:MAX_ITEMS])
    checked: dict[int, bool] = {}
    for voucher in held:
        if voucher.right_id not in checked:
            checked[voucher.right_id] = _usable_here(voucher.right, merchant=merchant, store=store, member=member,
                                                     now=now)
        if checked[voucher.right_id]:
            items.append(_item(voucher.right, code=voucher_ref(voucher=voucher, merchant=merchant), voucher=True))
    discounts = Right.objects.filter(kind=Right.Kind.TIER_DISCOUNT, status=Right.Status.ACTIVE,
                                     providers=merchant).order_by("code")
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

