"""The cloud POS's ops pages (Chinese) and its `make run` demo: cashiers added through the
service (a supervisor's PIN hashed), enrolment codes issued through the service and shown once,
devices stopped at once; the demo cashier, PIN and a fresh enrolment code printed by devrun."""

from __future__ import annotations

import importlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from hub.demo import seed
from hub.models import Cashier, PosDevice, Store, Terminal

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops():
    from members.models import Tier

    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})
    seed()
    user = get_user_model().objects.create_superuser("ops", "ops@example.invalid", "ops-pass-2026x")
    client = Client()
    client.force_login(user)
    return client


def test_add_a_cashier_with_a_supervisor_pin(ops):
    store = Store.objects.get(merchant__code="DEMO_MKT", code="A02")
    page = ops.get("/admin/hub/cashier/add/")
    assert page.status_code == 200 and "主管密码" in page.content.decode() and "初始密码" in page.content.decode()
    form = {"merchant": store.merchant_id, "stores": [store.pk], "display_name": "王阿姨", "username": "wang",
            "password": "wang-pass-2026x", "is_supervisor": "on", "pin": "1234"}
    refused = ops.post("/admin/hub/cashier/add/", {**form, "pin": "1111"})
    assert refused.status_code == 200 and "过于简单" in refused.content.decode()
    other = Store.objects.get(merchant__code="DEMO_FOOD", code="S001")
    refused = ops.post("/admin/hub/cashier/add/", {**form, "stores": [other.pk]})
    assert "门店必须属于该收银员的商户" in refused.content.decode()
    assert not Cashier.objects.filter(user__username="wang").exists()
    done = ops.post("/admin/hub/cashier/add/", {**form, "pin": "3907"})
    assert done.status_code == 302
    cashier = Cashier.objects.get(user__username="wang")
    assert cashier.is_supervisor and cashier.pin_hash and "3907" not in cashier.pin_hash
    assert list(cashier.stores.all()) == [store] and not cashier.user.is_staff
    assert cashier.user.check_password("wang-pass-2026x")


def test_issue_an_enrolment_code_shown_once_and_stop_a_device(ops):
    device = PosDevice.objects.get(terminal__store__merchant__code="DEMO_MKT", terminal__code="CP01",
                                   terminal__store__code="A01")
    page = ops.post("/admin/hub/posdevice/", {"action": "issue_codes", "_selected_action": [device.pk]})
    html = page.content.decode()
    assert page.status_code == 200 and "只显示这一次" in html and "no-store" in page["Cache-Control"]
    code = re.search(r"<strong[^>]*>(\d{10})</strong>", html).group(1)
    device.refresh_from_db()
    assert code not in device.code_digest and device.code_digest
    from hub.vendors.cloudpos.services import enrol_device

    device, _, _ = enrol_device(code=code, cashier=Cashier.objects.get(user__username="cashier"))
    listing = ops.get("/admin/hub/posdevice/").content.decode()
    assert "已登记" in listing and code not in listing
    ops.post("/admin/hub/posdevice/", {"action": "stop_devices", "_selected_action": [device.pk]})
    device.refresh_from_db()
    assert device.credential.status == "revoked"


def test_devrun_prints_the_demo_cashier_and_a_working_enrolment_code():
    from members.models import Tier

    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})
    seed()
    from hub.management.commands.devrun import pos_demo_lines

    text = pos_demo_lines("127.0.0.1:8000")
    assert "http://127.0.0.1:8000/pos/" in text and "cashier" in text and "cashier-hub-2026" in text
    code = re.search(r"登记码（洪城菜场一号馆 CP01，24 小时内有效）: (\d{10})", text).group(1)
    cashier = Cashier.objects.get(user__username="cashier")
    assert cashier.user.check_password("cashier-hub-2026")
    assert set(cashier.stores.values_list("code", flat=True)) == {"A01", "A02", "A03"}
    from hub.vendors.cloudpos.services import enrol_device

    device, _, _ = enrol_device(code=code, cashier=cashier)
    assert device.terminal == Terminal.objects.get(store__merchant__code="DEMO_MKT", store__code="A01", code="CP01")
