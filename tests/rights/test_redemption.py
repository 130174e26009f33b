"""Write-off: the voucher's state machine through every transition and refusal, expiry at the
edge of an Asia/Shanghai day, idempotency and tombstones, reservations, refunds and funding."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction

from hub.errors import (
    IdempotencyKeyReused,
    OrderNotExist,
    OrderReversed,
    ParamError,
    QuotaExhausted,
    RefundExceedsOriginal,
    RightNotApplicable,
    VoucherExpired,
    VoucherNotFound,
    VoucherUsed,
)
from rights import catalogue, quotas, redemption, vouchers
from rights.models import QuotaCounter, Redemption, Right, RightsFunding, Voucher, VoucherEvent
from tests.rights.conftest import local

NOW = local(2026, 11, 20, 10, 0)


def _voucher(world, right=None, member=None, now=NOW, **terms):
    right = right or world.right(**terms)
    return vouchers.claim(member=member or world.member(), right=right, request_no=f"C{right.pk}-{now:%s}",
                          now=now)


def _redeem(world, voucher, request_no="U1", now=NOW, **kw):
    kw.setdefault("sale_fen", 5000)
    kw.setdefault("discount_fen", 1000)
    return redemption.redeem(merchant=kw.pop("merchant", world.shop), store=kw.pop("store", world.store),
                             terminal=world.till, request_no=request_no, voucher=voucher, now=now, **kw)


def _state(voucher) -> str:
    return Voucher.objects.get(pk=voucher.pk).state


def _funding(right) -> list[tuple[str, int]]:
    return list(RightsFunding.objects.filter(right=right).order_by("id").values_list("reason", "amount_fen"))


def test_use_writes_off_once_and_funds_the_provider(world):
    voucher = _voucher(world)
    result = _redeem(world, voucher, sale_fen=5200, discount_fen=1000)
    assert result["status"] == "SUCCESS" and result["discount_fen"] == 1000 and result["settlement_fen"] == 1000
    assert _state(voucher) == "used"
    row = Redemption.objects.get(merchant=world.shop, request_no="U1")
    assert (row.store, row.terminal, row.sale_fen) == (world.store, world.till, 5200)
    funding = RightsFunding.objects.get(redemption=row)
    assert (funding.funder, funding.provider, funding.amount_fen) == (world.issuer, world.shop, 1000)
    with pytest.raises(VoucherUsed):
        _redeem(world, voucher, request_no="U2")
    assert Redemption.objects.get(request_no="U2").status == "refused"
    assert list(VoucherEvent.objects.filter(voucher=voucher).values_list("action", "from_state", "to_state")) == [
        ("claim", "", "available"), ("use", "available", "used")]


def test_same_request_number_same_content_answers_the_first_answer(world):
    voucher = _voucher(world)
    first = _redeem(world, voucher)
    assert _redeem(world, voucher) == first
    with pytest.raises(IdempotencyKeyReused):
        _redeem(world, voucher, sale_fen=9000)
    assert Redemption.objects.filter(request_no="U1").count() == 1
    assert RightsFunding.objects.count() == 1


def test_a_refusal_is_replayed_even_after_the_cause_is_gone(world):
    voucher = _voucher(world)
    with pytest.raises(RightNotApplicable):
        _redeem(world, voucher, request_no="LOW", sale_fen=3000, discount_fen=1000)  # below 50 元
    with pytest.raises(RightNotApplicable):
        _redeem(world, voucher, request_no="LOW", sale_fen=3000, discount_fen=1000)
    assert _state(voucher) == "available"  # nothing written but the refusal
    assert RightsFunding.objects.count() == 0


@pytest.mark.parametrize("sale, discount, ok", [(4000, 1000, True), (3999, 1000, False), (9000, 1001, False)])
def test_threshold_counts_the_gross_and_the_discount_is_bounded(world, sale, discount, ok):
    voucher = _voucher(world)
    if ok:
        assert _redeem(world, voucher, sale_fen=sale, discount_fen=discount)["status"] == "SUCCESS"
    else:
        with pytest.raises(RightNotApplicable):
            _redeem(world, voucher, sale_fen=sale, discount_fen=discount)


def test_a_rate_allows_at_most_the_ceiling_of_gross_times_one_minus_rate(world):
    right = world.right(kind=Right.Kind.PERCENT_OFF, rate_bp=9500, off_fen=None, threshold_fen=None, cap_fen=500,
                        settlement_fen=None, funded_share_bp=5000)
    # gross 12 861 fen: 5% = 643.05 → at most 644, capped at 500
    with pytest.raises(RightNotApplicable):
        _redeem(world, _voucher(world, right=right), request_no="P1", sale_fen=12361, discount_fen=501)
    member = world.member()
    result = _redeem(world, _voucher(world, right=right, member=member), request_no="P2", sale_fen=12361,
                     discount_fen=500)
    assert result["settlement_fen"] == 250  # half of the discount funded
    uncapped = world.right(kind=Right.Kind.PERCENT_OFF, rate_bp=9500, off_fen=None, threshold_fen=None,
                           settlement_fen=None, funded_share_bp=10000)
    assert _redeem(world, _voucher(world, right=uncapped), request_no="P3", sale_fen=12217,
                   discount_fen=644)["status"] == "SUCCESS"  # gross 12 861 → ⌈643.05⌉ = 644
    with pytest.raises(RightNotApplicable):
        _redeem(world, _voucher(world, right=uncapped), request_no="P4", sale_fen=12216, discount_fen=645)


def test_wrong_merchant_store_scene_weekday(world):
    from hub.models import Store

    right = world.right(stores=[world.store2], scenes=["supermarket"], weekdays=[1, 2, 3, 4, 5])
    with pytest.raises(RightNotApplicable):
        _redeem(world, _voucher(world, right=right), request_no="W1", merchant=world.other,
                store=Store.objects.create(merchant=world.other, code="O1", name="o"))
    with pytest.raises(RightNotApplicable):
        _redeem(world, _voucher(world, right=right), request_no="W2", store=world.store)
    saturday = local(2026, 11, 21, 10)
    with pytest.raises(RightNotApplicable):
        _redeem(world, _voucher(world, right=right), request_no="W3", store=world.store2, now=saturday)
    assert _redeem(world, _voucher(world, right=right), request_no="W4", store=world.store2)["status"] == "SUCCESS"


def test_another_members_voucher_is_not_found(world):
    voucher = _voucher(world)
    with pytest.raises(VoucherNotFound):
        _redeem(world, voucher, member=world.member())
    assert _state(voucher) == "available"


def test_use_by_display_code_consumes_the_code(world):
    voucher = _voucher(world)
    code, _ = vouchers.issue_display_code(voucher=voucher, now=NOW)
    result = redemption.redeem(merchant=world.shop, store=world.store, terminal=world.till, request_no="DC1",
                               display_code=code, sale_fen=5000, discount_fen=1000, now=NOW + timedelta(seconds=5))
    assert result["voucher_id"] == voucher.pk
    again = redemption.redeem(merchant=world.shop, store=world.store, terminal=world.till, request_no="DC1",
                              display_code=code, sale_fen=5000, discount_fen=1000, now=NOW + timedelta(seconds=9))
    assert again == result  # a retry with the same number replays, though the code is spent


# --- expiry at the edge of the day (Asia/Shanghai), with or without the tidy-up job -----------

def _until_30_nov(world):
    return world.right(valid_days=None, valid_from_date=date(2026, 11, 1), valid_until_date=date(2026, 11, 30))


def test_valid_until_30_nov_is_usable_at_23_59_59(world):
    voucher = _voucher(world, right=_until_30_nov(world))
    assert voucher.expires_at == local(2026, 12, 1)
    assert _redeem(world, voucher, now=local(2026, 11, 30, 23, 59, 59))["status"] == "SUCCESS"


def test_valid_until_30_nov_is_refused_at_midnight_without_the_job(world):
    voucher = _voucher(world, right=_until_30_nov(world))
    with pytest.raises(VoucherExpired):
        _redeem(world, voucher, now=local(2026, 12, 1, 0, 0, 0))
    assert _state(voucher) == "available"  # the job has not run: the check at use refused it


def test_valid_until_30_nov_is_refused_at_midnight_after_the_job(world):
    voucher = _voucher(world, right=_until_30_nov(world))
    vouchers.tidy(now=local(2026, 12, 1, 0, 0, 0))
    assert _state(voucher) == "expired"
    with pytest.raises(VoucherExpired):
        _redeem(world, voucher, now=local(2026, 12, 1, 0, 0, 1))


def test_pending_voucher_not_yet_valid_then_activated_at_use(world):
    right = world.right(valid_days=None, valid_from_date=date(2026, 12, 1), valid_until_date=date(2026, 12, 31))
    voucher = _voucher(world, right=right, now=local(2026, 11, 20))
    assert voucher.state == "pending"
    with pytest.raises(RightNotApplicable):
        _redeem(world, voucher, request_no="EARLY", now=local(2026, 11, 30, 23, 59, 59))
    assert _redeem(world, voucher, request_no="ON", now=local(2026, 12, 1))["status"] == "SUCCESS"
    assert list(VoucherEvent.objects.filter(voucher=voucher).values_list("action", flat=True)) == [
        "claim", "activate", "use"]


def test_deactivated_and_paused(world):
    voucher = _voucher(world)
    vouchers.deactivate(voucher=voucher, actor=world.checker, reason="投诉处理")
    with pytest.raises(VoucherExpired) as refused:
        _redeem(world, voucher, request_no="D1")
    assert "作废" in refused.value.message
    right = world.right()
    held = _voucher(world, right=right)
    catalogue.pause_right(right=right, actor=world.checker)
    with pytest.raises(RightNotApplicable):
        _redeem(world, held, request_no="D2")


# --- reverse and tombstones -------------------------------------------------------------------

def test_reverse_gives_the_voucher_back_and_writes_negative_funding(world):
    voucher = _voucher(world)
    _redeem(world, voucher)
    assert redemption.reverse(merchant=world.shop, request_no="U1", now=NOW)["status"] == "REVERSED"
    assert _state(voucher) == "available"
    assert _funding(voucher.right) == [("use", 1000), ("reverse", -1000)]
    assert redemption.reverse(merchant=world.shop, request_no="U1", now=NOW) == {"request_no": "U1",
                                                                                 "status": "REVERSED"}
    assert _funding(voucher.right) == [("use", 1000), ("reverse", -1000)]  # idempotent
    with pytest.raises(OrderReversed):
        _redeem(world, voucher)  # the reversed number is spent
    assert _redeem(world, voucher, request_no="U2")["status"] == "SUCCESS"  # the voucher is usable again


def test_reverse_after_expiry_lands_in_expired(world):
    voucher = _voucher(world, right=_until_30_nov(world))
    _redeem(world, voucher, now=local(2026, 11, 30, 23, 0))
    redemption.reverse(merchant=world.shop, request_no="U1", now=local(2026, 12, 1, 0, 1))
    assert _state(voucher) == "expired"


def test_reverse_of_an_unseen_number_leaves_a_tombstone(world):
    voucher = _voucher(world)
    assert redemption.reverse(merchant=world.shop, request_no="LATE", now=NOW)["status"] == "REVERSED"
    with pytest.raises(OrderReversed):
        _redeem(world, voucher, request_no="LATE")
    assert _state(voucher) == "available"
    assert Redemption.objects.get(request_no="LATE").kind == "tombstone"


def test_reverse_of_a_refusal_changes_nothing(world):
    voucher = _voucher(world)
    _redeem(world, voucher)
    with pytest.raises(VoucherUsed):
        _redeem(world, voucher, request_no="U2")
    redemption.reverse(merchant=world.shop, request_no="U2", now=NOW)
    assert _state(voucher) == "used"
    assert _funding(voucher.right) == [("use", 1000)]


# --- reserve / confirm / release / lapse ------------------------------------------------------

def _reserve(world, voucher, request_no="RS1", now=NOW):
    return redemption.reserve(merchant=world.shop, store=world.store, terminal=world.till, request_no=request_no,
                              voucher=voucher, sale_fen=5000, discount_fen=1000, now=now)


def test_reserve_then_confirm(world):
    voucher = _voucher(world)
    assert _reserve(world, voucher)["status"] == "RESERVED"
    assert _state(voucher) == "reserved"
    with pytest.raises(VoucherUsed):
        _redeem(world, voucher, request_no="OTHER")  # held by the open sale
    assert RightsFunding.objects.count() == 0
    assert redemption.confirm(merchant=world.shop, request_no="RS1", now=NOW + timedelta(minutes=14))["status"] == "SUCCESS"
    assert _state(voucher) == "used"
    assert redemption.confirm(merchant=world.shop, request_no="RS1", now=NOW + timedelta(minutes=20))["status"] == "SUCCESS"
    assert _funding(voucher.right) == [("use", 1000)]
    with pytest.raises(ParamError):
        redemption.release(merchant=world.shop, request_no="RS1", now=NOW)


def test_reserve_then_release(world):
    voucher = _voucher(world)
    _reserve(world, voucher)
    assert redemption.release(merchant=world.shop, request_no="RS1", now=NOW)["status"] == "RELEASED"
    assert redemption.release(merchant=world.shop, request_no="RS1", now=NOW)["status"] == "RELEASED"
    assert _state(voucher) == "available"
    with pytest.raises(VoucherExpired):
        redemption.confirm(merchant=world.shop, request_no="RS1", now=NOW)


def test_a_lapsed_reservation_cannot_be_confirmed_and_the_job_releases_it(world):
    voucher = _voucher(world)
    _reserve(world, voucher)
    lapse = NOW + timedelta(minutes=15)
    with pytest.raises(VoucherExpired):
        redemption.confirm(merchant=world.shop, request_no="RS1", now=lapse)
    assert redemption.release_lapsed(now=lapse - timedelta(seconds=1)) == 0
    assert redemption.release_lapsed(now=lapse) == 1
    assert redemption.release_lapsed(now=lapse) == 0
    assert _state(voucher) == "available"
    assert Redemption.objects.get(request_no="RS1").status == "released"


def test_confirm_of_an_unknown_number(world):
    with pytest.raises(OrderNotExist):
        redemption.confirm(merchant=world.shop, request_no="NOPE", now=NOW)


def test_reverse_of_a_reservation_releases_it(world):
    voucher = _voucher(world)
    _reserve(world, voucher)
    redemption.reverse(merchant=world.shop, request_no="RS1", now=NOW)
    assert _state(voucher) == "available"
    with pytest.raises(OrderReversed):
        redemption.confirm(merchant=world.shop, request_no="RS1", now=NOW)


# --- refunds ------------------------------------------------------------------------------------

def test_partial_refunds_reduce_funding_proportionally_and_add_back_to_the_whole(world):
    right = world.right(settlement_fen=1001, return_on_refund=True)
    voucher = _voucher(world, right=right)
    _redeem(world, voucher, sale_fen=6000, discount_fen=1000)
    first = redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=2000, now=NOW)
    # largest remainder of 1001 between refunded 2000 and kept 4000: 333.67 / 667.33 → 334 / 667
    assert first["settlement_fen_returned"] == 334 and not first["voucher_returned"]
    assert _state(voucher) == "used"  # a partial refund leaves the voucher used
    assert redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=2000,
                             now=NOW) == first
    second = redemption.refund(merchant=world.shop, request_no="T2", original_request_no="U1", refund_fen=1000, now=NOW)
    # cumulative: 1001 between 3000 and 3000 is 500.5 / 500.5, the tie to the refunded part → 501
    assert second["settlement_fen_returned"] == 501 - 334
    with pytest.raises(RefundExceedsOriginal):
        redemption.refund(merchant=world.shop, request_no="T3", original_request_no="U1", refund_fen=3001, now=NOW)
    last = redemption.refund(merchant=world.shop, request_no="T4", original_request_no="U1", refund_fen=3000, now=NOW)
    assert last["settlement_fen_returned"] == 500 and last["voucher_returned"]
    assert sum(amount for _, amount in _funding(right)) == 0
    assert _state(voucher) == "available"


def test_full_refund_without_return_on_refund_keeps_the_voucher_used(world):
    voucher = _voucher(world, return_on_refund=False)
    _redeem(world, voucher)
    result = redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=5000, now=NOW)
    assert result["voucher_returned"] is False
    assert _state(voucher) == "used"
    assert _funding(voucher.right) == [("use", 1000), ("refund", -1000)]


def test_full_refund_after_expiry_returns_the_voucher_as_expired(world):
    voucher = _voucher(world, right=world.right(return_on_refund=True, valid_days=1))
    _redeem(world, voucher)
    redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=5000,
                      now=NOW + timedelta(days=2))
    assert _state(voucher) == "expired"


def test_refund_of_a_reversed_use_is_refused(world):
    voucher = _voucher(world)
    _redeem(world, voucher)
    redemption.reverse(merchant=world.shop, request_no="U1", now=NOW)
    with pytest.raises(OrderReversed):
        redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=100, now=NOW)


def test_reverse_after_a_full_refund_with_return_does_not_double_count(world):
    right = world.right(return_on_refund=True, store_daily_limit=5, budget_fen=10000)
    voucher = _voucher(world, right=right)
    _redeem(world, voucher)
    redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=5000, now=NOW)
    redemption.reverse(merchant=world.shop, request_no="U1", now=NOW)
    assert sum(amount for _, amount in _funding(right)) == 0
    assert QuotaCounter.objects.get(right=right, scope="budget").used == 0
    assert QuotaCounter.objects.get(right=right, scope="store_day").used == 0


# --- quotas at use ------------------------------------------------------------------------------

def test_store_day_quota_and_its_release_on_reverse(world):
    right = world.right(store_daily_limit=1)
    first, second = _voucher(world, right=right), _voucher(world, right=right)
    _redeem(world, first, request_no="A")
    with pytest.raises(QuotaExhausted):
        _redeem(world, second, request_no="B")
    assert _state(second) == "available"
    assert _redeem(world, second, request_no="C", store=world.store2)["status"] == "SUCCESS"  # another store
    redemption.reverse(merchant=world.shop, request_no="A", now=NOW)
    assert _redeem(world, first, request_no="D")["status"] == "SUCCESS"
    assert _redeem(world, _voucher(world, right=right), request_no="E",
                   now=NOW + timedelta(days=1))["status"] == "SUCCESS"  # a new day


def test_budget_is_consumed_by_the_settlement_and_changed_by_compare_and_swap(world):
    right = world.right(settlement_fen=300, budget_fen=1000)
    held = [_voucher(world, right=right) for _ in range(4)]
    for i, voucher in enumerate(held[:3]):
        _redeem(world, voucher, request_no=f"B{i}")
    with pytest.raises(QuotaExhausted):
        _redeem(world, held[3], request_no="B3")
    assert quotas.usage(Right.objects.get(pk=right.pk))["budget_spent_fen"] == 900
    with pytest.raises(ParamError):  # stale expected value: nothing changes
        quotas.change_limit(right=right, field="budget_fen", expected=900, new=2000, request_no="Q1", actor=world.checker)
    with pytest.raises(ParamError):  # below what is spent
        quotas.change_limit(right=right, field="budget_fen", expected=1000, new=800, request_no="Q2", actor=world.checker)
    right = quotas.change_limit(right=right, field="budget_fen", expected=1000, new=1200, request_no="Q3",
                                actor=world.checker)
    assert right.budget_fen == 1200
    assert quotas.change_limit(right=right, field="budget_fen", expected=1000, new=1200, request_no="Q3").budget_fen == 1200
    with pytest.raises(IdempotencyKeyReused):
        quotas.change_limit(right=right, field="budget_fen", expected=1200, new=5000, request_no="Q3")
    assert _redeem(world, held[3], request_no="B4")["status"] == "SUCCESS"
    assert QuotaCounter.objects.get(right=right, scope="budget").used == 1200


def test_counters_cannot_exceed_their_limit_around_the_service(world):
    right = world.right(total_limit=1)
    vouchers.claim(member=world.member(), right=right, request_no="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        QuotaCounter.objects.filter(right=right, scope="total").update(used=2)


def test_only_one_live_use_per_voucher_around_the_service(world):
    voucher = _voucher(world)
    _redeem(world, voucher)
    row = Redemption.objects.get(request_no="U1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Redemption.objects.create(merchant=world.other, request_no="X", kind="use", status="success", voucher=voucher,
                                  right=row.right, business_date=row.business_date, created_at=NOW)


def test_funding_rows_are_append_only(world):
    _redeem(world, _voucher(world))
    with pytest.raises(Exception) as refused, transaction.atomic():
        RightsFunding.objects.update(amount_fen=1)
    assert "append-only" in str(refused.value)


def test_used_or_reserved_vouchers_cannot_be_deactivated_or_expired_by_the_job(world):
    used, held = _voucher(world), _voucher(world)
    _redeem(world, used)
    _reserve(world, held)
    for voucher in (used, held):
        with pytest.raises(ParamError):
            vouchers.deactivate(voucher=voucher, actor=world.checker, reason="误操作")
    vouchers.tidy(now=NOW + timedelta(days=400))
    assert (_state(used), _state(held)) == ("used", "reserved")


def test_an_expired_voucher_cannot_be_reserved_and_a_reservation_past_expiry_cannot_be_confirmed(world):
    voucher = _voucher(world, right=_until_30_nov(world))
    with pytest.raises(VoucherExpired):
        _reserve(world, voucher, now=local(2026, 12, 1))
    _reserve(world, voucher, request_no="RS2", now=local(2026, 11, 30, 23, 55))
    with pytest.raises(VoucherExpired):
        redemption.confirm(merchant=world.shop, request_no="RS2", now=local(2026, 12, 1, 0, 0, 0))
    redemption.release_lapsed(now=local(2026, 12, 1, 0, 10))
    assert _state(voucher) == "expired"  # released after its expiry: it does not come back
