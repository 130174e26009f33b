"""Storms on real PostgreSQL with real threads (each thread has its own connection): quotas end
exactly at their limits, a voucher is used once, a reverse racing its write-off is coherent."""

from __future__ import annotations

import threading

import pytest
from django.utils import timezone

from hub.errors import DomainError
from hub.models import Store, Terminal
from points import services as points_services
from points.checks import check_ledger
from points.ledger import AVAILABLE, member_account, spendable
from points.models import ClearingItem, Operation, Program
from rights import redemption, vouchers
from rights.checks import check_rights
from rights.models import ClaimRequest, QuotaCounter, Redemption, Right, RightsFunding, Voucher
from tests.rights.conftest import build_world
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)


def storm(n: int, fn, *, threads: int = 48) -> list:
    """n calls of fn(i) by ``threads`` threads started together (the server allows about 100
    connections), each taking the next call as soon as its previous one returns."""
    results: list = [None] * n
    counter = iter(range(n))
    lock = threading.Lock()

    def next_index():
        with lock:
            return next(counter, None)

    def worker(_):
        while (i := next_index()) is not None:
            try:
                results[i] = fn(i)
            except Exception as exc:  # noqa: BLE001 - collected for the assertions
                results[i] = exc
        return None

    race(threads, worker)
    return results


def _split(results):
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, DomainError) for e in losses), [e for e in losses if not isinstance(e, DomainError)]
    return wins, losses


def test_total_one_and_32_concurrent_claims_give_exactly_one():
    world = build_world()
    right = world.right(total_limit=1)
    members = [world.member() for _ in range(32)]
    wins, losses = _split(race(32, lambda i: vouchers.claim(member=members[i], right=right, request_no=f"C{i}")))
    assert len(wins) == 1 and len(losses) == 31
    assert {e.code for e in losses} == {"QUOTA_EXHAUSTED"}
    assert Voucher.objects.filter(right=right).count() == 1
    assert QuotaCounter.objects.get(right=right, scope="total").used == 1
    assert check_rights() == {}


def test_200_members_claiming_a_right_with_10_left_get_exactly_10():
    world = build_world()
    right = world.right(total_limit=10)
    members = [world.member() for _ in range(200)]
    wins, losses = _split(storm(200, lambda i: vouchers.claim(member=members[i], right=right, request_no="MP1")))
    assert len(wins) == 10 and {e.code for e in losses} == {"QUOTA_EXHAUSTED"}
    assert Voucher.objects.filter(right=right).count() == 10
    assert ClaimRequest.objects.filter(right=right, status="refused").count() == 190
    assert check_rights() == {}


def test_200_members_claiming_a_points_right_with_10_left_get_10_vouchers_and_exactly_10_debits():
    world = build_world()
    program = Program.objects.create(issuer=world.issuer, code=f"PS{world.issuer.pk}", name="邮政金融积分",
                                     value_fen=100, value_points=100)
    right = world.right(total_limit=10, claim_mode=Right.ClaimMode.POINTS, claim_program=program, claim_points=300)
    members = [world.member() for _ in range(200)]
    for m in members:
        points_services.grant(program=program, member=m, points=1000, request_no=f"G{m.pk}")
    wins, losses = _split(storm(200, lambda i: vouchers.claim(member=members[i], right=right, request_no="MP1")))
    assert len(wins) == 10 and {e.code for e in losses} == {"QUOTA_EXHAUSTED"}
    assert Voucher.objects.filter(right=right, source="points").count() == 10
    assert Operation.objects.filter(kind="right_claim", status="success").count() == 10
    assert not Operation.objects.filter(kind="right_claim").exclude(status="success").exists()
    winners = {v.member_id for v in wins}
    now = timezone.now()
    balances = {m.pk: spendable(member_account(AVAILABLE, program.pk, m.pk), now) for m in members}
    assert sorted(balances[pk] for pk in winners) == [700] * 10
    assert all(balances[m.pk] == 1000 for m in members if m.pk not in winners)  # losers lost no point
    assert QuotaCounter.objects.get(right=right, scope="total").used == 10
    assert check_rights() == {} and check_ledger() == {}


def test_one_member_storming_a_per_member_limit_gets_exactly_the_limit():
    world = build_world()
    right = world.right(member_limit=3, daily_limit=100)
    member = world.member()
    wins, losses = _split(race(24, lambda i: vouchers.claim(member=member, right=right, request_no=f"S{i}")))
    assert len(wins) == 3 and {e.code for e in losses} == {"QUOTA_EXHAUSTED"}
    assert Voucher.objects.filter(right=right, member=member).count() == 3
    assert QuotaCounter.objects.get(right=right, scope="day").used == 3


def test_the_same_claim_number_twenty_times_at_once_has_one_effect():
    world = build_world()
    right = world.right(total_limit=5)
    member = world.member()
    wins, losses = _split(race(20, lambda i: vouchers.claim(member=member, right=right, request_no="SAME")))
    assert not losses and len({v.pk for v in wins}) == 1
    assert QuotaCounter.objects.get(right=right, scope="total").used == 1


def test_fifty_write_offs_of_one_voucher_at_seven_places_exactly_one_wins():
    world = build_world()
    right = world.right(providers=[world.shop, world.other])
    voucher = vouchers.claim(member=world.member(), right=right, request_no="C1")
    gate_store = Store.objects.create(merchant=world.other, code="GATE", name="东门")
    places = [(world.shop, world.store, Terminal.objects.create(store=world.store, code=f"T{k}")) for k in range(5)]
    places += [(world.other, gate_store, Terminal.objects.create(store=gate_store, code=f"G{k}")) for k in range(2)]

    def use(i):
        merchant, store, terminal = places[i % len(places)]
        return redemption.redeem(merchant=merchant, store=store, terminal=terminal, request_no=f"W{i}",
                                 voucher=voucher, sale_fen=6000, discount_fen=1000)

    wins, losses = _split(race(50, use))
    assert len(wins) == 1 and len(losses) == 49
    assert {e.code for e in losses} == {"VOUCHER_USED"}
    assert Redemption.objects.filter(voucher=voucher, status="success").count() == 1
    assert Voucher.objects.get(pk=voucher.pk).state == "used"
    assert list(RightsFunding.objects.values_list("amount_fen", flat=True)) == [1000]
    assert check_rights() == {}


def test_a_budget_of_1000_fen_with_uses_of_300_from_10_tills_gives_exactly_3():
    world = build_world()
    right = world.right(settlement_fen=300, budget_fen=1000)
    held = [vouchers.claim(member=world.member(), right=right, request_no="C") for _ in range(10)]
    tills = [Terminal.objects.create(store=world.store, code=f"B{k}") for k in range(10)]
    wins, losses = _split(race(10, lambda i: redemption.redeem(
        merchant=world.shop, store=world.store, terminal=tills[i], request_no=f"B{i}", voucher=held[i],
        sale_fen=5000, discount_fen=1000)))
    assert len(wins) == 3 and {e.code for e in losses} == {"QUOTA_EXHAUSTED"}
    assert QuotaCounter.objects.get(right=right, scope="budget").used == 900
    assert sum(RightsFunding.objects.values_list("amount_fen", flat=True)) == 900
    assert sorted(ClearingItem.objects.filter(kind="rights_funding").values_list("payer_id", "payee_id", "amount_fen")) \
        == [(world.issuer.pk, world.shop.pk, 300)] * 3
    assert Voucher.objects.filter(right=right, state="used").count() == 3
    assert check_rights() == {}


@pytest.mark.parametrize("attempt", range(4))
def test_a_reverse_racing_its_own_write_off_is_coherent(attempt):
    world = build_world()
    right = world.right(budget_fen=100000)
    voucher = vouchers.claim(member=world.member(), right=right, request_no="C1")

    def go(i):
        if i == 0:
            return redemption.redeem(merchant=world.shop, store=world.store, terminal=world.till, request_no="RACE",
                                     voucher=voucher, sale_fen=5000, discount_fen=1000)
        return redemption.reverse(merchant=world.shop, request_no="RACE")

    original, rev = race(2, go)
    assert isinstance(rev, dict) and rev["status"] == "REVERSED", rev
    row = Redemption.objects.get(merchant=world.shop, request_no="RACE")
    assert row.status == "reversed"
    # whichever came first, the voucher is usable again and the funder owes nothing
    assert Voucher.objects.get(pk=voucher.pk).state == "available"
    assert sum(RightsFunding.objects.values_list("amount_fen", flat=True)) == 0
    assert sum(ClearingItem.objects.filter(kind="rights_funding").values_list("amount_fen", flat=True)) == 0
    assert QuotaCounter.objects.filter(right=right, scope="budget").values_list("used", flat=True).first() in (None, 0)
    if isinstance(original, Exception):
        assert original.code == "ORDER_REVERSED" and row.kind == "tombstone"
    else:
        assert original["status"] == "SUCCESS" and row.kind == "use"
    assert check_rights() == {}


def test_concurrent_budget_changes_one_wins():
    from rights import quotas

    world = build_world()
    right = world.right(budget_fen=1000)
    results = race(8, lambda i: quotas.change_limit(right=right, field="budget_fen", expected=1000, new=2000 + i,
                                                    request_no=f"Q{i}"))
    wins, losses = _split(results)
    assert len(wins) == 1 and len(losses) == 7
    assert Right.objects.get(pk=right.pk).budget_fen == wins[0].budget_fen
