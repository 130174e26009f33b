from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from hub.errors import DomainError
from points import reversal, selectors, services, sweeps
from points.models import Account, ClearingItem, Lot, Operation


def bal(world, member, program=None):
    return selectors.balances(member, program or world.postal)


def codes(fn, *a, **kw):
    with pytest.raises(DomainError) as exc:
        fn(*a, **kw)
    return exc.value.code


def test_earn_awards_points_creates_lot_and_funding_item(world, assert_ledger_ok):
    m = world.member()
    result = world.earn(m, 12850, "S1")
    assert result == {"request_no": "S1", "points_earned": 128, "points_balance": 128}
    assert bal(world, m) == {"available": 128, "pending": 0, "frozen": 0}
    lot = Lot.objects.get()
    assert (lot.original, lot.remaining, lot.expires_at) == (128, 128, None)
    item = ClearingItem.objects.get()
    assert (item.payer, item.payee, item.kind, item.points, item.amount_fen) == (
        world.shop, world.issuer, "earn_funding", 128, 102)  # 128 points at 80 fen per 100, half up
    assert_ledger_ok()


def test_tier_and_campaign_multipliers(world):
    world.agreement.tier_multipliers = {"gold": 150}
    world.agreement.save()
    now = timezone.now()
    world.agreement.campaigns.create(name="双倍", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
                                     multiplier_pct=200)
    from points.common import clear_caches

    clear_caches()
    gold = world.member(tier="gold")
    assert world.earn(gold, 1000)["points_earned"] == 30  # 10 points × 1.5 × 2


def test_redeem_takes_points_and_owes_the_merchant(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000)  # 1000 points
    result = world.redeem(m, 300, "P1")
    assert result == {"request_no": "P1", "points": 300, "amount_fen": 300, "points_balance": 700}
    item = ClearingItem.objects.get(kind="redemption")
    assert (item.payer, item.payee, item.amount_fen, item.fee_fen) == (world.issuer, world.shop, 300, 2)
    assert_ledger_ok()


def test_insufficient_points_refused_recorded_and_replayed(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 10000)  # 100 points
    assert codes(world.redeem, m, 101, "P2") == "POINTS_INSUFFICIENT"
    assert Operation.objects.get(request_no="P2").status == "refused"
    world.earn(m, 10000)  # now enough — but the same request number replays the first answer
    assert codes(world.redeem, m, 101, "P2") == "POINTS_INSUFFICIENT"
    assert bal(world, m)["available"] == 200
    assert_ledger_ok()


def test_same_number_other_content_is_refused(world):
    m = world.member()
    first = world.earn(m, 5000, "S9")
    assert world.earn(m, 5000, "S9") == first
    assert codes(world.earn, m, 6000, "S9") == "IDEMPOTENCY_KEY_REUSED"
    assert codes(world.redeem, m, 1, "S9") == "IDEMPOTENCY_KEY_REUSED"
    assert bal(world, m)["available"] == 50


def test_redeem_limits(world):
    world.agreement.redeem_min_points = 100
    world.agreement.redeem_step_points = 50
    world.agreement.daily_cap_points = 300
    world.agreement.redeem_max_share_bp = 5000
    world.agreement.save()
    from points.common import clear_caches

    clear_caches()
    m = world.member()
    world.earn(m, 100000)
    assert codes(world.redeem, m, 50) == "REDEEM_LIMIT_EXCEEDED"
    assert codes(world.redeem, m, 120) == "REDEEM_LIMIT_EXCEEDED"
    assert codes(world.redeem, m, 200, sale_amount_fen=300) == "REDEEM_LIMIT_EXCEEDED"
    world.redeem(m, 200)
    assert codes(world.redeem, m, 150) == "REDEEM_LIMIT_EXCEEDED"  # daily cap: 200 + 150 > 300
    world.redeem(m, 100)
    assert bal(world, m)["available"] == 700
    assert selectors.member_summary(merchant=world.shop, member=m)["redeemable_points"] == 0


def test_weak_credential_needs_agreement(world):
    from members.codes import ref_for
    from members.credentials import MemberName

    m = world.member()
    world.earn(m, 10000)
    weak = MemberName.parse(ref_for(member=m, merchant=world.shop))  # the stable ref is weak
    assert codes(world.redeem, weak, 10) == "NO_AUTH"
    world.agreement.phone_may_redeem = True
    world.agreement.save()
    from points.common import clear_caches

    clear_caches()
    assert world.redeem(weak, 10)["points"] == 10


def test_stated_amount_must_match_value(world):
    m = world.member()
    world.earn(m, 10000)
    assert codes(world.redeem, m, 10, stated_amount_fen=11) == "PARAM_ERROR"
    assert world.redeem(m, 10, stated_amount_fen=10)["amount_fen"] == 10


def test_fifo_by_expiry_and_refund_restores_the_same_lots(world, assert_ledger_ok):
    world.postal.expiry_policy = "days"
    world.postal.expiry_days = 30
    world.postal.save()
    m = world.member()
    t0 = timezone.now()
    world.earn(m, 10000, "A", now=t0)  # lot A: 100, expires t0+30d
    world.earn(m, 10000, "B", now=t0 - timedelta(days=10))  # lot B: 100, expires t0+20d (first)
    world.redeem(m, 150, "P", now=t0)
    a = Lot.objects.get(source_operation__request_no="A")
    b = Lot.objects.get(source_operation__request_no="B")
    assert (a.remaining, b.remaining) == (50, 0)
    world.refund("P", 60, now=t0)  # 60 of 150 fen → 60 points back, latest expiry first
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.remaining, b.remaining) == (100, 10)
    world.refund("P", 90, now=t0)
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.remaining, b.remaining) == (100, 100)
    assert_ledger_ok()


def test_refund_after_lot_expired_recredits_with_grace(world, assert_ledger_ok):
    world.postal.expiry_policy = "days"
    world.postal.expiry_days = 1
    world.postal.restore_grace_days = 30
    world.postal.save()
    m = world.member()
    t0 = timezone.now() - timedelta(hours=30)
    world.earn(m, 10000, "A", now=t0)
    world.redeem(m, 100, "P", now=t0)
    now = timezone.now()  # lot A expired 6 hours ago
    result = world.refund("P", 100, now=now)
    assert result["points_returned"] == 100 and result["points_balance"] == 100
    grace = Lot.objects.get(restored_from__isnull=False)
    assert grace.remaining == 100
    assert grace.expires_at == now + timedelta(days=30)
    assert_ledger_ok()


def test_partial_refunds_of_earn_add_up_to_full(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 1000, "S")  # 10 points on 10.00 yuan
    clawed = [world.refund("S", amount)["points_clawed_back"] for amount in (333, 333, 334)]
    assert clawed == [3, 3, 4] and sum(clawed) == 10
    assert bal(world, m)["available"] == 0
    assert codes(world.refund, "S", 1) == "REFUND_EXCEEDS_ORIGINAL"
    items = ClearingItem.objects.filter(kind="earn_funding")
    assert sum(i.amount_fen for i in items) == 0 and sum(i.points for i in items) == 0
    assert selectors.query(merchant=world.shop, request_no="S")["status"] == "REFUNDED"
    assert_ledger_ok()


def test_partial_refunds_of_redeem_return_exact_total_and_clearing(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000)
    world.redeem(m, 999, "P")  # 9.99 yuan
    back = [world.refund("P", amount)["points_returned"] for amount in (100, 100, 799)]
    assert sum(back) == 999
    items = ClearingItem.objects.filter(kind="redemption")
    assert sum(i.amount_fen for i in items) == 0 and sum(i.fee_fen for i in items) == 0
    assert_ledger_ok()


def test_refund_with_named_points(world):
    m = world.member()
    world.earn(m, 100000)
    world.redeem(m, 500, "P")
    assert world.refund("P", 100, points=200)["points_returned"] == 200
    assert codes(world.refund, "P", 100, points=400) == "REFUND_EXCEEDS_ORIGINAL"
    assert world.refund("P", 400)["points_returned"] == 300  # the final refund reconciles


def test_refund_replay_and_unknown_original(world):
    m = world.member()
    world.earn(m, 1000, "S")
    first = world.refund("S", 500, "T1")
    assert world.refund("S", 500, "T1") == first
    assert codes(world.refund, "S", 400, "T1") == "IDEMPOTENCY_KEY_REUSED"
    assert codes(world.refund, "NOPE", 100) == "ORDER_NOT_EXIST"


def test_freeze_confirm(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000)
    held = world.freeze(m, 400, "F1")
    assert held["points_balance"] == 600 and held["amount_fen"] == 400
    assert bal(world, m) == {"available": 600, "pending": 0, "frozen": 400}
    assert not ClearingItem.objects.filter(kind="redemption").exists()
    done = services.confirm(merchant=world.shop, request_no="F1")
    assert done == {"request_no": "F1", "points": 400, "amount_fen": 400, "points_balance": 600}
    assert services.confirm(merchant=world.shop, request_no="F1") == done
    assert bal(world, m) == {"available": 600, "pending": 0, "frozen": 0}
    assert ClearingItem.objects.get(kind="redemption").amount_fen == 400
    assert selectors.query(merchant=world.shop, request_no="F1")["status"] == "SUCCESS"
    assert_ledger_ok()


def test_unfreeze_and_expired_freeze_cannot_be_confirmed(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000)
    world.freeze(m, 400, "F1")
    assert services.unfreeze(merchant=world.shop, request_no="F1")["points_balance"] == 1000
    assert services.unfreeze(merchant=world.shop, request_no="F1")["status"] == "UNFROZEN"
    assert codes(services.confirm, merchant=world.shop, request_no="F1") == "FREEZE_EXPIRED"
    world.freeze(m, 300, "F2")
    later = timezone.now() + timedelta(minutes=16)
    assert codes(services.confirm, merchant=world.shop, request_no="F2", now=later) == "FREEZE_EXPIRED"
    assert bal(world, m)["frozen"] == 300  # not yet swept, still never confirmable
    assert sweeps.release_expired_holds(now=later) == 1
    assert sweeps.release_expired_holds(now=later) == 0
    assert bal(world, m) == {"available": 1000, "pending": 0, "frozen": 0}
    assert_ledger_ok()


def test_maturation(world, assert_ledger_ok):
    world.agreement.maturation_days = 7
    world.agreement.save()
    from points.common import clear_caches

    clear_caches()
    m = world.member()
    t0 = timezone.now()
    assert world.earn(m, 5000, "S", now=t0)["points_balance"] == 0
    assert bal(world, m) == {"available": 0, "pending": 50, "frozen": 0}
    assert world.refund("S", 1000, now=t0)["points_clawed_back"] == 10  # from the pending lot
    assert sweeps.mature_pending(now=t0 + timedelta(days=6)) == 0
    assert sweeps.mature_pending(now=t0 + timedelta(days=7)) == 1
    assert sweeps.mature_pending(now=t0 + timedelta(days=8)) == 0
    assert bal(world, m) == {"available": 40, "pending": 0, "frozen": 0}
    assert_ledger_ok()


def test_expiry_moves_points_to_breakage(world, assert_ledger_ok):
    world.postal.expiry_policy = "days"
    world.postal.expiry_days = 10
    world.postal.save()
    m = world.member()
    t0 = timezone.now() - timedelta(days=11)
    world.earn(m, 10000, now=t0)
    world.redeem(m, 30, now=t0)
    assert bal(world, m)["available"] == 0  # expired lots are not spendable even before the sweep
    assert codes(world.redeem, m, 1) == "POINTS_INSUFFICIENT"
    assert sweeps.expire_lots() == 1
    assert sweeps.expire_lots() == 0
    breakage = Account.objects.get(kind=Account.Kind.BREAKAGE)
    assert sum(p.amount for p in breakage.postings.all()) == 70
    assert Account.objects.get(kind=Account.Kind.AVAILABLE, member=m).balance == 0
    assert_ledger_ok()


def test_reverse_undoes_each_kind(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000, "E")
    world.redeem(m, 100, "R")
    world.freeze(m, 100, "F")
    world.freeze(m, 100, "FC")
    services.confirm(merchant=world.shop, request_no="FC")
    assert bal(world, m) == {"available": 700, "pending": 0, "frozen": 100}
    for no in ("R", "F", "FC"):
        assert reversal.reverse(merchant=world.shop, request_no=no)["action"] == "reverse"
    assert bal(world, m) == {"available": 1000, "pending": 0, "frozen": 0}
    assert reversal.reverse(merchant=world.shop, request_no="E")["action"] == "reverse"
    assert bal(world, m)["available"] == 0
    assert reversal.reverse(merchant=world.shop, request_no="E")["action"] == "reverse"  # idempotent
    assert sum(ClearingItem.objects.values_list("amount_fen", flat=True)) == 0
    assert selectors.query(merchant=world.shop, request_no="R")["status"] == "REVERSED"
    assert_ledger_ok()


def test_reverse_before_original_leaves_tombstone(world, assert_ledger_ok):
    m = world.member()
    assert reversal.reverse(merchant=world.shop, request_no="LATE")["action"] == "tombstone"
    assert codes(world.earn, m, 1000, "LATE") == "ORDER_REVERSED"
    assert bal(world, m)["available"] == 0
    assert selectors.query(merchant=world.shop, request_no="LATE")["status"] == "REVERSED"
    assert_ledger_ok()


def test_reverse_window_and_refunded(world):
    m = world.member()
    world.earn(m, 1000, "OLD", now=timezone.now() - timedelta(days=3))
    assert codes(reversal.reverse, merchant=world.shop, request_no="OLD") == "PARAM_ERROR"
    world.earn(m, 1000, "S")
    world.refund("S", 100)
    assert codes(reversal.reverse, merchant=world.shop, request_no="S") == "PARAM_ERROR"


def test_reverse_a_refund(world, assert_ledger_ok):
    m = world.member()
    world.earn(m, 100000)
    world.redeem(m, 500, "P")
    world.refund("P", 200, "T")
    assert bal(world, m)["available"] == 700
    reversal.reverse(merchant=world.shop, request_no="T")
    assert bal(world, m)["available"] == 500
    assert world.refund("P", 500)["points_returned"] == 500
    assert_ledger_ok()


def test_convert_between_programs(world, assert_ledger_ok):
    m = world.member()
    from points.models import Agreement

    Agreement.objects.create(merchant=world.other, program=world.store_points, is_default=False)
    services.earn(merchant=world.other, store=None, terminal=None, member=m, amount_fen=100000, request_no="SP",
                  program=world.store_points)
    assert bal(world, m, world.store_points)["available"] == 1000
    result = services.convert(merchant=world.issuer, member=m, from_program=world.store_points,
                              to_program=world.postal, points=500, request_no="C1")
    assert result == {"request_no": "C1", "points": 500, "points_gained": 50, "points_balance": 50}
    assert bal(world, m, world.store_points)["available"] == 500
    item = ClearingItem.objects.get(kind="conversion")
    assert (item.payer, item.payee, item.amount_fen) == (world.shop, world.issuer, 50)
    assert codes(services.convert, merchant=world.issuer, member=m, from_program=world.store_points,
                 to_program=world.postal, points=15, request_no="C2") == "REDEEM_LIMIT_EXCEEDED"
    assert_ledger_ok()


def test_bad_amounts_change_nothing(world):
    m = world.member()
    for bad in (-1, 1.5, "100", True, 10**13):
        assert codes(world.earn, m, bad) == "PARAM_ERROR"
    for bad in (0, -5, 2.0):
        assert codes(world.redeem, m, bad) == "PARAM_ERROR"
    assert Operation.objects.count() == 0


def test_ledger_is_append_only_and_balanced_in_the_database(world):
    from django.db import transaction
    from django.db.utils import DatabaseError

    m = world.member()
    world.earn(m, 1000)
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as c:
            c.execute("UPDATE points_posting SET amount = amount + 1")
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as c:
            c.execute("DELETE FROM points_posting")
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as c:
            c.execute("INSERT INTO points_posting (txn_id, account_id, amount, created_at) "
                      "SELECT txn_id, account_id, 5, now() FROM points_posting LIMIT 1")
    with pytest.raises(DatabaseError), transaction.atomic():
        Account.objects.filter(member=m).update(balance=-1)
    with pytest.raises(DatabaseError), transaction.atomic():
        Lot.objects.update(remaining=-1)
