"""Contract v1.1 in each dialect, end to end over HTTP: identify with a voucher display code →
the voucher and the tier discount in that dialect's v1.1 fields → earn with rights_used → a
partial refund → a second sale reversed; and the refusals (used, expired, not applicable, quota,
a discount above what the right allows, another merchant's reference) in the dialect's envelope
with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.gateway import registry
from hub.models import Merchant
from points import selectors
from points.models import Operation, Program
from rights import till as rights_till
from rights.models import Redemption, RightsFunding, Voucher
from rights.redemption import sale_uses
from tests.hub.gateway import v11
from tests.hub.gateway.conftest import unique

VENDORS = sorted(registry.adapters())


def available(mobile: str) -> int:
    return selectors.balances(v11.member(mobile), Program.objects.get(code="POSTAL"))["available"]


def identified(till, mobile: str = v11.GOLD) -> str:
    """The member ref a till gets from identify (by mobile: the sandbox agreements allow it)."""
    read = till.send("identify", member=mobile)
    assert read.ok, read
    return read.data[till.member_field]


def refused(read, code: str) -> None:
    assert not read.ok and read.code.endswith(code), (code, read)


@pytest.mark.parametrize("vendor", VENDORS)
def test_v11_flow(sandbox, vendor):
    till = sandbox[vendor]
    merchant = v11.sandbox_merchant(till)
    voucher = v11.fresh_voucher()
    start = available(v11.GOLD)

    # identify with the display code: the member, that voucher first, the 95 折 after it
    seen = till.send("identify", member=v11.display_code(voucher))
    assert seen.ok, seen
    member_ref = seen.data[till.member_field]
    assert member_ref.startswith("M") and v11.GOLD not in str(seen.data)
    items = v11.rights_of(vendor, seen.data)
    voucher_ref = v11.item_code(vendor, items[0])
    assert voucher_ref == rights_till.voucher_ref(voucher=voucher, merchant=merchant)
    assert items[0] == v11.expected_item(vendor, {"code": voucher_ref, "name": "满 50 减 10 券", "discount_fen": 1000,
                                                  "threshold_fen": 5000, "voucher": True})
    tier_item = v11.expected_item(vendor, {"code": "SBX_R95", "name": "会员九五折（金卡及以上）", "discount_bp": 9500,
                                           "voucher": False})
    assert tier_item in items[1:]
    assert not any(value is None for item in items for value in item.values())  # omitted, never null
    other_refs = {v11.item_code(vendor, i) for i in items[1:]}
    assert voucher_ref not in other_refs

    # a sale of 100.00 gross: 10.00 off by the voucher, 5.00 (⌈10000 × 5%⌉) by the 95 折
    sale = unique("V")
    when = timezone.now().replace(microsecond=0)  # a retry is the same sale: the same business time
    earned = till.send("earn", request_no=sale, member=member_ref, amount_fen=8500, business_time=when,
                       rights_used=v11.uses((voucher_ref, 1000), ("SBX_R95", 500)))
    assert earned.ok, earned
    gained = available(v11.GOLD) - start
    assert gained > 0
    assert Voucher.objects.get(pk=voucher.pk).state == "used"
    rows = sale_uses(merchant=merchant, sale_request_no=sale)
    assert [(r.right.code, r.status, r.discount_fen, r.settlement_fen, r.sale_fen) for r in rows] == [
        ("SBX_M50_10", "success", 1000, 1000, 8500), ("SBX_R95", "success", 500, 500, 8500)]
    assert v11.funding_of(sale, till) == [1000, 500]

    # a retry answers the same; the same number with other rights is refused, writing nothing
    again = till.send("earn", request_no=sale, member=member_ref, amount_fen=8500, business_time=when,
                      rights_used=v11.uses((voucher_ref, 1000), ("SBX_R95", 500)))
    assert again.ok and again.data == earned.data, again
    before = v11.snapshot()
    other = till.send("earn", request_no=sale, member=member_ref, amount_fen=8500, business_time=when,
                      rights_used=v11.uses((voucher_ref, 1000)))
    refused(other, "IDEMPOTENCY_KEY_REUSED")
    assert v11.snapshot() == before

    # half refunded: each use's funding down by half, the voucher stays used
    back = till.send("refund", request_no=unique("T"), original_request_no=sale, amount_fen=4250)
    assert back.ok, back
    assert v11.funding_of(sale, till) == [1000, 500, -500, -250]
    assert Voucher.objects.get(pk=voucher.pk).state == "used"

    # a second sale with a new voucher (named by the member ref now), then reversed
    second = v11.fresh_voucher()
    listed = till.send("identify", member=member_ref)
    assert listed.ok, listed
    second_ref = rights_till.voucher_ref(voucher=second, merchant=merchant)
    assert second_ref in {v11.item_code(vendor, i) for i in v11.rights_of(vendor, listed.data)}
    assert voucher_ref not in {v11.item_code(vendor, i) for i in v11.rights_of(vendor, listed.data)}
    before_points = available(v11.GOLD)
    sale2 = unique("W")
    assert till.send("earn", request_no=sale2, member=member_ref, amount_fen=6000,
                     rights_used=v11.uses((second_ref, 1000))).ok
    assert Voucher.objects.get(pk=second.pk).state == "used"
    undone = till.send("reverse", original_request_no=sale2)
    assert undone.ok, undone
    assert Voucher.objects.get(pk=second.pk).state == "available"
    assert available(v11.GOLD) == before_points
    assert v11.funding_of(sale2, till) == [1000, -1000]
    assert Redemption.objects.get(merchant=merchant, request_no=rows[0].request_no).status == "success"


@pytest.mark.parametrize("vendor", VENDORS)
def test_v11_refusals_write_nothing(sandbox, vendor):
    till = sandbox[vendor]
    merchant = v11.sandbox_merchant(till)
    member_ref = identified(till)

    def attempt(code, *pairs, amount=8500, ref=member_ref):
        before = v11.snapshot()
        read = till.send("earn", request_no=unique("X"), member=ref, amount_fen=amount, rights_used=v11.uses(*pairs))
        refused(read, code)
        assert v11.snapshot() == before, code  # neither points nor uses nor funding nor quotas
        return read

    # used: written off by an earlier sale
    used = v11.fresh_voucher()
    used_ref = v11.ref(used, till)
    assert till.send("earn", request_no=unique("U"), member=member_ref, amount_fen=9000,
                     rights_used=v11.uses((used_ref, 1000))).ok
    attempt("VOUCHER_USED", (used_ref, 1000))
    # expired: claimed 40 days ago, valid 30 days
    old = v11.fresh_voucher(now=timezone.now() - timedelta(days=40))
    attempt("VOUCHER_EXPIRED", (v11.ref(old, till), 1000))
    # not applicable: below the threshold (gross 40.00 < 50.00); a tier the 95 折 is not for;
    # a discount above what the right allows (⌈10000 × 5%⌉ = 500, not 501); two exclusive vouchers
    fresh = v11.fresh_voucher()
    attempt("RIGHT_NOT_APPLICABLE", (v11.ref(fresh, till), 1000), amount=3000)
    attempt("RIGHT_NOT_APPLICABLE", ("SBX_R95", 501), amount=9499)
    attempt("RIGHT_NOT_APPLICABLE", (v11.ref(fresh, till), 1001), amount=8999)
    attempt("RIGHT_NOT_APPLICABLE", (v11.ref(fresh, till), 1000), (v11.ref(v11.fresh_voucher(), till), 1000),
            amount=8000)
    standard = till.send("identify", member=v11.STANDARD).data[till.member_field]
    attempt("RIGHT_NOT_APPLICABLE", ("SBX_R95", 500), amount=9500, ref=standard)
    # another member's voucher, another merchant's reference, an unknown code
    attempt("VOUCHER_NOT_FOUND", (v11.ref(v11.fresh_voucher(v11.STANDARD), till), 1000))
    elsewhere = Merchant.objects.exclude(pk=merchant.pk).exclude(code="CPJX").first()
    attempt("VOUCHER_NOT_FOUND", (rights_till.voucher_ref(voucher=fresh, merchant=elsewhere), 1000))
    attempt("VOUCHER_NOT_FOUND", ("NO_SUCH_RIGHT", 100))
    # quota: a tier discount whose budget (1.00) is below this use's funding (5.00)
    tight = v11.make_right(till, budget_fen=100, rate_bp=9500)
    attempt("QUOTA_EXHAUSTED", (tight.code, 500), amount=9500)
    # the failed attempts left the fresh voucher usable
    assert Voucher.objects.get(pk=fresh.pk).state == "available"
    assert till.send("earn", request_no=unique("OK"), member=member_ref, amount_fen=9000,
                     rights_used=v11.uses((v11.ref(fresh, till), 1000))).ok
    assert Voucher.objects.get(pk=fresh.pk).state == "used"


@pytest.mark.parametrize("vendor", VENDORS)
def test_identify_refusals_of_display_codes(sandbox, vendor):
    till = sandbox[vendor]
    voucher = v11.fresh_voucher()
    code = v11.display_code(voucher)
    assert till.send("identify", member=code).ok
    refused(till.send("identify", member=code), "VOUCHER_EXPIRED")  # single use
    refused(till.send("identify", member="970000000000000000"), "VOUCHER_NOT_FOUND")
    # a display code of a voucher used meanwhile: refused, and the code stays unused
    other = v11.fresh_voucher()
    shown = v11.display_code(other)
    assert till.send("earn", request_no=unique("U"), member=identified(till), amount_fen=9000,
                     rights_used=v11.uses((v11.ref(other, till), 1000))).ok
    refused(till.send("identify", member=shown), "VOUCHER_USED")


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_v1_till_is_served_as_before(sandbox, vendor):
    """No v1.1 field sent: the earn is the v1 earn (its fingerprint too), no use is recorded."""
    till = sandbox[vendor]
    sale = unique("S")
    before = (Redemption.objects.count(), RightsFunding.objects.count())
    earned = till.send("earn", request_no=sale, member=v11.GOLD, amount_fen=12850)
    assert earned.ok, earned
    assert (Redemption.objects.count(), RightsFunding.objects.count()) == before
    assert Operation.objects.get(request_no=sale).kind == "earn"
    assert till.send("refund", request_no=unique("T"), original_request_no=sale, amount_fen=100).ok
    assert (Redemption.objects.count(), RightsFunding.objects.count()) == before
