"""Claims, display codes, QR images, deactivation, the tidy-up job and the append-only log."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    NoAuth,
    ParamError,
    QuotaExhausted,
    RightNotApplicable,
    VoucherExpired,
    VoucherNotFound,
)
from members.models import Consent
from rights import catalogue, vouchers
from rights.models import ClaimRequest, DisplayCode, Right, Voucher, VoucherEvent
from rights.validity import voucher_validity
from tests.rights.conftest import local


def test_free_claim_gives_an_available_voucher_with_a_digest_only_code(world):
    right = world.right()
    member = world.member()
    now = local(2026, 11, 29, 15, 0)
    voucher = vouchers.claim(member=member, right=right, request_no="C1", now=now)
    assert voucher.state == Voucher.State.AVAILABLE
    assert voucher.expires_at == local(2026, 12, 29)  # 30 days, the claim day being day 1
    assert voucher.code.startswith("V") and len(voucher.code) == 16
    stored = Voucher.objects.get(pk=voucher.pk)
    assert voucher.code not in stored.code_digest and len(stored.code_digest) == 64
    assert vouchers.find_by_code(code=voucher.code) == stored
    assert list(VoucherEvent.objects.filter(voucher=voucher).values_list("action", "to_state")) == [("claim", "available")]


def test_valid_days_end_at_midnight_shanghai_not_utc():
    right = Right(valid_days=2)
    # 29 Nov 23:30 +08:00 is still 29 Nov 15:30 UTC: day 1 = 29 Nov, day 2 = 30 Nov
    assert voucher_validity(right, local(2026, 11, 29, 23, 30))[1] == local(2026, 12, 1)
    # 30 Nov 00:30 +08:00 is 29 Nov 16:30 UTC, but the local day is 30 Nov
    assert voucher_validity(right, local(2026, 11, 30, 0, 30))[1] == local(2026, 12, 2)


def test_claim_before_the_window_gives_a_pending_voucher(world):
    right = world.right(valid_days=None, valid_from_date=date(2026, 12, 10), valid_until_date=date(2026, 12, 20))
    voucher = vouchers.claim(member=world.member(), right=right, request_no="C1", now=local(2026, 12, 1, 9))
    assert voucher.state == Voucher.State.PENDING
    assert voucher.valid_from == local(2026, 12, 10) and voucher.expires_at == local(2026, 12, 21)


def test_same_claim_number_returns_the_same_voucher_other_right_is_refused(world):
    right, other = world.right(), world.right()
    member = world.member()
    first = vouchers.claim(member=member, right=right, request_no="SAME")
    again = vouchers.claim(member=member, right=right, request_no="SAME")
    assert again.pk == first.pk and Voucher.objects.filter(member=member).count() == 1
    with pytest.raises(IdempotencyKeyReused):
        vouchers.claim(member=member, right=other, request_no="SAME")


def test_a_refused_claim_replays_its_refusal(world):
    right = world.right(total_limit=1)
    vouchers.claim(member=world.member(), right=right, request_no="A")
    member = world.member()
    with pytest.raises(QuotaExhausted):
        vouchers.claim(member=member, right=right, request_no="B")
    with pytest.raises(QuotaExhausted):
        vouchers.claim(member=member, right=right, request_no="B")
    assert ClaimRequest.objects.get(member=member, request_no="B").status == "refused"
    assert Voucher.objects.filter(member=member).count() == 0


@pytest.mark.parametrize("limit_field, limit, expected_code", [
    ("member_limit", 2, "QUOTA_EXHAUSTED"),
    ("daily_limit", 2, "QUOTA_EXHAUSTED"),
    ("total_limit", 2, "QUOTA_EXHAUSTED"),
])
def test_quota_limits_stop_claims_exactly(world, limit_field, limit, expected_code):
    right = world.right(**{limit_field: limit})
    member = world.member()
    for i in range(limit):
        vouchers.claim(member=member, right=right, request_no=f"C{i}")
    with pytest.raises(DomainError) as refused:
        vouchers.claim(member=member, right=right, request_no="LAST")
    assert refused.value.code == expected_code
    assert Voucher.objects.filter(right=right).count() == limit


def test_member_period_limit_resets_next_period(world):
    right = world.right(member_period_limit=1, member_period="day")
    member = world.member()
    vouchers.claim(member=member, right=right, request_no="D1", now=local(2026, 11, 30, 23, 59))
    with pytest.raises(QuotaExhausted):
        vouchers.claim(member=member, right=right, request_no="D1b", now=local(2026, 11, 30, 23, 59, 59))
    vouchers.claim(member=member, right=right, request_no="D2", now=local(2026, 12, 1, 0, 0))


def test_eligibility_tiers_and_consent(world):
    right = world.right(tiers=("gold", "platinum", "diamond"), requires_consent=True)
    with pytest.raises(RightNotApplicable):
        vouchers.claim(member=world.member(tier_code="silver"), right=right, request_no="T1")
    gold = world.member(tier_code="gold")
    with pytest.raises(RightNotApplicable) as refused:
        vouchers.claim(member=gold, right=right, request_no="T2")
    assert "授权" in refused.value.message
    Consent.objects.create(member=gold, merchant=world.shop, granted_at=timezone.now())
    assert vouchers.claim(member=gold, right=right, request_no="T3").state == "available"


def test_claims_of_a_draft_paused_or_tier_discount_right_are_refused(world):
    member = world.member()
    with pytest.raises(RightNotApplicable):
        vouchers.claim(member=member, right=world.right(activate=False), request_no="X1")
    paused = catalogue.pause_right(right=world.right(), actor=world.checker)
    with pytest.raises(RightNotApplicable):
        vouchers.claim(member=member, right=paused, request_no="X2")
    discount = world.right(kind=Right.Kind.TIER_DISCOUNT, rate_bp=9500, off_fen=None, threshold_fen=None,
                           settlement_fen=None, funded_share_bp=10000, valid_days=None)
    with pytest.raises(RightNotApplicable):
        vouchers.claim(member=member, right=discount, request_no="X3")


def test_tier_grant_is_once_per_member_per_period(world):
    right = world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=2, grant_period="month",
                        tiers=("platinum",))
    platinum, gold = world.member(tier_code="platinum"), world.member(tier_code="gold")
    now = local(2026, 12, 1, 0, 5)
    assert vouchers.grant_for_period(right=right, now=now) == 2
    assert vouchers.grant_for_period(right=right, now=now + timedelta(days=3)) == 0  # same month: nothing
    assert Voucher.objects.filter(member=platinum, right=right).count() == 2
    assert Voucher.objects.filter(member=gold, right=right).count() == 0
    assert vouchers.grant_for_period(right=right, now=local(2027, 1, 1, 0, 5)) == 2
    with pytest.raises(RightNotApplicable):
        vouchers.claim(member=platinum, right=right, request_no="FREE")  # not a free right


def test_tier_grant_task_runs_the_service(world):
    from rights.tasks import grant_tier_rights

    world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=1, grant_period="week", tiers=("diamond",))
    world.member(tier_code="diamond")
    assert grant_tier_rights() == 1
    assert grant_tier_rights() == 0


def test_display_code_is_97_18_digits_single_use_and_lasts_60_seconds(world):
    right = world.right()
    member = world.member()
    voucher = vouchers.claim(member=member, right=right, request_no="C1")
    now = timezone.now()
    code, expires_at = vouchers.issue_display_code(voucher=voucher, now=now)
    assert len(code) == 18 and code.startswith("97") and code.isdigit()
    assert expires_at == now + timedelta(seconds=60)
    assert not DisplayCode.objects.filter(digest=code).exists()  # only the digest is kept
    found_member, found_voucher = vouchers.resolve_display_code(code=code, merchant=world.shop,
                                                                now=now + timedelta(seconds=59))
    assert (found_member.pk, found_voucher.pk) == (member.pk, voucher.pk)
    with pytest.raises(VoucherExpired):
        vouchers.resolve_display_code(code=code, merchant=world.shop, now=now + timedelta(seconds=59))
    late, _ = vouchers.issue_display_code(voucher=voucher, now=now)
    with pytest.raises(VoucherExpired):
        vouchers.resolve_display_code(code=late, merchant=world.shop, now=now + timedelta(seconds=60))
    with pytest.raises(VoucherNotFound):
        vouchers.resolve_display_code(code="97" + "0" * 16, merchant=world.shop, now=now)
    with pytest.raises(VoucherNotFound):
        vouchers.resolve_display_code(code="96" + "0" * 16, merchant=world.shop, now=now)


def test_qr_image_is_an_svg_of_the_code(world):
    svg = vouchers.qr_svg("971234567890123456")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and b"<path" in svg
    other = vouchers.qr_svg("971234567890123457")
    assert other != svg  # the image encodes the code itself


def test_deactivate_needs_a_reason_and_an_operator(world):
    voucher = vouchers.claim(member=world.member(), right=world.right(), request_no="C1")
    with pytest.raises(ParamError):
        vouchers.deactivate(voucher=voucher, actor=world.checker, reason="")
    with pytest.raises(NoAuth):
        vouchers.deactivate(voucher=voucher, actor=None, reason="误发")
    done = vouchers.deactivate(voucher=voucher, actor=world.checker, reason="误发")
    assert done.state == "deactivated" and done.deactivated_reason == "误发"
    with pytest.raises(ParamError):
        vouchers.deactivate(voucher=voucher, actor=world.checker, reason="再次")
    with pytest.raises(VoucherExpired):
        vouchers.issue_display_code(voucher=voucher)


def test_tidy_expires_and_activates_with_events(world):
    member = world.member()
    soon = world.right(valid_days=1)
    later = world.right(valid_days=None, valid_from_date=date(2026, 12, 2), valid_until_date=date(2026, 12, 5))
    expiring = vouchers.claim(member=member, right=soon, request_no="A", now=local(2026, 11, 30, 10))
    pending = vouchers.claim(member=member, right=later, request_no="B", now=local(2026, 11, 30, 10))
    assert vouchers.tidy(now=local(2026, 11, 30, 23, 59, 59)) == {"activated": 0, "expired": 0}
    assert vouchers.tidy(now=local(2026, 12, 2, 0, 0)) == {"activated": 1, "expired": 1}
    assert Voucher.objects.get(pk=expiring.pk).state == "expired"
    assert Voucher.objects.get(pk=pending.pk).state == "available"
    assert vouchers.tidy(now=local(2026, 12, 2, 0, 0)) == {"activated": 0, "expired": 0}  # safe twice
    assert VoucherEvent.objects.filter(voucher=expiring, action="expire", from_state="available").exists()


def test_voucher_events_refuse_update_and_delete(world):
    voucher = vouchers.claim(member=world.member(), right=world.right(), request_no="C1")
    event = VoucherEvent.objects.get(voucher=voucher)
    for attempt in (lambda: VoucherEvent.objects.filter(pk=event.pk).update(reason="x"),
                    lambda: VoucherEvent.objects.filter(pk=event.pk).delete()):
        with pytest.raises(Exception) as refused, transaction.atomic():
            attempt()
        assert "append-only" in str(refused.value)
