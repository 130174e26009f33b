import pytest

from hub.errors import DomainError
from points import selectors
from points.batch import EarnItem, earn_many
from points.checks import check_ledger
from points.models import ClearingItem, Operation


def test_batch_of_earns_matches_single_earns(world):
    a, b = world.member(), world.member()
    items = [EarnItem("B1", a, 1000), EarnItem("B2", b, 250), EarnItem("B3", a, 12850), EarnItem("B4", a, 0)]
    results = earn_many(merchant=world.shop, store=world.store, terminal=world.till, items=items)
    assert results == [
        {"request_no": "B1", "points_earned": 10, "points_balance": 10},
        {"request_no": "B2", "points_earned": 2, "points_balance": 2},
        {"request_no": "B3", "points_earned": 128, "points_balance": 138},
        {"request_no": "B4", "points_earned": 0, "points_balance": 138},
    ]
    assert selectors.balances(a, world.postal)["available"] == 138
    assert ClearingItem.objects.filter(kind="earn_funding").count() == 3
    assert check_ledger() == {}
    # the same upload again: every item answers as the first time, nothing is written twice
    assert earn_many(merchant=world.shop, store=world.store, terminal=world.till, items=items) == results
    assert Operation.objects.count() == 4 and selectors.balances(a, world.postal)["available"] == 138


def test_batch_items_fail_alone(world):
    a = world.member()
    world.earn(a, 5000, "TAKEN")
    from points import reversal

    reversal.reverse(merchant=world.shop, request_no="GONE")
    items = [EarnItem("OK1", a, 100), EarnItem("TAKEN", a, 999), EarnItem("GONE", a, 100), EarnItem("BAD", a, -5),
             EarnItem("OK1", a, 100), EarnItem("OK1", a, 200)]
    results = earn_many(merchant=world.shop, store=None, terminal=None, items=items)
    assert results[0]["points_earned"] == 1
    assert [r.code if isinstance(r, DomainError) else "OK" for r in results] == [
        "OK", "IDEMPOTENCY_KEY_REUSED", "ORDER_REVERSED", "PARAM_ERROR", "OK", "IDEMPOTENCY_KEY_REUSED"]
    assert results[4] == results[0]
    assert selectors.balances(a, world.postal)["available"] == 51
    assert check_ledger() == {}


def test_batch_limit(world):
    a = world.member()
    with pytest.raises(DomainError):
        earn_many(merchant=world.shop, store=None, terminal=None, items=[EarnItem(f"X{i}", a, 1) for i in range(1001)])
