"""Random sequences of every ledger operation keep every invariant after every step."""

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
from points.models import Agreement
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
        Agreement.objects.create(merchant=world.other, program=world.store_points, is_default=False)
        m = world.member()
        clock = timezone.now()
        done: list[str] = []
        for i, (kind, *args) in enumerate(steps):
            no = f"N{i}"
            pick = (lambda k: done[k % len(done)]) if done else (lambda k: f"UNKNOWN{k}")
            try:
                if kind == "earn":
                    world.earn(m, args[0], no, now=clock)
                elif kind == "redeem":
                    world.redeem(m, args[0], no, now=clock)
                elif kind == "freeze":
                    world.freeze(m, args[0], no, now=clock)
                elif kind == "confirm":
                    services.confirm(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "unfreeze":
                    services.unfreeze(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "refund":
                    world.refund(pick(args[0]), args[1], no, now=clock)
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
        transaction.set_rollback(True)
