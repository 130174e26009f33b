"""Races on real PostgreSQL with real threads: one enrolment code used by several browsers at
once enrols exactly one; one request number sent from the page twice at once (a double tap the
page failed to stop, or a retry racing its original) is one operation."""

from __future__ import annotations

import importlib
import json
import secrets
import time

import pytest
from django.test import Client

from hub.demo import seed
from hub.errors import DomainError
from hub.models import Cashier, Credential, Terminal
from hub.vendors.cloudpos import auth, services
from members.codes import issue_member_code
from members.selectors import find_member
from points.models import Operation
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def terminal():
    from members.models import Tier

    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})
    seed()
    return Terminal.objects.get(store__merchant__code="DEMO_MKT", store__code="A01", code="CP01")


def test_one_enrolment_code_enrols_one_browser(terminal):
    cashier = Cashier.objects.get(user__username="cashier")
    _, code = services.issue_enrolment_code(terminal=terminal)

    def enrol(i):
        return services.enrol_device(code=code, cashier=cashier, client_key=f"10.0.0.{i}")

    results = race(6, enrol)
    won = [r for r in results if isinstance(r, tuple)]
    assert len(won) == 1, results
    assert all(isinstance(r, DomainError) and r.code == "PARAM_ERROR" for r in results if r not in won)
    assert Credential.objects.filter(vendor__code="cloudpos", merchant__code="DEMO_MKT", status="active").count() == 1


def test_the_same_request_number_twice_at_once_is_one_operation(terminal):
    cashier = Cashier.objects.get(user__username="cashier")
    _, code = services.issue_enrolment_code(terminal=terminal)
    _, app_key, secret = services.enrol_device(code=code, cashier=cashier)
    member_code, _ = issue_member_code(member=find_member(mobile="13800000002"))
    clients = []
    for _ in range(4):
        client = Client()
        client.force_login(cashier.user)
        session = client.session
        session[auth.SEEN_KEY] = int(time.time())
        session.save()
        client.cookies[auth.DEVICE_COOKIE] = auth.device_cookie(app_key, secret)
        clients.append(client)
    first = clients[0].post("/pos/api/identify", content_type="application/json", data=json.dumps(
        {"nonce": secrets.token_hex(8), "ts": int(time.time()), "store": "A01", "terminal": "CP01",
         "member": member_code})).json()
    ref = first["data"]["member_ref"]

    def earn(i):
        body = {"nonce": secrets.token_hex(8), "ts": int(time.time()), "store": "A01", "terminal": "CP01",
                "request_no": "CP01-RACE-1", "member": ref, "amount": "25.00"}
        return clients[i].post("/pos/api/earn", content_type="application/json", data=json.dumps(body)).json()

    answers = race(4, earn)
    assert all(a["ok"] for a in answers), answers
    assert len({json.dumps(a["data"], sort_keys=True) for a in answers}) == 1  # the same first answer
    assert Operation.objects.filter(request_no="CP01-RACE-1").count() == 1
