"""Regression tests for the ledger audit (issue 8) and the clearing audit's finding 1 (issue 15).

Each test reproduces one finding as the audit did, against PostgreSQL, and states the right result.
Times are anchored at 01:00 (Asia/Shanghai) of the current business day, so every posting falls in
a business day that has not finished yet (no rollup is due for it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from hub.errors import DomainError
from points import reversal, rules, selectors, services, sweeps
from points.common import clear_caches
from points.models import Account, ClearingItem, ConversionRate, Lot, Operation, Posting


def anchor() -> datetime:
    local = timezone.now().astimezone(rules.SHANGHAI)
    return datetime(local.year, local.month, local.day, 1, 0, tzinfo=rules.SHANGHAI)


def bal(world, member, program=None, now=None):
    return selectors.balances(member, program or world.postal, now)


def codes(fn, *a, **kw):
    with pytest.raises(DomainError) as exc:
        fn(*a, **kw)
    return exc.value.code


def account_total(kind, program, txn_kind=None) -> int:
    qs = Posting.objects.filter(account__kind=kind, account__program=program)
    if txn_kind:
        qs = qs.filter(txn__kind=txn_kind)
    return qs.aggregate(s=Sum("amount"))["s"] or 0


def item_nets(operation_ids) -> dict:
    """Net points, amount and fee of the clearing items of these operations, per kind."""
    rows = (ClearingItem.objects.filter(operation_id__in=operation_ids).values("kind")
            .annotate(points=Sum("points"), amount=Sum("amount_fen"), fee=Sum("fee_fen")))
    return {r["kind"]: (r["points"], r["amount"], r["fee"]) for r in rows}


def family(request_no) -> list[int]:
    op = Operation.objects.get(request_no=request_no)
    return [op.pk, *Operation.objects.filter(original=op).values_list("pk", flat=True)]


def set_expiry(program, days):
    program.expiry_policy = "days"
    program.expiry_days = days
    program.save()
    clear_caches()


# ---- finding 1: reverse of a conversion whose new lot expired ---------------------------------

def test_reverse_of_conversion_with_expired_new_lot_posts_to_each_own_program(world, assert_ledger_ok):
    set_expiry(world.store_points, 1)
    ConversionRate.objects.create(from_program=world.postal, to_program=world.store_points, from_points=1,
                                  to_points=10)
    m = world.member()
    t0 = anchor()
    world.earn(m, 20000, "E", now=t0)  # 200 postal points
    services.convert(merchant=world.issuer, member=m, from_program=world.postal, to_program=world.store_points,
                     points=100, request_no="C", now=t0)
    later = t0 + timedelta(hours=25)
    sweeps.expire_lots(now=later)  # the 1,000 store points expired
    reversal.reverse(merchant=world.issuer, request_no="C", now=later)

    assert account_total(Account.Kind.ISSUER_LIABILITY, world.postal, "reverse") == -100
    assert account_total(Account.Kind.ISSUER_LIABILITY, world.store_points, "reverse") == 0
    for program in (world.postal, world.store_points):  # every program's postings balance on their own
        assert Posting.objects.filter(account__program=program).aggregate(s=Sum("amount"))["s"] == 0
    assert bal(world, m, now=later)["available"] == 200
    assert bal(world, m, world.store_points, now=later)["available"] == 0
    assert_ledger_ok()


# ---- finding 2: refund of an earn whose lot expired ---------------------------------------------

@pytest.mark.parametrize("undo", ["refund", "reverse"])
def test_refund_of_earn_with_expired_lot_does_not_take_other_lots(world, undo, assert_ledger_ok):
    set_expiry(world.postal, 1)
    m = world.member()
    t0 = anchor()
    world.earn(m, 10000, "OLD", now=t0)
    later = t0 + timedelta(hours=30)
    world.earn(m, 10000, "NEW", now=later)
    sweeps.expire_lots(now=later)
    if undo == "refund":
        result = world.refund("OLD", 10000, now=later)
        assert result["points_clawed_back"] == 0
    else:
        reversal.reverse(merchant=world.shop, request_no="OLD", now=later)
    assert bal(world, m, now=later)["available"] == 100
    assert Lot.objects.get(source_operation__request_no="NEW").remaining == 100
    assert_ledger_ok()


def test_refund_of_partly_spent_partly_expired_earn_takes_only_the_spent_part(world, assert_ledger_ok):
    set_expiry(world.postal, 1)
    m = world.member()
    t0 = anchor()
    world.earn(m, 10000, "OLD", now=t0)  # 100 points
    world.redeem(m, 40, "P", now=t0)  # 40 spent from OLD's lot; 60 will expire
    later = t0 + timedelta(hours=30)
    world.earn(m, 10000, "NEW", now=later)
    sweeps.expire_lots(now=later)
    assert world.refund("OLD", 10000, now=later)["points_clawed_back"] == 40
    assert bal(world, m, now=later)["available"] == 60
    assert_ledger_ok()


# ---- finding 3: reverse of a refund takes back the lots the refund restored ---------------------

def test_reverse_of_refund_takes_back_the_restored_lot(world, assert_ledger_ok):
    set_expiry(world.postal, 20)
    m = world.member()
    t0 = anchor()
    world.earn(m, 10000, "A", now=t0)  # lot A expires in 20 days
    world.redeem(m, 100, "P", now=t0)  # from A
    set_expiry(world.postal, 10)
    world.earn(m, 10000, "B", now=t0)  # lot B expires in 10 days
    world.refund("P", 100, "T", now=t0)  # A restored
    reversal.reverse(merchant=world.shop, request_no="T", now=t0)
    a = Lot.objects.get(source_operation__request_no="A")
    b = Lot.objects.get(source_operation__request_no="B")
    assert (a.remaining, b.remaining) == (0, 100)
    assert_ledger_ok()


def test_reverse_of_refund_whose_restored_lot_expired_does_not_take_other_lots(world, assert_ledger_ok):
    set_expiry(world.postal, 1)
    m = world.member()
    t0 = anchor()
    world.earn(m, 10000, "A", now=t0)  # lot A expires at t0 + 1 day
    world.redeem(m, 100, "P", now=t0)
    world.refund("P", 100, "T", now=t0 + timedelta(hours=1))  # A restored, still live
    later = t0 + timedelta(hours=25)
    world.earn(m, 10000, "B", now=later)
    sweeps.expire_lots(now=later)  # A's restored 100 points expire
    assert account_total(Account.Kind.BREAKAGE, world.postal) == 100
    reversal.reverse(merchant=world.shop, request_no="T", now=later)
    assert Lot.objects.get(source_operation__request_no="B").remaining == 100
    assert bal(world, m, now=later)["available"] == 100
    # the redemption stands again: those points were the merchant's, not breakage
    assert account_total(Account.Kind.BREAKAGE, world.postal) == 0
    assert account_total(Account.Kind.MERCHANT_REDEEMED, world.postal) == 100
    assert_ledger_ok()


def test_reverse_of_refund_into_a_grace_lot_takes_the_grace_lot(world, assert_ledger_ok):
    set_expiry(world.postal, 1)
    m = world.member()
    t0 = anchor()
    world.earn(m, 10000, "A", now=t0)
    world.redeem(m, 100, "P", now=t0)
    later = t0 + timedelta(hours=25)
    world.earn(m, 10000, "B", now=later)
    world.refund("P", 100, "T", now=later)  # A expired: re-credited as a grace lot
    grace = Lot.objects.get(restored_from__isnull=False)
    assert grace.remaining == 100
    reversal.reverse(merchant=world.shop, request_no="T", now=later)
    grace.refresh_from_db()
    assert grace.remaining == 0
    assert Lot.objects.get(source_operation__request_no="B").remaining == 100
    world.refund("P", 100, "T2", now=later)  # and the redemption can be refunded again
    assert bal(world, m, now=later)["available"] == 200
    assert_ledger_ok()


# ---- finding 4 and issue 15 finding 1: reversed refunds and the exact remainder -----------------

def test_redemption_refunds_with_a_reversed_one_net_to_zero(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000)
    world.redeem(m, 999, "P")  # 999 fen, fee 6 fen
    world.refund("P", 100, "T1")
    world.refund("P", 100, "T2")
    reversal.reverse(merchant=world.shop, request_no="T1")
    world.refund("P", 899, "T3")
    assert item_nets(family("P")) == {"redemption": (0, 0, 0)}
    assert bal(world, m)["available"] == 1000
    assert_ledger_ok()


def test_redemption_refunds_with_a_reversed_one_net_to_zero_at_2_fen_per_3_points(world, assert_ledger_ok):
    world.postal.value_fen, world.postal.value_points = 2, 3
    world.postal.save()
    clear_caches()
    m = world.member()
    world.earn(m, 100000)
    world.redeem(m, 6, "P")  # 4 fen
    world.refund("P", 1, "T1")
    world.refund("P", 1, "T2")
    reversal.reverse(merchant=world.shop, request_no="T1")
    world.refund("P", 3, "T3")
    assert item_nets(family("P")) == {"redemption": (0, 0, 0)}
    assert Operation.objects.get(request_no="P").refunded_points == 6
    assert_ledger_ok()


def test_earn_refunds_with_a_reversed_one_net_to_zero(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100300, "S")  # 1,003 points; the shop owes 802 fen
    world.refund("S", 30000, "T1")
    world.refund("S", 30000, "T2")
    reversal.reverse(merchant=world.shop, request_no="T1")
    world.refund("S", 70300, "T3")
    assert item_nets(family("S")) == {"earn_funding": (0, 0, 0)}
    assert bal(world, m)["available"] == 0
    op = Operation.objects.get(request_no="S")
    assert (op.refunded_fen, op.refunded_points) == (100300, 1003)
    assert_ledger_ok()


def test_redemption_of_1003_fen_refunds_with_a_reversed_one_net_to_zero(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 200000)
    world.redeem(m, 1003, "P")  # fee 6 fen
    world.refund("P", 300, "T1")
    world.refund("P", 300, "T2")
    reversal.reverse(merchant=world.shop, request_no="T1")
    world.refund("P", 703, "T3")
    assert item_nets(family("P")) == {"redemption": (0, 0, 0)}
    assert_ledger_ok()


# ---- finding 13: a redemption worth 0 fen -------------------------------------------------------

def test_redemption_worth_zero_fen_is_refused_up_front(world, assert_ledger_ok):
    world.postal.value_fen, world.postal.value_points = 1, 1000
    world.postal.save()
    clear_caches()
    m = world.member()
    world.earn(m, 100000)  # 1,000 points
    assert codes(world.redeem, m, 500, "P") == "REDEEM_LIMIT_EXCEEDED"
    assert codes(world.freeze, m, 500, "F") == "REDEEM_LIMIT_EXCEEDED"
    assert bal(world, m)["available"] == 1000
    assert world.redeem(m, 1000, "P2")["amount_fen"] == 1  # worth a fen: accepted, and refundable
    world.refund("P2", 1)
    assert bal(world, m)["available"] == 1000
    assert_ledger_ok()


# ---- also suspected -----------------------------------------------------------------------------

def test_expired_unswept_hold_does_not_count_toward_the_daily_cap(world, assert_ledger_ok):
    world.agreement.daily_cap_points = 100
    world.agreement.save()
    clear_caches()
    m = world.member()
    t0 = anchor()
    world.earn(m, 30000, now=t0)
    world.freeze(m, 100, "F", now=t0)
    later = t0 + timedelta(minutes=16)  # the hold expired; the sweep has not run yet
    assert world.redeem(m, 100, "R", now=later)["points"] == 100
    sweeps.release_expired_holds(now=later)
    assert bal(world, m, now=later)["available"] == 200
    assert_ledger_ok()


def test_confirm_never_reports_success_when_the_ledger_refuses(world):
    m = world.member()
    world.earn(m, 10000)
    world.freeze(m, 60, "F")
    with connection.cursor() as c:  # a corrupt held balance: the CHECK refuses the confirm's write
        c.execute("UPDATE points_account SET balance = 0 WHERE kind = %s AND member_id = %s",
                  [Account.Kind.HELD, m.pk])
    with pytest.raises(DomainError):
        services.confirm(merchant=world.shop, request_no="F")
    assert Operation.objects.get(request_no="F").status == "frozen"
    assert not ClearingItem.objects.filter(kind="redemption").exists()


def test_store_and_forward_sale_expires_by_its_business_date(world):
    from points.batch import EarnItem, earn_many

    world.postal.expiry_policy = "year_end_next"
    world.postal.save()
    clear_caches()
    m = world.member()
    sale = datetime(2025, 12, 31, 23, 0, tzinfo=rules.SHANGHAI)
    upload = datetime(2026, 1, 1, 10, 0, tzinfo=rules.SHANGHAI)
    earn_many(merchant=world.shop, store=world.store, terminal=world.till,
              items=[EarnItem("B1", m, 10000, business_time=sale)], now=upload)
    world.earn(m, 10000, "S1", business_time=sale, now=upload)
    expected = datetime(2027, 1, 1, tzinfo=rules.SHANGHAI)
    for no in ("B1", "S1"):
        assert Lot.objects.get(source_operation__request_no=no).expires_at == expected


def test_identify_counts_the_daily_cap_like_the_ledger(world):
    world.agreement.daily_cap_points = 100
    world.agreement.save()
    clear_caches()
    m = world.member()
    t0 = anchor()
    world.earn(m, 30000, now=t0)
    world.freeze(m, 100, "F", now=t0)
    assert selectors.member_summary(merchant=world.shop, member=m, now=t0)["redeemable_points"] == 0
    later = t0 + timedelta(minutes=16)
    assert selectors.member_summary(merchant=world.shop, member=m, now=later)["redeemable_points"] == 100


# ---- issue 15 finding 12: who funds a campaign --------------------------------------------------

def _campaign(world, funder):
    now = timezone.now()
    world.agreement.campaigns.create(name="双倍", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
                                     multiplier_pct=200, funder=funder)
    clear_caches()


@pytest.mark.parametrize("funder, item", [("issuer", (100, 80)), ("merchant", (200, 160))])
def test_campaign_bonus_is_charged_to_its_funder(world, funder, item, assert_ledger_ok):
    from points.batch import EarnItem, earn_many

    _campaign(world, funder)
    m = world.member()
    assert world.earn(m, 10000, "S")["points_earned"] == 200
    earn_many(merchant=world.shop, store=world.store, terminal=world.till, items=[EarnItem("B", m, 10000)])
    for no in ("S", "B"):
        got = ClearingItem.objects.get(operation__request_no=no, kind="earn_funding")
        assert (got.payer, got.payee, got.points, got.amount_fen) == (world.shop, world.issuer, *item)
    world.refund("S", 4000)  # refunds undo the merchant's share in proportion, and to zero in full
    world.refund("S", 6000)
    assert item_nets(family("S")) == {"earn_funding": (0, 0, 0)}
    assert_ledger_ok()


def test_campaign_funded_by_the_issuer_is_the_default(world):
    now = timezone.now()
    campaign = world.agreement.campaigns.create(name="周末", starts_at=now, ends_at=now + timedelta(days=2))
    assert campaign.funder == "issuer"


def test_the_hold_sweep_goes_on_past_a_hold_the_ledger_refuses_to_release(world):
    m, n = world.member(), world.member()
    t0 = anchor()
    world.earn(m, 10000, now=t0)
    world.earn(n, 10000, now=t0)
    world.freeze(m, 60, "F1", now=t0)
    world.freeze(n, 60, "F2", now=t0)
    with connection.cursor() as c:  # a corrupt held balance: the CHECK refuses that release
        c.execute("UPDATE points_account SET balance = 0 WHERE kind = %s AND member_id = %s",
                  [Account.Kind.HELD, m.pk])
    assert sweeps.release_expired_holds(now=t0 + timedelta(minutes=16)) == 1
    assert Operation.objects.get(request_no="F1").status == "frozen"
    assert Operation.objects.get(request_no="F2").status == "released"
