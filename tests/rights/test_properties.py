"""Random sequences of claims (free and for points), write-offs, reserves, reverses, refunds,
deactivations, expiry and quota changes keep every rights invariant (rights.checks) and the
ledger's (points.checks) after every step; at the end the rights_funding clearing items net to
the live uses."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import DomainError
from points import services as points_services
from points.checks import check_ledger
from points.models import ClearingItem, Operation, Program
from rights import quotas, redemption, vouchers
from rights.checks import check_rights
from rights.models import QuotaCounter, Redemption, Right, Voucher
from tests.rights.conftest import build_world, local

step = st.one_of(
    st.tuples(st.just("claim"), st.integers(0, 3)),
    st.tuples(st.just("pclaim"), st.integers(0, 3)),
    st.tuples(st.just("deactivate"), st.integers(0, 20)),
    st.tuples(st.just("redeem"), st.integers(0, 20), st.integers(0, 1)),
    st.tuples(st.just("reserve"), st.integers(0, 20)),
    st.tuples(st.just("confirm"), st.integers(0, 30)),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("reverse"), st.integers(0, 40)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 8000)),
    st.tuples(st.just("tidy"), st.integers(0, 3)),
    st.tuples(st.just("budget"), st.integers(-2000, 3000)),
    st.tuples(st.just("total"), st.integers(-3, 3)),
)


@pytest.mark.django_db
@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_sequences_keep_the_rights_invariants(steps):
    with transaction.atomic():
        world = build_world()
        right = world.right(settlement_fen=300, budget_fen=1500, total_limit=8, member_limit=3, store_daily_limit=4,
                            valid_days=2, return_on_refund=True)
        program = Program.objects.create(issuer=world.issuer, code=f"PH{world.issuer.pk}", name="邮政金融积分",
                                         value_fen=100, value_points=100)
        paid = world.right(settlement_fen=200, total_limit=5, valid_days=2, claim_mode=Right.ClaimMode.POINTS,
                           claim_program=program, claim_points=400)
        members = [world.member() for _ in range(4)]
        clock = local(2026, 11, 29, 20, 0)
        for m in members:
            points_services.grant(program=program, member=m, points=1000, request_no=f"G{m.pk}", now=clock)
        held: list = []
        numbers: list[str] = []
        for i, (kind, *args) in enumerate(steps):
            no = f"N{i}"
            pick = (lambda k: numbers[k % len(numbers)]) if numbers else (lambda k: f"UNKNOWN{k}")
            try:
                if kind == "claim":
                    held.append(vouchers.claim(member=members[args[0]], right=right, request_no=no, now=clock))
                elif kind == "pclaim":
                    held.append(vouchers.claim(member=members[args[0]], right=paid, request_no=no, now=clock))
                elif kind == "deactivate" and held:
                    vouchers.deactivate(voucher=held[args[0] % len(held)], actor=world.checker, reason="测试",
                                        now=clock)
                elif kind in ("redeem", "reserve") and held:
                    voucher = held[args[0] % len(held)]
                    store = world.store if kind == "reserve" or not args[1] else world.store2
                    call = redemption.redeem if kind == "redeem" else redemption.reserve
                    numbers.append(no)
                    call(merchant=world.shop, store=store, terminal=None, request_no=no, voucher=voucher,
                         sale_fen=6000, discount_fen=1000, now=clock)
                elif kind == "confirm":
                    redemption.confirm(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "release":
                    redemption.release(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "reverse":
                    redemption.reverse(merchant=world.shop, request_no=pick(args[0]), now=clock)
                elif kind == "refund":
                    redemption.refund(merchant=world.shop, request_no=no, original_request_no=pick(args[0]),
                                      refund_fen=args[1], now=clock)
                elif kind == "tidy":
                    clock += timedelta(hours=6 * args[0])
                    vouchers.tidy(now=clock)
                    redemption.release_lapsed(now=clock)
                elif kind == "budget":
                    current = Right.objects.get(pk=right.pk).budget_fen
                    quotas.change_limit(right=right, field="budget_fen", expected=current,
                                        new=max(0, current + args[0]), request_no=no)
                    right = Right.objects.get(pk=right.pk)
                elif kind == "total":
                    current = Right.objects.get(pk=paid.pk).total_limit
                    quotas.change_limit(right=paid, field="total_limit", expected=current,
                                        new=max(0, current + args[0]), request_no=no)
                    paid = Right.objects.get(pk=paid.pk)
            except DomainError:
                pass
            problems = {**check_rights(), **check_ledger()}
            assert problems == {}, (i, kind, problems)
        assert all(c.used <= c.limit_value for c in QuotaCounter.objects.filter(right__in=[right, paid]))
        live = sum(r.settlement_fen - r.refunded_settlement_fen
                   for r in Redemption.objects.filter(kind="use", status="success"))
        assert sum(ClearingItem.objects.filter(kind="rights_funding").values_list("amount_fen", flat=True)) == live
        # every voucher bought with points cost its points once, unless deactivated (given back)
        spent = sum(o.points for o in Operation.objects.filter(kind="right_claim", status="success"))
        assert spent == 400 * Voucher.objects.filter(source="points").exclude(state="deactivated").count()
        assert Redemption.objects.filter(kind="use", status="success").values("voucher").distinct().count() == \
            Redemption.objects.filter(kind="use", status="success").count()
        transaction.set_rollback(True)
