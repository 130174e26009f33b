"""Random sequences of every ledger operation keep every invariant after every step.

Beyond the till operations and the sweeps, the steps include what the ledger audit found bugs
with: refunds of sales whose lots expired, the reverse of a refund other than the last one,
conversions in both directions between two programs that both expire, and partial refunds that
must add up (check_ledger's undone_clearing_nets_zero and refunded_totals_match_refunds hold after
every step, with balanced_per_program and the rest), and replays after a rule change: an earlier
earn or redemption sent again through ``points.till`` after the agreement stopped awarding and
accepting or was made inactive, the point value or the earn rate changed or a campaign started
answers its first answer (success or refusal) and writes nothing; the rule is restored after.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.errors import DomainError
from points import reversal, selectors, services, sweeps
from points.checks import check_ledger
from points.common import clear_caches
from points.models import (
    Agreement,
    Campaign,
    ClearingItem,
    ConversionRate,
    LedgerTransaction,
    Lot,
    Operation,
    Posting,
    Program,
)
from tests.points.conftest import build_world

RULE_CHANGES = ("stop_awarding_and_accepting", "agreement_inactive", "point_value", "earn_rate", "campaign")


@contextmanager
def rule_changed(world, change: str, now):
    """Today's rules differ from those of the first answer while the block runs; restored after."""
    agreement = Agreement.objects.get(pk=world.agreement.pk)
    program = Program.objects.get(pk=world.postal.pk)
    if change == "stop_awarding_and_accepting":
        Agreement.objects.filter(pk=agreement.pk).update(can_award=False, can_accept=False)
    elif change == "agreement_inactive":
        Agreement.objects.filter(pk=agreement.pk).update(active=False)
    elif change == "point_value":
        Program.objects.filter(pk=program.pk).update(value_fen=program.value_fen * 2 + 1)
    elif change == "earn_rate":
        Agreement.objects.filter(pk=agreement.pk).update(earn_points=agreement.earn_points * 3 + 1)
    elif change == "campaign":
        Campaign.objects.create(agreement=agreement, name="限时三倍", starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(hours=1), multiplier_pct=300)
    clear_caches()
    try:
        yield
    finally:
        Agreement.objects.filter(pk=agreement.pk).update(can_award=agreement.can_award, can_accept=agreement.can_accept,
                                                         active=agreement.active, earn_points=agreement.earn_points)
        Program.objects.filter(pk=program.pk).update(value_fen=program.value_fen)
        Campaign.objects.filter(agreement=agreement).delete()
        clear_caches()


def ledger_state(member, programs, now) -> tuple:
    """Everything a replay must leave as it was: the rows of every ledger table and the balances."""
    counts = tuple(model.objects.count() for model in (Operation, LedgerTransaction, Posting, Lot, ClearingItem))
    rows = tuple(Operation.objects.order_by("pk").values_list("pk", "status", "points", "amount_fen", "refunded_fen",
                                                              "refunded_points", "result"))
    return counts, rows, tuple(tuple(sorted(selectors.balances(member, p, now).items())) for p in programs)


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
    st.tuples(st.just("replay_after_rule_change"), st.integers(0, 30), st.sampled_from(RULE_CHANGES),
              st.integers(0, 20000)),
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
        tills: dict[str, tuple] = {}  # earns and redemptions through points.till: number -> (kind, value, answer)
        for i, (kind, *args) in enumerate(steps):
            no = f"N{i}"
            pick = (lambda k: done[k % len(done)]) if done else (lambda k: f"UNKNOWN{k}")
            try:
                if kind in ("earn", "redeem"):  # points.till: the first answer is kept for replays
                    send = world.earn if kind == "earn" else world.redeem
                    try:
                        tills[no] = (kind, args[0], ("ok", send(m, args[0], no, now=clock)))
                    except DomainError as exc:
                        tills[no] = (kind, args[0], ("refused", exc.code))
                        raise
                    sales.append(no)
                elif kind == "replay_after_rule_change":  # the same request again: its first answer
                    seen = [n for n in tills
                            if Operation.objects.filter(merchant=world.shop, request_no=n)
                            .exclude(kind=Operation.Kind.TOMBSTONE).exclude(status=Operation.Status.REVERSED)
                            .exists()]  # recorded, and not reversed since (that answers ORDER_REVERSED)
                    if not seen:  # nothing to replay yet: an earn through the till first
                        first_no = f"{no}E"
                        tills[first_no] = ("earn", args[2], ("ok", world.earn(m, args[2], first_no, now=clock)))
                        sales.append(first_no)
                        seen = [first_no]
                    target = seen[args[0] % len(seen)]
                    op_kind, value, first = tills[target]
                    send = world.earn if op_kind == "earn" else world.redeem
                    before = ledger_state(m, (world.postal, world.store_points), clock)
                    change = args[1]  # alone, it would refuse or alter the request today
                    event(f"replay of a {first[0]} {op_kind} after {change}")
                    with rule_changed(world, change, clock):
                        try:
                            again = ("ok", send(m, value, target, now=clock))
                        except DomainError as exc:
                            again = ("refused", exc.code)
                    assert again == first, (target, change, first, again)
                    assert ledger_state(m, (world.postal, world.store_points), clock) == before, (target, change)
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
