"""Rights at the till under concurrency, real threads on real PostgreSQL: one voucher raced by
50 earns at 5 tills is used once; a reverse racing its own earn-with-voucher ends coherent."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from hub.demo import seed
from hub.errors import DomainError
from hub.gateway.canonical import RightUse
from hub.models import Merchant, Store, Terminal
from members.credentials import MemberName
from members.selectors import find_member
from points import till
from points.models import Operation
from points.till import Place
from rights import till as rights_till
from rights import vouchers
from rights.checks import check_rights
from rights.models import Redemption, Right, RightsFunding, Voucher
from tests.rights.conftest import TIERS, tier
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)
GOLD = "13800000003"


def _shop():
    for code in TIERS:  # a transactional test before this one flushed the migrations' tiers
        tier(code)
    seed()
    merchant = Merchant.objects.get(code="SBX_HUB")
    store = Store.objects.filter(merchant=merchant).first()
    tills = [Terminal.objects.get_or_create(store=store, code=f"RC{n}")[0] for n in range(5)]
    return merchant, store, tills


def test_fifty_earns_with_one_voucher_at_five_tills_use_it_once():
    merchant, store, tills = _shop()
    member = find_member(mobile=GOLD)
    voucher = vouchers.claim(member=member, right=Right.objects.get(code="SBX_M50_10"), request_no="RACE-1")
    ref = rights_till.voucher_ref(voucher=voucher, merchant=merchant)
    earns_before = Operation.objects.filter(kind="earn").count()

    def sale(i):
        place = Place(merchant=merchant, store=store, terminal=tills[i % 5])
        return till.earn(place=place, member=MemberName.parse(GOLD), request_no=f"RACE-S{i}", amount_fen=9000,
                         rights_used=(RightUse(ref, 1000),))

    results = race(50, sale)
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(losses) == 49, [r for r in losses if not isinstance(r, DomainError)]
    assert {e.code for e in losses} == {"VOUCHER_USED"}
    # all or nothing: the 49 refused sales wrote no points either
    assert Operation.objects.filter(kind="earn").count() == earns_before + 1
    assert Voucher.objects.get(pk=voucher.pk).state == "used"
    assert Redemption.objects.filter(voucher=voucher, status="success").count() == 1
    assert RightsFunding.objects.filter(redemption__voucher=voucher).aggregate(s=Sum("amount_fen"))["s"] == 1000
    assert check_rights() == {}


@pytest.mark.parametrize("round_", range(4))
def test_a_reverse_racing_its_earn_with_a_voucher_is_coherent(round_):
    merchant, store, tills = _shop()
    member = find_member(mobile=GOLD)
    voucher = vouchers.claim(member=member, right=Right.objects.get(code="SBX_M50_10"), request_no=f"RR-{round_}")
    ref = rights_till.voucher_ref(voucher=voucher, merchant=merchant)
    place = Place(merchant=merchant, store=store, terminal=tills[0])
    number = f"RR-S{round_}"

    def step(i):
        if i == 0:
            return till.earn(place=place, member=MemberName.parse(GOLD), request_no=number, amount_fen=9000,
                             rights_used=(RightUse(ref, 1000),))
        return till.reverse(place=place, request_no=number)

    results = race(2, step)
    earned, reversed_ = results
    assert not isinstance(reversed_, Exception), reversed_
    op = Operation.objects.get(merchant=merchant, request_no=number)
    state = Voucher.objects.get(pk=voucher.pk).state
    funding = RightsFunding.objects.filter(redemption__voucher=voucher).aggregate(s=Sum("amount_fen"))["s"] or 0
    if isinstance(earned, Exception):  # the reverse came first: a tombstone, the earn refused, nothing used
        assert earned.code == "ORDER_REVERSED" and op.kind == "tombstone"
        assert not Redemption.objects.filter(voucher=voucher).exists()
    else:  # the earn came first: it was undone whole, the voucher is available again
        assert op.reversed_at is not None
        assert Redemption.objects.get(voucher=voucher).status == "reversed"
    assert state == "available" and funding == 0
    assert check_rights() == {}
