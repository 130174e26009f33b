"""Random sequences of every ledger operation keep every invariant after every step.

Beyond the till operations and the sweeps, the steps include what the ledger audit found bugs
with: refunds of sales whose lots expired, the reverse of a refund other than the last one,
conversions in both directions between two programs that both expire, and partial refunds that
must add up (check_ledger's undone_clearing_nets_zero and refunded_totals_match_refunds hold after
every step, with balanced_per_program and the rest).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import DomainError
from points import reversal, selectors, services, sweeps
from points.checks import check_ledger
from points.models import Agreement, ConversionRate, Lot, Operation
from tests.points.conftest import build_world

step = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, 20000)),
    st.tuples(st.just("redeem"), st.integers(1, 300)),
    st.tuples(st.just("freeze"), st.integers(1, 300)),
    st.tuples(st.just("confirm"), st.integers(0, 30)),
    st.tuples(st.just("unfreeze"), st.integers(0, 30)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 20000)),
    st.tuples(st.just("reverse"), st.integers(0, 40)),
    st.tuples(st.just("expire"), st.integers(0, 4)),
    st.tuples(st.just("mature"), st.integers(0, 4)),
    st.tuples(st.just("convert"), st.integers(1, 50)),
    st.tuples(st.just("convert_back"), st.integers(1, 30)),
    st.tuples(st.just("refund_after_expiry"), st.integers(100, 20000), st.integers(0, 5), st.integers(1, 3)),
    st.tuples(st.just("reverse_refund"), st.integers(0, 30)),
    st.tuples(st.just("refund_rest"), st.integers(0, 30)),
)


@pytest.mark.django_db
@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_sequences_keep_the_invariants(steps):
    with transaction.atomic():
        world = build_world(maturation_days=1)
        world.postal.expiry_policy = "days"
        world.postal.expiry_days = 3
        world.postal.save()
        world.store_points.expiry_policy = "days"
        world.store_points.expiry_days = 2
        world.store_points.save()
        ConversionRate.objects.create(from_program=world.postal, to_program=world.store_points, from_points=1,
                                      to_points=10)
        Agreement.objects.create(merchant=world.other, program=world.store_points, is_default=False)
        m = world.member()
        clock = timezone.now()
        done: list[str] = []
        refunds: list[str] = []  # refund numbers that were accepted
        sales: list[str] = []  # earns and redemptions that were accepted
        for i, (kind, *args) in enumerate(steps):
            no = f"N{i}"
            pick = (lambda k: done[k % len(done)]) if done else (lambda k: f"UNKNOWN{k}")
            try:
                if kind == "earn":
                    world.earn(m, args[0], no, now=clock)
                    sales.append(no)
                elif kind == "redeem":
                    world.redeem(m, args[0], no, now=clock)
                    sales.append(no)
                elif kind == "freeze":
                    world.freeze(m, args[0], no, now=clock)
                elif kind == "confirm":
                    services.confirm(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "unfreeze":
                    services.unfreeze(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "refund":
                    world.refund(pick(args[0]), args[1], no, now=clock)
                    refunds.append(no)
                elif kind == "refund_after_expiry":  # a sale, its lot expires, then it is refunded
                    amount, days, parts = args
                    world.earn(m, amount, f"{no}S", now=clock)
                    clock += timedelta(days=days, hours=1)
                    sweeps.mature_pending(now=clock)
                    sweeps.expire_lots(now=clock)
                    services.grant(program=world.postal, member=m, points=amount // 100 + 1, request_no=f"{no}N",
                                   now=clock)  # other (available) points the refund must not touch
                    lot = Lot.objects.filter(source_operation__request_no=f"{no}S", restored_from=None).first()
                    live = lot is not None and (lot.expires_at is None or lot.expires_at > clock)
                    left = lot.remaining if live else 0  # nothing spent it: what a full refund may take
                    before = selectors.balances(m, world.postal, clock)
                    for part in range(parts):
                        share = amount // parts if part < parts - 1 else amount - (parts - 1) * (amount // parts)
                        try:  # nobody spent the sale's points: its refunds can never be refused
                            world.refund(f"{no}S", share, f"{no}T{part}", now=clock)
                        except DomainError as exc:
                            raise AssertionError(f"refund after expiry refused: {exc.code}") from exc
                        refunds.append(f"{no}T{part}")
                    after = selectors.balances(m, world.postal, clock)
                    # expired points are never taken again from the member's other lots
                    assert (before["available"] + before["pending"]) - (after["available"] + after["pending"]) == left
                elif kind == "reverse_refund":  # any refund but the last one when there are several
                    if refunds:
                        candidates = refunds[:-1] or refunds
                        reversal.reverse(merchant=world.shop, request_no=candidates[args[0] % len(candidates)],
                                         now=clock)
                elif kind == "refund_rest":  # refund whatever is left of a sale: its items must net to 0
                    if sales:
                        sale = Operation.objects.get(merchant=world.shop, request_no=sales[args[0] % len(sales)])
                        if sale.amount_fen > sale.refunded_fen:
                            world.refund(sale.request_no, sale.amount_fen - sale.refunded_fen, no, now=clock)
                            refunds.append(no)
                elif kind == "convert_back":  # postal -> store points (which expire after 2 days)
                    services.convert(merchant=world.issuer, member=m, from_program=world.postal,
                                     to_program=world.store_points, points=args[0], request_no=no, now=clock)
                elif kind == "reverse":
                    target = pick(args[0]) if args[0] < 30 else f"UNSEEN{i}"
                    reversal.reverse(merchant=world.shop, request_no=target, now=clock)
                elif kind == "expire":
                    clock += timedelta(days=args[0], minutes=20)
                    sweeps.release_expired_holds(now=clock)
                    sweeps.expire_lots(now=clock, batch_size=3)
                elif kind == "mature":
                    clock += timedelta(hours=args[0] * 8)
                    sweeps.mature_pending(now=clock, batch_size=2)
                elif kind == "convert":
                    services.earn(merchant=world.other, store=None, terminal=None, member=m, amount_fen=args[0] * 100,
                                  request_no=f"SP{i}", program=world.store_points, now=clock)
                    services.convert(merchant=world.issuer, member=m, from_program=world.store_points,
                                     to_program=world.postal, points=(args[0] // 10) * 10 or 10,
                                     request_no=no, now=clock)
                done.append(no)
            except DomainError:
                done.append(no)
            problems = check_ledger()
            assert problems == {}, (kind, args, problems)
            held = selectors.balances(m, world.postal, clock)
            assert min(held.values()) >= 0
            for sale in Operation.objects.filter(merchant=world.shop, kind__in=("earn", "redeem"), status="success"):
                if sale.amount_fen and sale.refunded_fen == sale.amount_fen:  # fully refunded: nothing left
                    assert sale.refunded_points == sale.points, (kind, args, sale.request_no)
        transaction.set_rollback(True)
