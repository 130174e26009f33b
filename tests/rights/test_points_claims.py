"""Claiming a right for points: one atomic operation with the ledger (the voucher and the points
debit together, or nothing), idempotent per member × claim number; deactivation gives the points
back; tier grants by the scheduled job, once per member × period."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db.models import Sum
from django_celery_beat.models import PeriodicTask

from hub.errors import (
    IdempotencyKeyReused,
    NoAuth,
    PointsInsufficient,
    QuotaExhausted,
    RightNotApplicable,
)
from points import services as points_services
from points.checks import check_ledger
from points.ledger import AVAILABLE, member_account, spendable
from points.models import Agreement, ClearingItem, Operation, Posting, Program
from rights import tasks, vouchers
from rights.checks import check_rights
from rights.models import ClaimRequest, QuotaCounter, Right, Voucher
from tests.rights.conftest import local

NOW = local(2026, 11, 20, 10, 0)


@pytest.fixture
def postal(world):
    return Program.objects.create(issuer=world.issuer, code=f"PP{world.issuer.pk}", name="邮政金融积分",
                                  value_fen=100, value_points=100)


def _funded(world, program, member, points: int, no: str = "G1"):
    points_services.grant(program=program, member=member, points=points, request_no=f"{no}-{member.pk}", now=NOW)


def _balance(program, member) -> int:
    return spendable(member_account(AVAILABLE, program.pk, member.pk), NOW)


def _points_right(world, program, **terms) -> Right:
    return world.right(claim_mode=Right.ClaimMode.POINTS, claim_program=program, claim_points=500, **terms)


def test_a_points_claim_debits_the_member_and_issues_the_voucher_together(world, postal):
    member = world.member()
    _funded(world, postal, member, 1200)
    right = _points_right(world, postal)
    voucher = vouchers.claim(member=member, right=right, request_no="PC1", now=NOW)
    assert voucher.source == Voucher.Source.POINTS and voucher.state == "available"
    assert _balance(postal, member) == 700
    claim = ClaimRequest.objects.get(member=member, request_no="PC1")
    op = Operation.objects.get(pk=claim.points_operation_id)
    assert (op.kind, op.status, op.points, op.amount_fen, op.merchant_id) == ("right_claim", "success", 500, 500,
                                                                             world.issuer.pk)
    # the points went to the funder (here the issuer itself: nobody owes anybody)
    legs = sorted(Posting.objects.filter(txn__operation=op).values_list("account__kind", "amount"))
    assert legs == [(1, -500), (11, 500)]
    assert not ClearingItem.objects.filter(operation=op).exists()
    # the same number again: the same voucher, no second debit
    assert vouchers.claim(member=member, right=right, request_no="PC1", now=NOW).pk == voucher.pk
    assert _balance(postal, member) == 700
    with pytest.raises(IdempotencyKeyReused):
        vouchers.claim(member=member, right=_points_right(world, postal), request_no="PC1", now=NOW)
    assert check_ledger() == {} and check_rights() == {}


def test_a_short_balance_is_points_insufficient_and_writes_nothing(world, postal):
    member = world.member()
    _funded(world, postal, member, 499)
    right = _points_right(world, postal, total_limit=5)
    with pytest.raises(PointsInsufficient):
        vouchers.claim(member=member, right=right, request_no="PC1", now=NOW)
    assert _balance(postal, member) == 499
    assert not Voucher.objects.filter(right=right).exists()
    assert not Operation.objects.filter(kind="right_claim").exists()
    assert QuotaCounter.objects.filter(right=right, used__gt=0).count() == 0
    # the refusal is the answer of that number, even once the member has the points
    _funded(world, postal, member, 100, no="G2")
    with pytest.raises(PointsInsufficient):
        vouchers.claim(member=member, right=right, request_no="PC1", now=NOW)
    assert vouchers.claim(member=member, right=right, request_no="PC2", now=NOW).source == "points"
    assert _balance(postal, member) == 99
    assert check_ledger() == {} and check_rights() == {}


def test_a_full_quota_takes_no_points(world, postal):
    first, second = world.member(), world.member()
    for m in (first, second):
        _funded(world, postal, m, 1000)
    right = _points_right(world, postal, total_limit=1)
    vouchers.claim(member=first, right=right, request_no="PC1", now=NOW)
    with pytest.raises(QuotaExhausted):
        vouchers.claim(member=second, right=right, request_no="PC1", now=NOW)
    assert _balance(postal, first) == 500 and _balance(postal, second) == 1000
    assert Operation.objects.filter(kind="right_claim").count() == 1
    assert check_ledger() == {} and check_rights() == {}


def test_a_funder_other_than_the_issuer_is_owed_the_points_value_less_its_fee(world, postal):
    member = world.member()
    _funded(world, postal, member, 1000)
    right = world.right(claim_mode=Right.ClaimMode.POINTS, claim_program=postal, claim_points=300, providers=[world.shop])
    Right.objects.filter(pk=right.pk).update(funder=world.other)
    with pytest.raises(NoAuth):  # the funder has no agreement accepting the program
        vouchers.claim(member=member, right=right, request_no="PC1", now=NOW)
    assert _balance(postal, member) == 1000
    Agreement.objects.create(merchant=world.other, program=postal, can_award=False, acceptance_fee_bp=100)
    vouchers.claim(member=member, right=right, request_no="PC2", now=NOW)
    item = ClearingItem.objects.get(kind="redemption")
    assert (item.payer_id, item.payee_id, item.points, item.amount_fen, item.fee_fen) == (
        world.issuer.pk, world.other.pk, 300, 300, 3)
    assert check_ledger() == {} and check_rights() == {}


def test_deactivating_a_voucher_bought_with_points_gives_the_points_back(world, postal):
    member = world.member()
    _funded(world, postal, member, 800)
    right = world.right(claim_mode=Right.ClaimMode.POINTS, claim_program=postal, claim_points=500)
    Right.objects.filter(pk=right.pk).update(funder=world.other)
    Agreement.objects.create(merchant=world.other, program=postal, can_award=False)
    voucher = vouchers.claim(member=member, right=right, request_no="PC1", now=NOW)
    assert _balance(postal, member) == 300
    vouchers.deactivate(voucher=voucher, actor=world.checker, reason="权益下线，退还积分", now=NOW + timedelta(hours=1))
    assert _balance(postal, member) == 800
    op = Operation.objects.get(kind="right_claim")
    assert op.status == "reversed"
    nets = {(c["payer_id"], c["payee_id"]): c["n"] for c in ClearingItem.objects.values("payer_id", "payee_id")
            .annotate(n=Sum("amount_fen"))}
    assert nets == {(world.issuer.pk, world.other.pk): 0}
    assert check_ledger() == {} and check_rights() == {}


def test_tier_grant_rights_are_not_claimed(world):
    right = world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=1, grant_period="month")
    with pytest.raises(RightNotApplicable):
        vouchers.claim(member=world.member(), right=right, request_no="TG1")


# --- tier grants -----------------------------------------------------------------------------

def test_the_tier_grant_job_is_scheduled_with_the_other_rights_jobs(db):
    tasks_scheduled = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"rights.grant_tier_rights", "rights.tidy_vouchers", "rights.release_lapsed_reservations",
            "hub.check_ledger"} <= tasks_scheduled


def test_the_grant_task_grants_this_period_once(world):
    right = world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=1, grant_period="week", tiers=("diamond",))
    holders = [world.member(tier_code="diamond") for _ in range(3)]
    world.member(tier_code="gold")
    assert tasks.grant_tier_rights() == 3
    assert tasks.grant_tier_rights() == 0  # run twice: nothing more
    assert set(Voucher.objects.filter(right=right).values_list("member_id", flat=True)) == {m.pk for m in holders}


def test_a_grant_run_killed_midway_then_run_again_grants_each_member_once(world, monkeypatch, caplog):
    right = world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=2, grant_period="month",
                        tiers=("platinum",))
    members = [world.member(tier_code="platinum") for _ in range(5)]
    now = local(2026, 12, 1, 0, 5)
    real = vouchers._create_voucher
    made = []

    def dies_after_three(**kwargs):
        if len(made) == 3:
            raise KeyboardInterrupt("worker killed")
        made.append(1)
        return real(**kwargs)

    monkeypatch.setattr(vouchers, "_create_voucher", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        vouchers.grant_for_period(right=right, now=now, batch=2)
    assert Voucher.objects.filter(right=right).count() == 3
    monkeypatch.setattr(vouchers, "_create_voucher", real)
    with caplog.at_level(logging.INFO, logger="rights.vouchers"):
        assert vouchers.grant_for_period(right=right, now=now, batch=2) == 7
    assert "members up to id" in caplog.text and "done, 5 members, 7 vouchers granted now" in caplog.text
    assert vouchers.grant_for_period(right=right, now=now + timedelta(days=2)) == 0
    for m in members:
        assert sorted(Voucher.objects.filter(right=right, member=m).values_list("grant_key", flat=True)) == [
            "2026-12#1", "2026-12#2"]
    assert vouchers.grant_for_period(right=right, now=local(2027, 1, 1, 0, 5)) == 10  # next period
    assert check_rights() == {}


def test_a_member_at_their_own_limit_is_skipped_and_the_run_goes_on(world):
    right = world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=1, grant_period="day", member_limit=1,
                        total_limit=3)
    a, b, c, d = (world.member() for _ in range(4))
    assert vouchers.grant_for_period(right=right, now=local(2026, 12, 1, 1)) == 3  # the total stops the run
    assert vouchers.grant_for_period(right=right, now=local(2026, 12, 2, 1)) == 0
    right2 = world.right(claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=1, grant_period="day", member_limit=1)
    vouchers.grant_for_period(right=right2, now=local(2026, 12, 1, 1))
    new = world.member()
    assert vouchers.grant_for_period(right=right2, now=local(2026, 12, 2, 1)) == 1  # the others are at their limit
    assert Voucher.objects.filter(right=right2, member=new).count() == 1
    assert {a.pk, b.pk, c.pk, d.pk} >= set(Voucher.objects.filter(right=right).values_list("member_id", flat=True))
    assert check_rights() == {}
