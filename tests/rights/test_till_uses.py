"""Rights at the till through the one home of till operations (points.till): the uses of an
earn, their refunds and reverses, stacking, the voucher reference, expiry at the edge."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db.models import Sum
from django.utils import timezone

from hub.demo import seed
from hub.errors import DomainError
from hub.gateway.canonical import RightUse
from hub.models import Merchant, Store, Terminal
from members.credentials import MemberName
from members.selectors import find_member
from points import till
from points.till import Place
from rights import catalogue, vouchers
from rights import till as rights_till
from rights.checks import check_rights
from rights.models import Right, RightsFunding, Voucher
from rights.redemption import sale_has_uses, sale_uses
from rights.validity import TZ

GOLD = "13800000003"


@pytest.fixture
def shop(db):
    seed()
    merchant = Merchant.objects.get(code="SBX_HUB")
    store = Store.objects.filter(merchant=merchant).first()
    return Place(merchant=merchant, store=store, terminal=Terminal.objects.filter(store=store).first())


def member():
    return find_member(mobile=GOLD)


def right(place: Place, n: list = [0], **terms) -> Right:  # noqa: B006 - a counter
    from django.contrib.auth import get_user_model

    n[0] += 1
    users = get_user_model().objects
    maker = users.create_user(username=f"tu-maker{n[0]}", password="x")
    checker = users.create_user(username=f"tu-checker{n[0]}", password="x")
    fields = {"code": f"TU{n[0]}", "name": f"券{n[0]}", "kind": Right.Kind.AMOUNT_OFF, "off_fen": 1000,
              "settlement_fen": 800, "valid_days": 30, **terms}
    made = catalogue.create_right(funder=Merchant.objects.get(code="CPJX"), providers=[place.merchant], tiers=[],
                                  actor=maker, **fields)
    catalogue.submit_for_review(right=made, actor=maker)
    return catalogue.approve_right(right=made, actor=checker)


def claim(r: Right, *, now=None, n: list = [0]) -> Voucher:  # noqa: B006 - a counter
    n[0] += 1
    return vouchers.claim(member=member(), right=r, request_no=f"TUC{n[0]}", now=now)


def ref(v: Voucher, place: Place) -> str:
    return rights_till.voucher_ref(voucher=v, merchant=place.merchant)


def now(place: Place, at: datetime | None = None) -> Place:
    """The place as of a call received now (or at ``at``)."""
    return Place(merchant=place.merchant, store=place.store, terminal=place.terminal,
                 received_at=at or timezone.now())


def earn(place: Place, sale: str, amount: int, *uses, at: datetime | None = None):
    place = now(place, at)
    return till.earn(place=place, member=MemberName.parse(GOLD), request_no=sale, amount_fen=amount,
                     rights_used=tuple(RightUse(c, d) for c, d in uses))


def test_full_refund_gives_the_voucher_back_when_the_right_says_so(shop):
    back, kept = right(shop, return_on_refund=True), right(shop, return_on_refund=False, exclusive=False)
    v1, v2 = claim(back), claim(kept)
    earn(shop, "FR1", 9000, (ref(v1, shop), 1000))
    earn(shop, "FR2", 9000, (ref(v2, shop), 1000))
    till.refund(place=now(shop), refund_no="FR1-R", original_request_no="FR1", amount_fen=9000)
    till.refund(place=now(shop), refund_no="FR2-R", original_request_no="FR2", amount_fen=9000)
    assert Voucher.objects.get(pk=v1.pk).state == "available"
    assert Voucher.objects.get(pk=v2.pk).state == "used"
    total = RightsFunding.objects.filter(right__in=[back, kept]).aggregate(s=Sum("amount_fen"))["s"]
    assert total == 0
    assert check_rights() == {}


def test_partial_refunds_add_back_exactly_to_the_whole(shop):
    r = right(shop, settlement_fen=1001)
    v = claim(r)
    earn(shop, "PR1", 9000, (ref(v, shop), 1000))
    for n, part in enumerate((3000, 3000, 3000)):
        till.refund(place=now(shop), refund_no=f"PR1-R{n}", original_request_no="PR1", amount_fen=part)
    amounts = list(RightsFunding.objects.filter(right=r).order_by("id").values_list("amount_fen", flat=True))
    assert amounts[0] == 1001 and sum(amounts) == 0 and len(amounts) == 4


def test_tier_discount_funding_is_the_funded_share_of_the_discount(shop):
    share = right(shop, kind=Right.Kind.TIER_DISCOUNT, off_fen=None, settlement_fen=None, valid_days=None,
                  rate_bp=9000, funded_share_bp=6000)
    earn(shop, "TD1", 8999, (share.code, 1000))  # gross 9999: at most ⌈999.9⌉ = 1000
    assert list(RightsFunding.objects.filter(right=share).values_list("amount_fen", flat=True)) == [600]
    with pytest.raises(DomainError) as refused:
        earn(shop, "TD2", 8999, (share.code, 1001))
    assert refused.value.code == "RIGHT_NOT_APPLICABLE"
    earn(shop, "TD3", 9500, (share.code, 500))  # a tier discount is used by many sales (no voucher)
    till.refund(place=now(shop), refund_no="TD3-R", original_request_no="TD3", amount_fen=4750)
    till.reverse(place=now(shop), request_no="TD1")
    assert list(RightsFunding.objects.filter(right=share).order_by("id").values_list("amount_fen", flat=True)) == [
        600, 300, -150, -600]
    assert check_rights() == {}


def test_stacking(shop):
    free_a = right(shop, exclusive=False)
    free_b = right(shop, exclusive=False)
    grouped_a = right(shop, exclusive=True, stack_group="g1")
    grouped_b = right(shop, exclusive=False, stack_group="g1", kind=Right.Kind.TIER_DISCOUNT, off_fen=None,
                      settlement_fen=None, valid_days=None, rate_bp=9500, funded_share_bp=10000)
    # two non-exclusive vouchers stack
    earn(shop, "ST1", 8000, (ref(claim(free_a), shop), 1000), (ref(claim(free_b), shop), 1000))
    assert len(sale_uses(merchant=shop.merchant, sale_request_no="ST1")) == 2
    assert sale_has_uses(merchant=shop.merchant, sale_request_no="ST1")
    assert not sale_has_uses(merchant=shop.merchant, sale_request_no="ST0")  # no such sale
    # an exclusive voucher with another voucher: refused; with a right of its exclusive group: refused
    for uses in (((ref(claim(grouped_a), shop), 1000), (ref(claim(free_a), shop), 1000)),
                 ((ref(claim(grouped_a), shop), 1000), (grouped_b.code, 500))):
        before = Voucher.objects.filter(state="used").count()
        with pytest.raises(DomainError) as refused:
            earn(shop, f"ST-{uses[1][0][:6]}", 8500, *uses)
        assert refused.value.code == "RIGHT_NOT_APPLICABLE"
        assert Voucher.objects.filter(state="used").count() == before


def test_the_voucher_reference_is_opaque_and_scoped_to_the_merchant(shop):
    v = claim(right(shop))
    mine = ref(v, shop)
    assert rights_till.REF_RE.match(mine) and str(v.pk) not in mine[2:]
    assert rights_till.voucher_of_ref(mine, merchant=shop.merchant).pk == v.pk
    other = Merchant.objects.get(code="SBX_KM")
    assert rights_till.voucher_ref(voucher=v, merchant=other) != mine
    for bad in (mine[:-1] + ("A" if mine[-1] != "A" else "B"), "VR" + "A" * 26, mine.lower(), "", mine + "A"):
        with pytest.raises(DomainError) as refused:
            rights_till.voucher_of_ref(bad, merchant=shop.merchant)
        assert refused.value.code == "VOUCHER_NOT_FOUND"
    with pytest.raises(DomainError) as refused:
        rights_till.voucher_of_ref(mine, merchant=other)
    assert refused.value.code == "VOUCHER_NOT_FOUND"


def _expiry_voucher(shop):
    r = right(shop, valid_days=30)
    v = claim(r, now=datetime(2026, 11, 1, 10, 0, tzinfo=TZ))  # day 1 = 1 Nov: valid until 30 Nov
    assert v.expires_at == datetime(2026, 12, 1, tzinfo=TZ)
    return v


def test_expiry_edge_at_the_till(shop):
    last_second, midnight = datetime(2026, 11, 30, 23, 59, 59, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ)
    usable = _expiry_voucher(shop)
    earn(shop, "EX1", 9000, (ref(usable, shop), 1000), at=last_second)
    assert Voucher.objects.get(pk=usable.pk).state == "used"
    late = _expiry_voucher(shop)
    with pytest.raises(DomainError) as refused:
        earn(shop, "EX2", 9000, (ref(late, shop), 1000), at=midnight)
    assert refused.value.code == "VOUCHER_EXPIRED"
    assert Voucher.objects.get(pk=late.pk).state == "available"  # not tidied yet: refused all the same
    vouchers.tidy(now=midnight)
    with pytest.raises(DomainError) as refused:
        earn(shop, "EX3", 9000, (ref(late, shop), 1000), at=midnight)
    assert refused.value.code == "VOUCHER_EXPIRED"


def test_display_code_identify_then_earn_by_display_code_names_the_member(shop):
    v = claim(right(shop))
    code, _ = vouchers.issue_display_code(voucher=v)
    seen = till.identify(place=now(shop), member=MemberName.parse(code))
    assert seen["rights"][0]["code"] == ref(v, shop) and seen["rights"][0]["voucher"] is True
    assert seen["mobile_masked"] == "138****0003"
    # the same code again is used up; a fresh one names the member on earn too (a strong naming)
    with pytest.raises(DomainError) as refused:
        till.identify(place=now(shop), member=MemberName.parse(code))
    assert refused.value.code == "VOUCHER_EXPIRED"
    other = claim(right(shop))
    fresh, _ = vouchers.issue_display_code(voucher=other)
    answer = till.earn(place=now(shop), member=MemberName.parse(fresh), request_no="DC1", amount_fen=9000,
                       rights_used=(RightUse(ref(other, shop), 1000),))
    assert answer["points_earned"] > 0
    assert Voucher.objects.get(pk=other.pk).state == "used"
    # a retry with the used display code answers the first answer
    again = till.earn(place=now(shop), member=MemberName.parse(fresh), request_no="DC1", amount_fen=9000,
                      rights_used=(RightUse(ref(other, shop), 1000),))
    assert again == answer


def test_identify_reads_the_rights_in_one_statement_and_each_right_is_still_checked(
        shop, django_assert_num_queries, monkeypatch):
    # Vouchers of three rights, one of them restricted to another store, and two tier discounts,
    # one for another store only: the restricted ones are not offered here, and however many
    # rights there are, reading them (the catalogue with the member's vouchers) is one statement.
    elsewhere = Store.objects.create(merchant=shop.merchant, code="TU-ELSEWHERE", name="别处门店")
    rights = [right(shop, exclusive=False) for _ in range(3)]
    rights[2].stores.add(elsewhere)
    held = [claim(r) for r in rights]
    here = right(shop, kind=Right.Kind.TIER_DISCOUNT, off_fen=None, settlement_fen=None, valid_days=None, rate_bp=9500)
    there = right(shop, kind=Right.Kind.TIER_DISCOUNT, off_fen=None, settlement_fen=None, valid_days=None, rate_bp=9000)
    there.stores.add(elsewhere)
    gold, at = member(), timezone.now()
    prepared = []
    real = rights_till.fetch_prepared
    monkeypatch.setattr(rights_till, "fetch_prepared", lambda sql, params: prepared.append(sql) or real(sql, params))
    with django_assert_num_queries(0):  # nothing through the ORM: the one statement is prepared (hub.db)
        items = rights_till.rights_for(merchant=shop.merchant, store=shop.store, member=gold, now=at)
    assert len(prepared) == 1
    codes = {item["code"] for item in items}
    assert {ref(held[0], shop), ref(held[1], shop), here.code} <= codes
    assert ref(held[2], shop) not in codes and there.code not in codes
    # The same decisions as checking each right on its own (with its queries).
    for r, code in ((rights[0], ref(held[0], shop)), (rights[2], ref(held[2], shop)), (here, here.code),
                    (there, there.code)):
        assert rights_till._usable_here(Right.objects.get(pk=r.pk), merchant=shop.merchant, store=shop.store,
                                        member=gold, now=at) == (code in codes)
