"""Races of the ledger audit (issue 8 findings 5 and 6, and the reverse of an earn racing a redeem),
on real PostgreSQL with real threads, each with its own connection.

``between_read_and_write`` makes the interleaving deterministic: the first time the main thread
calls the ledger's write, another thread runs a competing request to completion first, exactly
what another till (or a sweep) committing between the service's read and its write does.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from hub.errors import DomainError
from points import ledger, reversal, selectors, sweeps
from points.batch import EarnItem, earn_many
from points.checks import check_ledger
from points.models import Account, Operation
from tests.points.conftest import build_world

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(fn):
    box: dict = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - returned for the assertions
            box["result"] = exc
        finally:
            connection.close()

    t = threading.Thread(target=run)
    t.start()
    return t, box


def between_read_and_write(monkeypatch, competitor):
    original = ledger.apply
    main = threading.get_ident()
    fired = []

    def apply(entry):
        if threading.get_ident() == main and not fired:
            fired.append(1)
            t, box = in_thread(competitor)
            t.join(30)
            assert not isinstance(box.get("result"), Exception), box
        return original(entry)

    monkeypatch.setattr(ledger, "apply", apply)
    return fired


def test_refund_of_earn_when_a_redeem_takes_its_lot_meanwhile(monkeypatch):
    world = build_world()
    m = world.member()
    world.earn(m, 10000, "E")  # lot E: 100 (first by id, taken first)
    world.earn(m, 10000, "X")  # lot X: 100
    fired = between_read_and_write(monkeypatch, lambda: world.redeem(m, 50, "R"))
    result = world.refund("E", 10000, "T")
    assert fired and result["points_clawed_back"] == 100
    assert selectors.balances(m, world.postal)["available"] == 50
    assert check_ledger() == {}


def test_refund_of_earn_when_the_maturation_sweep_moves_its_lot_meanwhile(monkeypatch):
    world = build_world(maturation_days=1)
    m = world.member()
    t0 = timezone.now()
    world.earn(m, 10000, "E", now=t0)  # pending lot
    later = t0 + timedelta(days=1, minutes=1)
    fired = between_read_and_write(monkeypatch, lambda: sweeps.mature_pending(now=later))
    result = world.refund("E", 5000, "T", now=later)
    assert fired and result["points_clawed_back"] == 50
    assert selectors.balances(m, world.postal, later) == {"available": 50, "pending": 0, "frozen": 0}
    assert check_ledger() == {}


def test_reverse_of_earn_when_a_redeem_takes_its_lot_meanwhile(monkeypatch):
    world = build_world()
    m = world.member()
    world.earn(m, 10000, "E")
    world.earn(m, 10000, "X")
    fired = between_read_and_write(monkeypatch, lambda: world.redeem(m, 50, "R"))
    assert reversal.reverse(merchant=world.shop, request_no="E")["action"] == "reverse"
    assert fired
    assert selectors.balances(m, world.postal)["available"] == 50
    assert Operation.objects.get(request_no="E").status == "reversed"
    assert check_ledger() == {}


def _lock_waiters() -> int:
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                  "AND wait_event_type = 'Lock'")
        return c.fetchone()[0]


def _wait_for_waiters(n: int) -> None:
    deadline = time.monotonic() + 10
    while _lock_waiters() < n:
        assert time.monotonic() < deadline, "threads never queued on the lock"
        time.sleep(0.02)


def test_batch_upload_and_single_request_with_the_same_number_do_not_deadlock():
    world = build_world()
    m = world.member()
    world.earn(m, 100, "FIRST")  # the member's account exists
    account = Account.objects.get(member=m, kind=Account.Kind.AVAILABLE)
    release = threading.Event()

    def blocker():  # a third transaction holds the member's account, so both queue behind it
        from django.db import transaction

        with transaction.atomic():
            Account.objects.select_for_update().get(pk=account.pk)
            release.wait(20)

    tb, _ = in_thread(blocker)
    time.sleep(0.3)
    t_batch, batch = in_thread(lambda: earn_many(merchant=world.shop, store=world.store, terminal=world.till,
                                                 items=[EarnItem("SAME", m, 5000)]))
    _wait_for_waiters(1)
    t_single, single = in_thread(lambda: world.earn(m, 5000, "SAME"))
    _wait_for_waiters(2)
    release.set()
    for t in (tb, t_batch, t_single):
        t.join(30)
    assert not isinstance(batch["result"], Exception), batch
    assert not isinstance(single["result"], Exception), single
    assert isinstance(batch["result"][0], dict), batch
    assert batch["result"][0]["points_earned"] == single["result"]["points_earned"] == 50
    assert Operation.objects.filter(request_no="SAME").count() == 1
    assert selectors.balances(m, world.postal)["available"] == 51
    assert check_ledger() == {}


def test_refusal_after_a_real_shortfall_is_still_recorded(monkeypatch):
    """The other side of finding 5: when the member really has spent the points, the refund is
    refused POINTS_INSUFFICIENT, recorded, and replayed as such."""
    world = build_world()
    m = world.member()
    world.earn(m, 10000, "E")
    fired = between_read_and_write(monkeypatch, lambda: world.redeem(m, 50, "R"))
    with pytest.raises(DomainError) as exc:
        world.refund("E", 10000, "T")
    assert fired and exc.value.code == "POINTS_INSUFFICIENT"
    assert Operation.objects.get(request_no="T").status == "refused"
    assert check_ledger() == {}
