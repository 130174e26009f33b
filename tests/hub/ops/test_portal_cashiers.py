"""A merchant's manager manages their own cloud-POS cashiers from the portal, through the cloud
POS's services: only at their own stores, never another merchant's cashier, not as a clerk."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from hub.models import Cashier
from hub.ops.models import MerchantStaff
from tests.hub.ops.test_portal import pw  # noqa: F401 - the two-merchant portal world

NEW = reverse("ops:portal-cashier-new")


def test_a_manager_adds_a_cashier_at_their_own_store_and_can_stop_it(pw, client):  # noqa: F811
    a = pw.a
    client.force_login(a.user)
    page = client.get(NEW)
    assert page.status_code == 200 and "新增云POS收银员" in page.content.decode()
    answer = client.post(NEW, {"username": "a-new-cashier", "display_name": "小王", "password": "Till-pass-2026!",
                               "stores": [a.store.pk]})
    assert answer.status_code == 302
    cashier = Cashier.objects.get(user__username="a-new-cashier")
    assert cashier.merchant == a.merchant and list(cashier.stores.all()) == [a.store]
    assert not cashier.user.is_staff  # signs in at /pos/ only
    listing = client.get(reverse("ops:portal-list", args=["cashiers"])).content.decode()
    assert "a-new-cashier" in listing and "till-cashier-b" not in listing
    client.post(reverse("ops:portal-cashier-active", args=[cashier.pk]))
    assert Cashier.objects.get(pk=cashier.pk).active is False


def test_another_merchants_store_and_cashier_are_out_of_reach(pw, client):  # noqa: F811
    a, b = pw.a, pw.b
    client.force_login(a.user)
    answer = client.post(NEW, {"username": "sneaky", "password": "Till-pass-2026!", "stores": [b.store.pk]})
    assert answer.status_code == 400 and not get_user_model().objects.filter(username="sneaky").exists()
    theirs = Cashier.objects.get(user__username="till-cashier-b")
    assert client.post(reverse("ops:portal-cashier-active", args=[theirs.pk])).status_code == 404
    assert Cashier.objects.get(pk=theirs.pk).active is True


def test_a_bad_password_is_a_chinese_error_and_writes_nothing(pw, client):  # noqa: F811
    client.force_login(pw.a.user)
    answer = client.post(NEW, {"username": "weak", "password": "123", "stores": [pw.a.store.pk]})
    assert answer.status_code == 400 and "密码不符合要求" in answer.content.decode()
    assert not get_user_model().objects.filter(username="weak").exists()


@pytest.mark.parametrize("role", [MerchantStaff.Role.FINANCE, MerchantStaff.Role.CLERK])
def test_only_managers_manage_cashiers(pw, client, role):  # noqa: F811
    MerchantStaff.objects.filter(user=pw.a.user).update(role=role)
    client.force_login(pw.a.user)
    assert client.get(NEW).status_code == 404
    mine = Cashier.objects.get(user__username="till-cashier-a")
    assert client.post(reverse("ops:portal-cashier-active", args=[mine.pk])).status_code == 404
    assert Cashier.objects.get(pk=mine.pk).active is True
