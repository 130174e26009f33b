"""The catalogue and its maker-checker workflow."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, transaction

from hub.errors import NoAuth, ParamError
from rights import catalogue
from rights.models import Right, RightHistory
from tests.rights.conftest import local


def test_create_right_with_local_days_stored_as_instants(world):
    right = world.right(activate=False, valid_days=None, valid_from_date=date(2026, 11, 1),
                        valid_until_date=date(2026, 11, 30))
    assert right.status == Right.Status.DRAFT
    assert right.valid_from == local(2026, 11, 1)
    assert right.valid_until == local(2026, 12, 1)  # "valid until 30 Nov" = until 1 Dec 00:00 +08:00
    assert right.created_by == world.maker
    assert RightHistory.objects.filter(right=right, action="create").count() == 1


@pytest.mark.parametrize("terms, message", [
    ({"kind": Right.Kind.PERCENT_OFF, "off_fen": None}, "折扣率"),
    ({"off_fen": None}, "立减金额"),
    ({"off_fen": 6000, "threshold_fen": 5000}, "门槛"),
    ({"kind": Right.Kind.SCENIC_TICKET}, "入园人数"),
    ({"settlement_fen": None}, "结算价"),
    ({"valid_days": None}, "有效期"),
    ({"rate_bp": 10000, "kind": Right.Kind.PERCENT_OFF}, "折扣率"),
    ({"weekdays": [0]}, "星期"),
    ({"settlement_fen": -1}, "非负整数"),
    ({"claim_mode": Right.ClaimMode.TIER_GRANT}, "按等级发放"),
    ({"claim_mode": Right.ClaimMode.POINTS}, "积分"),
])
def test_bad_terms_are_refused_and_nothing_is_written(world, terms, message):
    before = Right.objects.count()
    with pytest.raises(ParamError) as refused:
        world.right(activate=False, **terms)
    assert message in refused.value.message
    assert Right.objects.count() == before


def test_stores_must_belong_to_providers(world):
    from hub.models import Store

    foreign = Store.objects.create(merchant=world.other, code="X1", name="别家门店")
    with pytest.raises(ParamError):
        catalogue.create_right(code="RX", name="x", kind=Right.Kind.GIFT, funder=world.issuer, providers=[world.shop],
                               stores=[foreign], settlement_fen=100, valid_days=3)


def test_the_workflow_draft_review_active_paused_ended(world):
    right = world.right(activate=False)
    right = catalogue.submit_for_review(right=right, actor=world.maker)
    assert right.status == Right.Status.PENDING_REVIEW and right.submitted_by == world.maker
    with pytest.raises(ParamError):
        catalogue.update_right(right=right, actor=world.maker, name="改名")  # only drafts are edited
    right = catalogue.approve_right(right=right, actor=world.checker)
    assert right.status == Right.Status.ACTIVE and right.approved_by == world.checker
    right = catalogue.pause_right(right=right, actor=world.checker, reason="库存盘点")
    assert right.status == Right.Status.PAUSED
    with pytest.raises(ParamError):
        catalogue.pause_right(right=right, actor=world.checker)
    right = catalogue.resume_right(right=right, actor=world.checker)
    assert right.status == Right.Status.ACTIVE
    right = catalogue.end_right(right=right, actor=world.checker, reason="活动结束")
    assert right.status == Right.Status.ENDED and right.ended_at is not None
    with pytest.raises(ParamError):
        catalogue.resume_right(right=right, actor=world.checker)
    assert list(RightHistory.objects.filter(right=right).order_by("id").values_list("action", flat=True)) == [
        "create", "submit", "approve", "pause", "resume", "end"]


def test_the_maker_cannot_approve(world):
    right = catalogue.submit_for_review(right=world.right(activate=False), actor=world.maker)
    with pytest.raises(NoAuth):
        catalogue.approve_right(right=right, actor=world.maker)
    assert Right.objects.get(pk=right.pk).status == Right.Status.PENDING_REVIEW
    with pytest.raises(NoAuth):
        catalogue.approve_right(right=right, actor=None)


def test_the_submitter_cannot_approve_even_if_someone_else_made_it(world):
    right = catalogue.submit_for_review(right=world.right(activate=False), actor=world.checker)
    with pytest.raises(NoAuth):
        catalogue.approve_right(right=right, actor=world.checker)


def test_the_database_refuses_maker_approval_around_the_service(world):
    right = world.right(activate=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        Right.objects.filter(pk=right.pk).update(status="active", approved_by=world.maker)


def test_the_database_refuses_active_without_approval(world):
    right = world.right(activate=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        Right.objects.filter(pk=right.pk).update(status="active")


def test_reject_needs_a_reason_and_goes_back_to_draft(world):
    right = catalogue.submit_for_review(right=world.right(activate=False), actor=world.maker)
    with pytest.raises(ParamError):
        catalogue.reject_right(right=right, actor=world.checker, reason=" ")
    right = catalogue.reject_right(right=right, actor=world.checker, reason="结算价过高")
    assert right.status == Right.Status.DRAFT and right.submitted_by is None
    right = catalogue.update_right(right=right, actor=world.maker, settlement_fen=800)
    assert right.settlement_fen == 800


def test_approve_of_a_draft_is_refused(world):
    right = world.right(activate=False)
    with pytest.raises(ParamError):
        catalogue.approve_right(right=right, actor=world.checker)


def test_history_is_append_only(world):
    right = world.right()
    row = RightHistory.objects.filter(right=right).first()
    with pytest.raises(Exception) as refused, transaction.atomic():
        RightHistory.objects.filter(pk=row.pk).update(reason="改写历史")
    assert "append-only" in str(refused.value)
