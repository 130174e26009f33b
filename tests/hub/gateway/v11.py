"""Helpers for the contract v1.1 tests (rights at the till): the sandbox's rights, vouchers and
display codes, each dialect's rights fields read back into canonical terms, and a snapshot of
everything a refused request must leave untouched."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Sum

from hub.gateway.canonical import RightUse
from hub.models import Merchant
from members.selectors import find_member
from points.models import Operation, Posting
from rights import catalogue, vouchers
from rights import till as rights_till
from rights.models import QuotaCounter, Redemption, Right, RightsFunding, Voucher

GOLD = "13800000003"  # the demo member of tier 金卡
STANDARD = "13800000001"  # 普卡: the 95 折 does not apply
_seq = itertools.count(1)

# Each dialect's names for the identify rights item (rights.md "At the till: contract v1.1"):
# (list field, {canonical: dialect}, money "fen" | "yuan", rate "decimal" | "bp", JSON text?)
DIALECTS = {
    "zhibaiwei": ("Rights", {"code": "RightCode", "name": "Name", "discount_bp": "DiscountRate",
                             "discount_fen": "DisAmt", "threshold_fen": "MinAmt", "voucher": "IsVoucher"},
                  "yuan", "decimal", False),
    "kemai": ("rights", {"code": "code", "name": "name", "discount_bp": "discount_rate",
                         "discount_fen": "discount_amount", "threshold_fen": "threshold_amount", "voucher": "voucher"},
              "fen", "decimal", False),
    "sixun": ("rights", {"code": "code", "name": "name", "discount_bp": "discount_rate", "discount_fen": "discount_fee",
                         "threshold_fen": "threshold_fee", "voucher": "voucher"}, "fen", "decimal", True),
    "fangxiang": ("rights", {"code": "code", "name": "name", "discount_bp": "discount_rate",
                             "discount_fen": "discount_amount", "threshold_fen": "threshold_amount",
                             "voucher": "voucher"}, "yuan", "decimal", False),
    "native": ("rights", {k: k for k in ("code", "name", "discount_bp", "discount_fen", "threshold_fen", "voucher")},
               "fen", "bp", False),
}
# a dialect not in the table (the test-only toy) speaks the canonical names
CANONICAL = DIALECTS["native"]


def expected_item(vendor: str, canonical: dict) -> dict:
    """What the dialect must send for a canonical item, exactly (absent fields omitted)."""
    _, names, money, rate, _ = DIALECTS.get(vendor, CANONICAL)
    out = {}
    for key, value in canonical.items():
        if key == "discount_bp" and rate == "decimal":
            value = f"0.{value:04d}".rstrip("0")
        elif key in ("discount_fen", "threshold_fen") and money == "yuan":
            value = f"{value // 100}.{value % 100:02d}"
        out[names[key]] = value
    return out


def rights_of(vendor: str, data: dict) -> list[dict]:
    field, _, _, _, text = DIALECTS.get(vendor, CANONICAL)
    value = data[field]
    return json.loads(value) if text else value


def item_code(vendor: str, item: dict) -> str:
    return item[DIALECTS.get(vendor, CANONICAL)[1]["code"]]


def sandbox_merchant(till) -> Merchant:
    return Merchant.objects.get(code=till.merchant_code)


def member(mobile: str = GOLD):
    return find_member(mobile=mobile)


def m50() -> Right:
    return Right.objects.get(code="SBX_M50_10")


def r95() -> Right:
    return Right.objects.get(code="SBX_R95")


def fresh_voucher(mobile: str = GOLD, *, right: Right | None = None, now: datetime | None = None) -> Voucher:
    """A new voucher of the free 满 50 减 10 right (no per-member limit) for the member."""
    return vouchers.claim(member=member(mobile), right=right or m50(), request_no=f"T11-{next(_seq)}-{id(now)}",
                          now=now)


def display_code(voucher: Voucher) -> str:
    return vouchers.issue_display_code(voucher=voucher)[0]


def ref(voucher: Voucher, till) -> str:
    """The voucher reference identify gave this till's merchant."""
    return rights_till.voucher_ref(voucher=voucher, merchant=sandbox_merchant(till))


def uses(*pairs) -> tuple[RightUse, ...]:
    return tuple(RightUse(code, fen) for code, fen in pairs)


def make_right(till, **terms) -> Right:
    """An active right at this till's merchant (made and approved by two different people)."""
    users = get_user_model().objects
    n = next(_seq)
    maker = users.create_user(username=f"v11maker{n}", password="x")
    checker = users.create_user(username=f"v11checker{n}", password="x")
    fields = {"code": f"V11R{n}", "name": f"测试权益{n}", "kind": Right.Kind.TIER_DISCOUNT, "rate_bp": 9000,
              "funded_share_bp": 10000, **terms}
    right = catalogue.create_right(funder=Merchant.objects.get(code="CPJX"), providers=[sandbox_merchant(till)],
                                   tiers=[], actor=maker, **fields)
    catalogue.submit_for_review(right=right, actor=maker)
    return catalogue.approve_right(right=right, actor=checker)


def snapshot() -> dict:
    """Everything a refused earn must leave as it was."""
    return {
        "operations": Operation.objects.count(),
        "postings": Posting.objects.count(),
        "redemptions": Redemption.objects.count(),
        "funding": (RightsFunding.objects.count(), RightsFunding.objects.aggregate(s=Sum("amount_fen"))["s"]),
        "vouchers": sorted(Voucher.objects.values_list("pk", "state")),
        "quotas": sorted(QuotaCounter.objects.values_list("pk", "used")),
    }


def funding_of(sale_request_no: str, till) -> list[int]:
    """The funding amounts of a till sale's uses, in order of writing."""
    from rights.redemption import sale_uses

    rows = sale_uses(merchant=sandbox_merchant(till), sale_request_no=sale_request_no)
    return list(RightsFunding.objects.filter(redemption__in=rows + [c for r in rows for c in r.children.all()])
                .order_by("id").values_list("amount_fen", flat=True))
