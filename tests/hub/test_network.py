"""The network's invariants and its admin pages (Chinese, secrets shown once)."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from hub.credentials import active_secrets
from hub.demo import seed
from hub.models import Credential, Merchant, Store, Terminal, Vendor
from tests.hub.factories import (
    FANGXIANG_TEST_PUBLIC_KEY,
    MerchantFactory,
    StoreFactory,
    TerminalFactory,
    VendorFactory,
    make_credential,
)

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r'<code class="issued-secret">([^<]+)</code>')


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# ---- invariants --------------------------------------------------------------------------------


def test_store_code_is_unique_per_merchant_only():
    store = StoreFactory(code="S001")
    StoreFactory(code="S001")  # another merchant may use the same code
    with pytest.raises(IntegrityError), transaction.atomic():
        Store.objects.create(merchant=store.merchant, code="S001", name="重复门店")
    assert Store.objects.filter(merchant=store.merchant).count() == 1


def test_terminal_code_is_unique_per_store_only():
    terminal = TerminalFactory(code="P03")
    TerminalFactory(code="P03")
    with pytest.raises(IntegrityError), transaction.atomic():
        Terminal.objects.create(store=terminal.store, code="P03")
    assert terminal.store.terminals.count() == 1


def test_merchant_with_stores_cannot_be_deleted():
    store = StoreFactory()
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        store.merchant.delete()
    assert Merchant.objects.filter(pk=store.merchant_id).exists()


# ---- admin pages -------------------------------------------------------------------------------


@pytest.fixture
def seeded():
    seed()


@pytest.mark.parametrize(
    "model, verbose",
    [(Vendor, "收银软件厂商"), (Merchant, "商户"), (Store, "门店"), (Terminal, "终端"), (Credential, "接入凭证")],
)
def test_changelists_load_in_chinese(admin_client, seeded, model, verbose):
    response = admin_client.get(reverse(f"admin:hub_{model._meta.model_name}_changelist"))
    page = response.content.decode()
    assert response.status_code == 200
    assert f"选择 {verbose} 来修改" in page  # Django's own strings are translated too
    assert "邮政智慧场景积分清算中心" in page
    assert "Select " not in page


def test_change_pages_with_inlines_load(admin_client, seeded):
    merchant = Merchant.objects.get(code="DEMO_FOOD")
    page = admin_client.get(reverse("admin:hub_merchant_change", args=[merchant.pk])).content.decode()
    assert "八一广场店" in page and "门店" in page
    store = merchant.stores.get(code="S002")
    response = admin_client.get(reverse("admin:hub_store_change", args=[store.pk]))
    assert response.status_code == 200 and "P02" in response.content.decode()
    for name in ["vendor", "merchant", "store", "terminal", "credential"]:
        assert admin_client.get(reverse(f"admin:hub_{name}_add")).status_code == 200


def test_merchant_list_filters_by_scene(admin_client, seeded):
    url = reverse("admin:hub_merchant_changelist")
    page = admin_client.get(url, {"scene__exact": Merchant.Scene.MARKET}).content.decode()
    assert "南昌洪城智慧菜场" in page
    assert "赣味小馆餐饮连锁" not in page and "沙箱·科脉测试超市" not in page
    page = admin_client.get(url, {"kind__exact": Merchant.Kind.ISSUER}).content.decode()
    assert "中国邮政江西省分公司" in page and "南昌洪城智慧菜场" not in page


def _issue_via_admin(client, **fields):
    return client.post(reverse("admin:hub_credential_add"), {"app_key": "", "new_secret": "", "rsa_public_key": "", **fields})


def test_creating_a_credential_in_admin_shows_the_secret_once(admin_client):
    merchant = MerchantFactory(vendor=VendorFactory(code=Vendor.KEMAI))
    response = _issue_via_admin(admin_client, merchant=merchant.pk, vendor=merchant.vendor_id)

    assert response.status_code == 200
    page = response.content.decode()
    shown = SECRET_RE.findall(page)
    credential = Credential.objects.get(merchant=merchant)
    assert shown == [active_secrets(credential)[0]]
    secret = shown[0]
    assert "只显示这一次" in page
    assert "no-store" in response["Cache-Control"]
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in str(value) for value in admin_client.session.values())

    for url in [
        reverse("admin:hub_credential_change", args=[credential.pk]),
        reverse("admin:hub_credential_changelist"),
        reverse("admin:hub_credential_history", args=[credential.pk]),
        reverse("admin:hub_merchant_change", args=[merchant.pk]),
        reverse("admin:index"),
    ]:
        later = admin_client.get(url)
        assert later.status_code == 200
        assert secret not in later.content.decode(), url
    change_page = admin_client.get(reverse("admin:hub_credential_change", args=[credential.pk])).content.decode()
    assert credential.app_key in change_page and "不可查看" in change_page


def test_admin_issue_with_chosen_key_and_secret(admin_client):
    merchant = MerchantFactory()
    response = _issue_via_admin(
        admin_client, merchant=merchant.pk, vendor=merchant.vendor_id, app_key="chosen_app",
        new_secret="chosen-secret-000001", is_sandbox="on",
    )
    assert SECRET_RE.findall(response.content.decode()) == ["chosen-secret-000001"]
    credential = Credential.objects.get(app_key="chosen_app")
    assert credential.is_sandbox and active_secrets(credential) == ("chosen-secret-000001",)


def test_admin_bad_input_shows_chinese_error_and_writes_nothing(admin_client):
    merchant = MerchantFactory()
    response = _issue_via_admin(
        admin_client, merchant=merchant.pk, vendor=merchant.vendor_id, rsa_public_key=FANGXIANG_TEST_PUBLIC_KEY
    )
    assert response.status_code == 200
    assert "不接受 RSA 公钥" in response.content.decode()
    response = _issue_via_admin(admin_client, merchant=merchant.pk, vendor=merchant.vendor_id, new_secret="short")
    assert "密钥格式错误" in response.content.decode()
    assert not Credential.objects.exists()


def test_admin_registers_fangxiang_public_key_and_can_replace_it(admin_client):
    fangxiang = VendorFactory(code=Vendor.FANGXIANG)
    merchant = MerchantFactory(vendor=fangxiang)
    response = _issue_via_admin(
        admin_client, merchant=merchant.pk, vendor=fangxiang.pk, app_key="fx_admin", rsa_public_key=FANGXIANG_TEST_PUBLIC_KEY
    )
    assert response.status_code == 302  # nothing secret to show
    credential = Credential.objects.get(app_key="fx_admin")
    assert credential.rsa_public_key.strip() == FANGXIANG_TEST_PUBLIC_KEY.strip() and credential.secret == ""

    url = reverse("admin:hub_credential_change", args=[credential.pk])
    response = admin_client.post(url, {"rsa_public_key": "not a key"})
    assert response.status_code == 200 and "RSA 公钥无效" in response.content.decode()
    assert Credential.objects.get(pk=credential.pk).rsa_public_key == credential.rsa_public_key


def test_secret_credential_change_page_is_view_only(admin_client):
    credential, secret = make_credential()
    url = reverse("admin:hub_credential_change", args=[credential.pk])
    response = admin_client.post(url, {"rsa_public_key": FANGXIANG_TEST_PUBLIC_KEY, "app_key": "hijack"})
    assert response.status_code == 403
    stored = Credential.objects.get(pk=credential.pk)
    assert (stored.app_key, stored.rsa_public_key, active_secrets(stored)) == (credential.app_key, "", (secret,))


def _action(client, action, *credentials):
    return client.post(
        reverse("admin:hub_credential_changelist"),
        {"action": action, "_selected_action": [c.pk for c in credentials]},
    )


def test_rotate_action_shows_new_secret_once_and_keeps_old_in_overlap(admin_client):
    credential, old = make_credential()
    response = _action(admin_client, "rotate_secret", credential)
    assert response.status_code == 200
    shown = SECRET_RE.findall(response.content.decode())
    stored = Credential.objects.get(pk=credential.pk)
    assert shown == [stored.secret] and active_secrets(stored) == (shown[0], old)
    page = admin_client.get(reverse("admin:hub_credential_changelist")).content.decode()
    assert shown[0] not in page and "轮换中" in page


def test_emergency_rotation_kills_old_secret(admin_client):
    credential, old = make_credential()
    shown = SECRET_RE.findall(_action(admin_client, "rotate_secret_now", credential).content.decode())
    assert active_secrets(Credential.objects.get(pk=credential.pk)) == tuple(shown)


def test_revoke_action(admin_client):
    first, _ = make_credential()
    second, _ = make_credential()
    response = _action(admin_client, "revoke", first)
    assert response.status_code == 302
    assert Credential.objects.get(pk=first.pk).status == Credential.Status.REVOKED
    assert Credential.objects.get(pk=second.pk).is_active
    # revoking again and rotating a revoked one are refused with a message, nothing changes
    response = admin_client.post(
        reverse("admin:hub_credential_changelist"),
        {"action": "rotate_secret", "_selected_action": [first.pk]},
        follow=True,
    )
    assert "已吊销" in response.content.decode()
    assert Credential.objects.get(pk=first.pk).rotated_at is None


def test_credentials_cannot_be_deleted_in_admin(admin_client):
    credential, _ = make_credential()
    response = admin_client.post(reverse("admin:hub_credential_delete", args=[credential.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Credential.objects.filter(pk=credential.pk).exists()
