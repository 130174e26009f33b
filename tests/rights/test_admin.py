"""The rights admin: pages load for the right roles, and every action writes through services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from rights import redemption, vouchers
from rights.models import QuotaChange, Right, RightHistory, Voucher
from rights.roles import CHECKER, MAKER

pytestmark = pytest.mark.django_db


def _staff(client, group: str, name: str):
    user = get_user_model().objects.create_user(username=name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


PAGES = ["right", "voucher", "redemption", "quotacounter", "quotachange", "righthistory", "rightsfunding",
         "claimrequest"]


@pytest.mark.parametrize("group", [MAKER, CHECKER])
def test_every_rights_page_loads_for_both_roles(client, world, group):
    right = world.right()
    voucher = vouchers.claim(member=world.member(), right=right, request_no="C1")
    unused = vouchers.claim(member=world.member(), right=right, request_no="C2")
    redemption.redeem(merchant=world.shop, store=world.store, terminal=world.till, request_no="U1", voucher=voucher,
                      sale_fen=5000, discount_fen=1000)
    _staff(client, group, f"u-{group}")
    for page in PAGES:
        response = client.get(reverse(f"admin:rights_{page}_changelist"))
        assert response.status_code == 200, page
    assert client.get(reverse("admin:rights_right_change", args=[right.pk])).status_code == 200
    assert client.get(reverse("admin:rights_voucher_change", args=[voucher.pk])).status_code == 200
    by_store = client.get(reverse("admin:rights_voucher_changelist"), {"redemptions__store__id__exact": world.store.pk})
    assert by_store.status_code == 200
    assert voucher.member.postal_no in by_store.content.decode()
    assert unused.member.postal_no not in by_store.content.decode()
    page = client.get(reverse("admin:rights_right_changelist")).content.decode()
    assert "剩余可领" in page and "预算已用" in page and "今日核销" in page


def _add_form(world, **overrides):
    data = {
        "code": "ADM1", "name": "后台新建满减券", "kind": "amount_off", "description": "", "providers": [world.shop.pk],
        "funder": world.issuer.pk, "settlement_fen": "1000", "off_fen": "1000", "threshold_fen": "5000",
        "scenes": "", "weekdays": "", "claim_mode": "free", "grant_period": "", "member_period": "",
        "valid_days": "", "valid_from_date": "2026-11-01", "valid_until_date": "2026-11-30", "stack_group": "",
        "exclusive": "on",
        "counters-TOTAL_FORMS": "0", "counters-INITIAL_FORMS": "0",
        "history-TOTAL_FORMS": "0", "history-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_maker_creates_submits_checker_approves_maker_cannot(client, world):
    maker = _staff(client, MAKER, "maker-a")
    response = client.post(reverse("admin:rights_right_add"), _add_form(world))
    assert response.status_code == 302, response.content.decode()[:3000]
    right = Right.objects.get(code="ADM1")
    assert right.status == "draft" and right.created_by == maker
    assert right.valid_until.isoformat() == "2026-11-30T16:00:00+00:00"  # 1 Dec 00:00 +08:00
    changelist = reverse("admin:rights_right_changelist")
    client.post(changelist, {"action": "submit_selected", "_selected_action": [right.pk]})
    assert Right.objects.get(pk=right.pk).status == "pending_review"
    assert "approve_selected" not in client.get(changelist).content.decode()  # not the maker's action
    checker = _staff(client, CHECKER, "checker-a")
    client.post(changelist, {"action": "approve_selected", "_selected_action": [right.pk]})
    right.refresh_from_db()
    assert right.status == "active" and right.approved_by == checker
    assert list(RightHistory.objects.filter(right=right).order_by("id").values_list("action", flat=True)) == [
        "create", "submit", "approve"]


def test_a_checker_who_submitted_cannot_approve_it(client, world):
    user = get_user_model().objects.create_user(username="both", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=MAKER), Group.objects.get(name=CHECKER))
    client.force_login(user)
    right = world.right(activate=False)
    changelist = reverse("admin:rights_right_changelist")
    client.post(changelist, {"action": "submit_selected", "_selected_action": [right.pk]})
    response = client.post(changelist, {"action": "approve_selected", "_selected_action": [right.pk]}, follow=True)
    assert "不能审批自己创建或提交的权益" in response.content.decode()
    assert Right.objects.get(pk=right.pk).status == "pending_review"


def test_an_active_right_cannot_be_edited_through_its_page(client, world):
    right = world.right()
    _staff(client, MAKER, "maker-b")
    response = client.post(reverse("admin:rights_right_change", args=[right.pk]),
                           _add_form(world, code=right.code, name="偷改名称"))
    assert response.status_code in (200, 302, 403)
    assert Right.objects.get(pk=right.pk).name != "偷改名称"


def test_quota_change_page_is_compare_and_swap(client, world):
    right = world.right(budget_fen=1000)
    _staff(client, CHECKER, "checker-q")
    url = reverse("admin:rights_right_quota", args=[right.pk])
    assert client.get(url).status_code == 403  # the checker does not change quotas
    _staff(client, MAKER, "maker-q")
    assert client.get(url).status_code == 200
    stale = client.post(url, {"field": "budget_fen", "expected": "999", "new": "5000", "request_no": "ADM-Q1"})
    assert stale.status_code == 200 and "额度已被他人修改" in stale.content.decode()
    assert Right.objects.get(pk=right.pk).budget_fen == 1000
    done = client.post(url, {"field": "budget_fen", "expected": "1000", "new": "5000", "request_no": "ADM-Q2"})
    assert done.status_code == 302
    assert Right.objects.get(pk=right.pk).budget_fen == 5000
    assert QuotaChange.objects.get(request_no="ADM-Q2").expected_value == 1000


def test_deactivate_voucher_needs_a_reason(client, world):
    voucher = vouchers.claim(member=world.member(), right=world.right(), request_no="C1")
    _staff(client, MAKER, "maker-v")
    changelist = reverse("admin:rights_voucher_changelist")
    client.post(changelist, {"action": "deactivate_selected", "_selected_action": [voucher.pk], "reason": ""})
    assert Voucher.objects.get(pk=voucher.pk).state == "available"
    client.post(changelist, {"action": "deactivate_selected", "_selected_action": [voucher.pk], "reason": "会员投诉"})
    voucher.refresh_from_db()
    assert voucher.state == "deactivated" and voucher.deactivated_reason == "会员投诉"
    assert voucher.events.filter(action="deactivate").exists()


def test_checker_cannot_deactivate_vouchers(client, world):
    voucher = vouchers.claim(member=world.member(), right=world.right(), request_no="C1")
    _staff(client, CHECKER, "checker-v")
    client.post(reverse("admin:rights_voucher_changelist"),
                {"action": "deactivate_selected", "_selected_action": [voucher.pk], "reason": "x"})
    assert Voucher.objects.get(pk=voucher.pk).state == "available"


def test_voucher_search_by_mobile_never_echoes_it(client, world):
    member, other = world.member(), world.member()
    right = world.right()
    vouchers.claim(member=member, right=right, request_no="C1")
    vouchers.claim(member=other, right=right, request_no="C1")
    _staff(client, MAKER, "maker-s")
    response = client.get(reverse("admin:rights_voucher_changelist"), {"q": member.mobile})
    assert response.status_code == 302 and member.mobile not in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert member.postal_no in page and other.postal_no not in page
    assert member.mobile not in page and member.masked_mobile in page


def test_a_draft_is_edited_through_the_service_with_its_history(client, world):
    right = world.right(activate=False, code="EDIT1")
    _staff(client, MAKER, "maker-e")
    response = client.post(reverse("admin:rights_right_change", args=[right.pk]),
                           _add_form(world, code="EDIT1", settlement_fen="800", valid_from_date="",
                                     valid_until_date="", valid_days="7",
                                     **{"counters-TOTAL_FORMS": "0", "history-TOTAL_FORMS": "0"}))
    assert response.status_code == 302, response.content.decode()[:2000]
    right.refresh_from_db()
    assert (right.settlement_fen, right.valid_days, right.valid_until) == (800, 7, None)
    update = RightHistory.objects.get(right=right, action="update")
    assert update.changes["settlement_fen"] == [1000, 800]


def test_the_jobs_are_scheduled_and_registered():
    from django_celery_beat.models import PeriodicTask

    from hub.celery import app

    tasks = dict(PeriodicTask.objects.filter(task__startswith="rights.").values_list("task", "enabled"))
    assert tasks == {"rights.grant_tier_rights": True, "rights.tidy_vouchers": True,
                     "rights.release_lapsed_reservations": True}
    app.loader.import_default_modules()
    assert {"rights.grant_tier_rights", "rights.tidy_vouchers", "rights.release_lapsed_reservations"} <= set(app.tasks)
