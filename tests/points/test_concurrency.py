"""Races on real PostgreSQL with real threads (each thread has its own connection)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.errors import DomainError
from points import reversal, selectors, services, sweeps
from points.checks import check_ledger
from points.models import Operation
from tests.points.conftest import build_world, roll_up_finished_days
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_redemptions_against_ten_exactly_ten_win():
    world = build_world()
    m = world.member()
    world.earn(m, 10000)  # 100 points: covers ten redemptions of 10
    results = race(50, lambda i: world.redeem(m, 10, f"R{i}"))
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, DomainError)]
    assert len(wins) == 10 and len(losses) == 40
    assert {e.code for e in losses} == {"POINTS_INSUFFICIENT"}
    assert selectors.balances(m, world.postal)["available"] == 0
    assert Operation.objects.filter(kind="redeem", status="success").count() == 10
    assert check_ledger() == {}


def test_same_request_number_twenty_times_has_one_effect():
    world = build_world()
    m = world.member()
    results = race(20, lambda i: world.earn(m, 5000, "SAME"))
    assert all(isinstance(r, dict) for r in results), results
    assert {r["points_earned"] for r in results} == {50}
    assert selectors.balances(m, world.postal)["available"] == 50
    assert Operation.objects.filter(request_no="SAME").count() == 1
    assert check_ledger() == {}


@pytest.mark.parametrize("attempt", range(4))
def test_reverse_racing_its_original(attempt):
    world = build_world()
    m = world.member()
    world.earn(m, 10000)

    def go(i):
        if i == 0:
            return world.redeem(m, 40, "RACE")
        return reversal.reverse(merchant=world.shop, request_no="RACE")

    original, rev = race(2, go)
    assert isinstance(rev, dict) and rev["status"] == "REVERSED", rev
    op = Operation.objects.get(request_no="RACE")
    if isinstance(original, DomainError):  # the reverse came first: tombstone, original refused
        assert original.code == "ORDER_REVERSED" and op.kind == "tombstone" and rev["action"] == "tombstone"
    else:  # the original came first: applied, then reversed
        assert original["points"] == 40 and op.status == "reversed" and rev["action"] == "reverse"
    assert selectors.balances(m, world.postal)["available"] == 100
    assert check_ledger() == {}


@pytest.mark.parametrize("attempt", range(4))
def test_confirm_racing_the_expiry_sweep(attempt):
    world = build_world()
    m = world.member()
    world.earn(m, 10000)
    start = timezone.now()
    world.freeze(m, 60, "HOLD", now=start)
    at = start + timedelta(minutes=15)  # the very instant the hold expires

    def go(i):
        if i == 0:
            return services.confirm(merchant=world.shop, request_no="HOLD", now=at - timedelta(milliseconds=1))
        return sweeps.release_expired_holds(now=at)

    confirmed, released = race(2, go)
    op = Operation.objects.get(request_no="HOLD")
    held = selectors.balances(m, world.postal)
    if isinstance(confirmed, dict):
        assert op.status == "confirmed" and released == 0 and held == {"available": 40, "pending": 0, "frozen": 0}
    else:
        assert confirmed.code == "FREEZE_EXPIRED" and op.status == "released"
        assert held == {"available": 100, "pending": 0, "frozen": 0}
    assert check_ledger() == {}


def test_late_confirm_never_wins_even_unswept():
    world = build_world()
    m = world.member()
    world.earn(m, 10000)
    start = timezone.now()
    world.freeze(m, 60, "HOLD", now=start)
    late = start + timedelta(minutes=15, seconds=1)
    results = race(2, lambda i: services.confirm(merchant=world.shop, request_no="HOLD", now=late) if i == 0
                   else sweeps.release_expired_holds(now=late))
    assert isinstance(results[0], DomainError) and results[0].code == "FREEZE_EXPIRED"
    sweeps.release_expired_holds(now=late)  # the sweep skips a hold a till holds: next run takes it
    assert Operation.objects.get(request_no="HOLD").status == "released"
    assert check_ledger() == {}


def test_sweeps_concurrent_with_till_traffic():
    world = build_world()
    world.postal.expiry_policy = "days"
    world.postal.expiry_days = 1
    world.postal.save()
    members = [world.member() for _ in range(6)]
    past = timezone.now() - timedelta(days=2)
    for m in members:
        world.earn(m, 5000, now=past)  # expired lots
        world.earn(m, 5000)  # live lots

    def go(i):
        if i < 2:
            return sweeps.expire_lots(batch_size=2)
        m = members[i - 2]
        return world.redeem(m, 50, f"R{i}")

    results = race(8, go)
    assert sum(r for r in results[:2]) == 6, results
    assert all(isinstance(r, dict) for r in results[2:]), results
    for m in members[:6]:
        assert selectors.balances(m, world.postal)["available"] in (0, 50)
    roll_up_finished_days()  # the postings of two days ago are due in the rollups
    assert check_ledger() == {}


def test_concurrent_partial_refunds_never_exceed_the_original():
    world = build_world()
    m = world.member()
    world.earn(m, 100000)
    world.redeem(m, 500, "PAY")  # 5.00 yuan of points
    results = race(10, lambda i: world.refund("PAY", 100, f"T{i}"))
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 5, results
    assert {e.code for e in results if isinstance(e, DomainError)} == {"REFUND_EXCEEDS_ORIGINAL"}
    assert sum(w["points_returned"] for w in wins) == 500
    op = Operation.objects.get(request_no="PAY")
    assert (op.refunded_fen, op.refunded_points) == (500, 500)
    assert selectors.balances(m, world.postal)["available"] == 1000
    assert check_ledger() == {}
