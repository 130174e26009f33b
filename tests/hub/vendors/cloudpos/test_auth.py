"""The cloud-POS adapter's authentication and scoping, server side: the enrolled device (its
credential in the cookie), the cashier's session (log-in, idle timeout), CSRF, the place (own
merchant, own store, the device's terminal), the supervisor PIN, and the one-time enrolment code.
Every refusal leaves the ledger as it was."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from hub.demo import seed
from hub.errors import ParamError, RateLimited
from hub.models import Cashier, Merchant, PosDevice, Store, Terminal
from hub.vendors.cloudpos import auth, services
from hub.vendors.cloudpos.demo import DEMO_PASSWORD, DEMO_PIN, DEMO_USER
from members.codes import issue_member_code, ref_for
from members.selectors import find_member
from points.models import Operation

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    import importlib

    from members.models import Tier

    # a transactional test before this one may have flushed the tiers the migrations made
    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})
    seed()
    market = Merchant.objects.get(code="DEMO_MKT")
    return {"market": market, "food": Merchant.objects.get(code="DEMO_FOOD"),
            "terminal": Terminal.objects.get(store__merchant=market, store__code="A01", code="CP01")}


def enrolled_client(terminal, *, user=DEMO_USER, password=DEMO_PASSWORD, csrf=True) -> tuple[Client, PosDevice]:
    client = Client(enforce_csrf_checks=csrf)
    response = client.get("/pos/login/")
    token = response.cookies["csrftoken"].value
    response = client.post("/pos/login/", {"username": user, "password": password, "csrfmiddlewaretoken": token})
    assert response.status_code == 302, response.content.decode()
    cashier = Cashier.objects.get(user__username=user)
    _, code = services.issue_enrolment_code(terminal=terminal)
    device, app_key, secret = services.enrol_device(code=code, cashier=cashier)
    client.cookies[auth.DEVICE_COOKIE] = auth.device_cookie(app_key, secret)
    return client, device


def call(client: Client, op: str, *, store="A01", terminal="CP01", csrf=True, **fields) -> dict:
    body = {"nonce": secrets.token_hex(8), "ts": int(time.time()), "store": store, "terminal": terminal, **fields}
    headers = {}
    if csrf:
        token = client.cookies["csrftoken"].value
        headers["HTTP_X_CSRFTOKEN"] = token
    response = client.post(f"/pos/api/{op}", data=json.dumps(body), content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def ledger() -> int:
    return Operation.objects.count()


def code_for(mobile="13800000001") -> str:
    return issue_member_code(member=find_member(mobile=mobile))[0]


def test_an_enrolled_device_with_a_signed_in_cashier_is_served(world):
    client, _ = enrolled_client(world["terminal"])
    answer = call(client, "identify", member=code_for())
    assert answer["ok"] and answer["data"]["mobile_masked"] == "138****0001"
    earn = call(client, "earn", request_no="T-E1", member=answer["data"]["member_ref"], amount="12.34")
    assert earn["ok"] and Operation.objects.get(request_no="T-E1").amount_fen == 1234
    op = Operation.objects.get(request_no="T-E1")
    assert op.terminal_id == world["terminal"].pk and op.store.code == "A01"


def test_an_unenrolled_or_revoked_device_is_refused_like_a_bad_signature(world):
    client, device = enrolled_client(world["terminal"])
    before = ledger()
    del client.cookies[auth.DEVICE_COOKIE]
    assert call(client, "earn", request_no="T-1", member=code_for(), amount="1.00")["code"] == "SIGN_ERROR"
    client.cookies[auth.DEVICE_COOKIE] = auth.device_cookie(device.credential.app_key, "not-the-secret")
    assert call(client, "earn", request_no="T-2", member=code_for(), amount="1.00")["code"] == "SIGN_ERROR"
    client2, device2 = enrolled_client(world["terminal"])
    services.revoke_device(device=device2)
    answer = call(client2, "earn", request_no="T-3", member=code_for(), amount="1.00")
    assert answer["code"] == "SIGN_ERROR" and "登记" in answer["hint"]
    assert ledger() == before


def test_enrolling_again_stops_the_old_browser(world):
    old, _ = enrolled_client(world["terminal"])
    new, _ = enrolled_client(world["terminal"])
    assert call(old, "identify", member=code_for())["code"] == "SIGN_ERROR"
    assert call(new, "identify", member=code_for())["ok"]


def test_without_a_session_the_device_alone_does_nothing(world):
    client, _ = enrolled_client(world["terminal"])
    client.post("/pos/logout/", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    before = ledger()
    answer = call(client, "earn", request_no="T-1", member=code_for(), amount="1.00")
    assert answer["code"] == "NO_AUTH" and "登录" in answer["message"]
    assert ledger() == before


def test_csrf_is_required(world):
    client, _ = enrolled_client(world["terminal"])
    before = ledger()
    answer = call(client, "earn", csrf=False, request_no="T-1", member=code_for(), amount="1.00")
    assert answer["code"] == "NO_AUTH" and "刷新" in answer["message"]
    assert ledger() == before


def test_idle_timeout_ends_the_session(world, settings):
    client, _ = enrolled_client(world["terminal"])
    session = client.session
    session[auth.SEEN_KEY] = int(time.time()) - settings.POS_IDLE_SECONDS - 1
    session.save()
    answer = call(client, "identify", member=code_for())
    assert answer["code"] == "NO_AUTH" and "自动退出" in answer["message"]
    assert call(client, "identify", member=code_for())["message"] == "请先登录收银员账号"  # logged out
    assert client.get("/pos/").url == "/pos/login/"


def test_a_cashier_of_merchant_a_cannot_act_at_a_store_of_b(world):
    food_store = Store.objects.filter(merchant=world["food"]).first()
    services.add_cashier(merchant=world["food"], username="food_cashier", password="food-pass-2026x",
                         stores=[food_store])
    # the fresh market's device, a restaurant cashier signed in on it
    client, _ = enrolled_client(world["terminal"])
    client.post("/pos/logout/", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    token = client.get("/pos/login/").cookies["csrftoken"].value
    client.post("/pos/login/", {"username": "food_cashier", "password": "food-pass-2026x", "csrfmiddlewaretoken": token})
    before = ledger()
    answer = call(client, "earn", request_no="T-1", member=code_for(), amount="1.00")
    assert answer["code"] == "NO_AUTH" and "商户" in answer["message"]
    answer = call(client, "earn", store=food_store.code, terminal="P01", request_no="T-2", member=code_for(),
                  amount="1.00")
    assert answer["code"] == "NO_AUTH"
    assert ledger() == before


def test_a_cashier_acts_only_in_their_own_store(world):
    a02 = Store.objects.get(merchant=world["market"], code="A02")
    services.add_cashier(merchant=world["market"], username="a02_only", password="a02-pass-2026x", stores=[a02])
    owner, _ = enrolled_client(world["terminal"])
    before = ledger()
    # the device at A01 naming A02 (same merchant): refused
    answer = call(owner, "earn", store="A02", terminal="CP01", request_no="T-0", member=code_for(), amount="1.00")
    assert answer["code"] == "NO_AUTH" and "不符" in answer["message"]
    # a cashier of A02 on the A01 device: refused, and cannot enrol it either
    owner.post("/pos/logout/", HTTP_X_CSRFTOKEN=owner.cookies["csrftoken"].value)
    token = owner.get("/pos/login/").cookies["csrftoken"].value
    owner.post("/pos/login/", {"username": "a02_only", "password": "a02-pass-2026x", "csrfmiddlewaretoken": token})
    answer = call(owner, "earn", request_no="T-1", member=code_for(), amount="1.00")
    assert answer["code"] == "NO_AUTH" and "本门店" in answer["message"]
    assert owner.get("/pos/").status_code == 403
    _, code = services.issue_enrolment_code(terminal=world["terminal"])
    with pytest.raises(Exception) as refused:
        services.enrol_device(code=code, cashier=Cashier.objects.get(user__username="a02_only"))
    assert refused.value.code == "NO_AUTH"
    assert ledger() == before


def test_another_merchants_member_ref_does_not_exist_here(world):
    client, _ = enrolled_client(world["terminal"])
    ref = ref_for(member=find_member(mobile="13800000001"), merchant=world["food"])
    answer = call(client, "identify", member=ref)
    assert answer["code"] == "MEMBER_NOT_FOUND"


def test_reverse_needs_a_supervisor_pin_of_this_store_and_counts_failures(world):
    client, _ = enrolled_client(world["terminal"])
    ref = call(client, "identify", member=code_for())["data"]["member_ref"]
    assert call(client, "earn", request_no="T-R1", member=ref, amount="10.00")["ok"]
    cashier = Cashier.objects.get(user__username=DEMO_USER)
    assert cashier.pin_hash and DEMO_PIN not in cashier.pin_hash  # hashed
    food_store = Store.objects.filter(merchant=world["food"]).first()
    services.add_cashier(merchant=world["food"], username="food_boss", password="food-boss-2026x",
                         stores=[food_store], is_supervisor=True, pin="8642")
    for pin in ("", "8642", "1111"):  # none, another merchant's supervisor's, wrong
        answer = call(client, "reverse", original_request_no="T-R1", supervisor_pin=pin)
        assert answer["code"] == "NO_AUTH" and answer["message"] == "主管密码错误", answer
    assert Operation.objects.get(request_no="T-R1").status == "success"
    assert call(client, "reverse", original_request_no="T-R1", supervisor_pin=DEMO_PIN)["ok"]
    assert Operation.objects.get(request_no="T-R1").status == "reversed"
    for _ in range(3):
        call(client, "reverse", original_request_no="T-R1", supervisor_pin="9999")
    assert call(client, "reverse", original_request_no="T-R1", supervisor_pin=DEMO_PIN)["code"] == "RATE_LIMITED"


def test_enrolment_codes_are_one_time_keyed_digests_with_an_expiry(world):
    cashier = Cashier.objects.get(user__username=DEMO_USER)
    device, code = services.issue_enrolment_code(terminal=world["terminal"])
    device.refresh_from_db()
    assert len(code) == 10 and code not in device.code_digest and device.code_digest == services.code_digest(code)
    assert device.code_expires_at > timezone.now()
    services.enrol_device(code=code, cashier=cashier)
    with pytest.raises(ParamError):
        services.enrol_device(code=code, cashier=cashier)  # used up
    device, code = services.issue_enrolment_code(terminal=world["terminal"])
    with pytest.raises(ParamError):
        services.enrol_device(code=code, cashier=cashier, now=timezone.now() + timedelta(minutes=31))
    with pytest.raises(ParamError):  # a normal POS terminal takes no code
        services.issue_enrolment_code(terminal=Terminal.objects.filter(kind=Terminal.Kind.POS).first())


def test_guessing_enrolment_codes_is_throttled(world):
    cashier = Cashier.objects.get(user__username=DEMO_USER)
    _, code = services.issue_enrolment_code(terminal=world["terminal"])
    for n in range(services.ENROL_FAILURES_PER_10MIN):
        with pytest.raises(ParamError):
            services.enrol_device(code=f"{n:010d}", cashier=cashier, client_key="10.0.0.9")
    with pytest.raises(RateLimited):
        services.enrol_device(code=code, cashier=cashier, client_key="10.0.0.9")  # even the right one, for now
    services.enrol_device(code=code, cashier=cashier, client_key="10.0.0.10")


def test_only_cashiers_sign_in_at_the_till_and_inactive_ones_are_refused(world):
    get_user_model().objects.create_user("opsperson", password="ops-pass-2026x", is_staff=True)
    client = Client()
    response = client.post("/pos/login/", {"username": "opsperson", "password": "ops-pass-2026x"})
    assert response.status_code == 400 and "不是收银员账号" in response.content.decode()
    active, _ = enrolled_client(world["terminal"])
    Cashier.objects.filter(user__username=DEMO_USER).update(active=False)
    assert call(active, "identify", member=code_for())["code"] == "NO_AUTH"


def test_reads_are_scoped_to_the_cashier_and_device(world):
    anonymous = Client()
    assert anonymous.get("/pos/read/today").json()["code"] == "NO_AUTH"
    client, _ = enrolled_client(world["terminal"])
    today = client.get("/pos/read/today").json()
    assert today["ok"] and today["data"]["operations"] == [] and today["data"]["hub_totals"]["earn_count"] == 0
    quote = client.get("/pos/read/quote?points=1000").json()
    assert quote["ok"] and quote["data"]["points"] == 1000
    assert client.get("/pos/read/quote?points=-5").json()["code"] == "PARAM_ERROR"


def test_another_merchants_voucher_does_not_exist_here(world):
    from rights.models import Voucher
    from rights.vouchers import issue_display_code

    client, _ = enrolled_client(world["terminal"])
    voucher = Voucher.objects.filter(right__code="SBX_M50_10", state="available").first()  # sandbox merchants' right
    shown, _ = issue_display_code(voucher=voucher)
    before = ledger()
    answer = call(client, "identify", member=shown)
    assert not answer["ok"] and answer["code"] in ("VOUCHER_NOT_FOUND", "RIGHT_NOT_APPLICABLE"), answer
    assert ledger() == before and Voucher.objects.get(pk=voucher.pk).state == "available"


def test_the_till_page_sets_its_own_policy_and_no_inline_script(world):
    client, _ = enrolled_client(world["terminal"], csrf=False)
    response = client.get("/pos/")
    policy = response["Content-Security-Policy"]
    assert response.status_code == 200 and "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    html = response.content.decode()
    import re

    inline = [s for s in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
              if "src=" not in s[0] and "application/json" not in s[0]]
    assert inline == []
    assert client.get("/admin/").get("Content-Security-Policy", "").count("wasm") == 0
