"""The native API over HTTP through its DRF views and the gateway: the two-phase payment, the
HTTP status of refusals, signed answers, and what DRF must not add."""

import json
from dataclasses import replace

from django.utils import timezone

from hub.gateway.canonical import DayEndTotals
from hub.models import TillCall
from members.codes import issue_member_code
from members.selectors import find_member
from points import selectors
from points.models import Operation, Program
from tests.hub.gateway.conftest import unique

MOBILE = "13800000002"


def available() -> int:
    return selectors.balances(find_member(mobile=MOBILE), Program.objects.get(code="POSTAL"))["available"]


def member_ref(till) -> str:
    code, _ = issue_member_code(member=find_member(mobile=MOBILE))
    seen = till.send("identify", member=code)
    assert seen.ok, seen
    assert set(seen.data) >= {"member_ref", "name_masked", "mobile_masked", "points", "redeemable_points"}
    assert MOBILE not in json.dumps(seen.data)
    return seen.data["member_ref"]


def test_freeze_then_confirm_then_query(sandbox):
    till = sandbox["native"]
    ref, start = member_ref(till), available()
    pay = unique("F")
    held = till.send("freeze", request_no=pay, member=ref, points=800)
    assert held.ok, held
    assert held.data["points"] == 800 and held.data["expires_at"].endswith("+08:00")
    assert available() == start - 800
    confirmed = till.send("confirm", original_request_no=pay)
    assert confirmed.ok and confirmed.data["request_no"] == pay
    state = till.send("query", original_request_no=pay)
    assert state.ok and state.data["status"] == "SUCCESS" and state.data["points"] == 800
    assert available() == start - 800


def test_freeze_then_unfreeze_gives_the_points_back(sandbox):
    till = sandbox["native"]
    ref, start = member_ref(till), available()
    pay = unique("F")
    assert till.send("freeze", request_no=pay, member=ref, points=500).ok
    released = till.send("unfreeze", original_request_no=pay)
    assert released.ok and released.data == {"request_no": pay, "status": "UNFROZEN",
                                              "points_balance": released.data["points_balance"]}
    assert available() == start
    assert Operation.objects.get(request_no=pay).status == "released"


def test_refusals_carry_their_http_status_and_are_signed(sandbox):
    till = sandbox["native"]
    _, response = till.send_raw(till.command("query", original_request_no=unique("NONE")))
    assert response.status_code == 404
    read = till.read(response)
    assert (read.code, read.signature_valid) == ("ORDER_NOT_EXIST", True)


def test_day_end_over_http(sandbox):
    till = sandbox["native"]
    read = till.send("day_end", biz_date=timezone.localdate(), totals=DayEndTotals(earn_count=3, earn_points=10**6))
    assert read.ok, read
    assert read.data["matched"] is False
    assert {d["field"] for d in read.data["differences"]} >= {"earn_count", "earn_points"}


def test_another_method_reaches_the_gateway_and_is_refused_there(sandbox):
    till = sandbox["native"]
    before = TillCall.objects.count()
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):
        response = till.client.generic(method, "/api/v1/till/earn")
        assert response.status_code == 400, method
        assert json.loads(response.content) == {"code": "PARAM_ERROR", "message": "请求方法不支持（应为 POST）",
                                                "data": {}}
    assert TillCall.objects.count() == before + 4


def test_the_accept_header_changes_nothing(sandbox):
    till = sandbox["native"]
    for accept in ("application/xml", "text/html", "*/*"):
        spec = till.adapter.build_request(till.command("identify", member="13800000001"), keys=till.keys,
                                          nonce=unique("nonce"), timestamp=timezone.now())
        response = till.client.post(spec.path, data=spec.body, content_type=spec.content_type,
                                    HTTP_ACCEPT=accept, HTTP_AUTHORIZATION=spec.headers["Authorization"])
        assert response.status_code == 200 and response["Content-Type"] == "application/json; charset=utf-8"
        assert till.read(response).ok


def test_a_credential_of_another_dialect_is_refused(sandbox):
    till = sandbox["native"]
    kemai = sandbox["kemai"].keys
    _, response = till.send_raw(till.command("identify", member="13800000001"),
                                keys=replace(kemai, secret=kemai.secrets[0]))
    # refused like an unknown key or a bad signature: the answer does not say the key exists
    assert response.status_code == 401 and till.read(response).code == "SIGN_ERROR"
