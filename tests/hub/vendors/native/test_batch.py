"""Batch upload end to end over HTTP: per-item results in order, replay-safe, one bad item alone."""

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from hub.errors import ParamError
from hub.gateway.canonical import TillCommand
from hub.models import Merchant
from hub.vendors.native import signing
from hub.vendors.native.adapter import NativeAdapter
from members.codes import ref_for
from members.selectors import find_member
from points import selectors
from points.models import Operation, Posting, Program
from tests.hub.gateway.conftest import unique

from .helpers import SITE, request

MOBILE = "13800000001"  # the earn rate of the end-to-end flow: 1 point per yuan


def available(mobile: str = MOBILE) -> int:
    return selectors.balances(find_member(mobile=mobile), Program.objects.get(code="POSTAL"))["available"]


def ledger_rows() -> tuple[int, int]:
    return Operation.objects.count(), Posting.objects.count()


def item(op: str, **fields) -> TillCommand:
    fields.setdefault("business_time", timezone.now() - timedelta(hours=2))
    return TillCommand(op=op, **fields)


def send_batch(till, items: list, *, seconds: int = 0):
    command = till.command("batch", extra={"items": items})
    _, response = till.send_raw(command, timestamp=timezone.now() + timedelta(seconds=seconds))
    return response


def results(till, response) -> list[dict]:
    read = till.read(response)
    assert read.ok, read
    return read.data["items"]


def recent(minute: int) -> str:
    """An RFC 3339 business time inside the store-and-forward window."""
    return (timezone.now() - timedelta(hours=1) + timedelta(minutes=minute)).replace(microsecond=0).isoformat()


def test_mixed_items_run_in_order_each_with_its_own_result(sandbox):
    till = sandbox["native"]
    start = available()
    sale, refund = unique("OFF"), unique("OFFR")
    response = send_batch(till, [
        item("earn", request_no=sale, member=MOBILE, amount_fen=12850),
        item("refund", request_no=refund, original_request_no=unique("NEVER"), amount_fen=100),
        item("earn", request_no=unique("OFF"), member="13911112222", amount_fen=500),
    ])
    assert response.status_code == 200
    got = results(till, response)
    assert [(r["request_no"], r["code"]) for r in got] == [
        (sale, "SUCCESS"), (refund, "ORDER_NOT_EXIST"), (got[2]["request_no"], "MEMBER_NOT_FOUND")]
    assert got[0]["data"] == {"request_no": sale, "points_earned": 128, "points_balance": start + 128}
    assert got[1]["message"] and got[1]["data"] == {}
    assert available() == start + 128


def test_replaying_the_batch_returns_identical_results_and_does_nothing_twice(sandbox):
    till = sandbox["native"]
    start = available()
    sale = unique("OFF")
    items = [
        item("earn", request_no=sale, member=MOBILE, amount_fen=10000),
        item("refund", request_no=unique("OFFR"), original_request_no=sale, amount_fen=5000),
        item("earn", request_no=unique("OFF"), member="13911112222", amount_fen=500),
        item("reverse", original_request_no=unique("LOST")),
    ]
    first = results(till, send_batch(till, items))
    assert [r["code"] for r in first] == ["SUCCESS", "SUCCESS", "MEMBER_NOT_FOUND", "SUCCESS"]
    assert first[3]["data"]["action"] == "tombstone"
    after_first, rows = available(), ledger_rows()
    assert after_first == start + 100 - 50

    again = send_batch(till, items, seconds=1)
    assert results(till, again) == first
    assert (available(), ledger_rows()) == (after_first, rows)


def test_an_item_with_a_bad_field_is_refused_alone(sandbox):
    till = sandbox["native"]
    start = available()
    good = [unique("OFF"), unique("OFF")]
    body = {**SITE, "items": [
        {"op": "earn", "request_no": good[0], "member": MOBILE, "amount_fen": 1000,
         "business_time": recent(0)},
        {"op": "earn", "request_no": "BAD1", "member": MOBILE, "amount_fen": 10.5,
         "business_time": recent(1)},
        {"op": "earn", "request_no": good[1], "member": MOBILE, "amount_fen": 2000,
         "business_time": recent(2)},
        {"op": "refund", "request_no": "BAD2", "original_request_no": good[0], "amount_fen": 100,
         "member": MOBILE, "business_time": recent(3)},
        "not an object",
        {"op": "convert", "request_no": "BAD3"},
    ]}
    response = raw_post(till, body)
    got = results(till, response)
    assert [(r["request_no"], r["code"]) for r in got] == [
        (good[0], "SUCCESS"), ("BAD1", "PARAM_ERROR"), (good[1], "SUCCESS"), ("BAD2", "PARAM_ERROR"),
        ("", "PARAM_ERROR"), ("BAD3", "PARAM_ERROR")]
    assert got[1]["message"] == "参数类型错误：items[1].amount_fen（应为整数）"
    assert got[3]["message"] == "不支持的参数：items[3].member"
    assert got[4]["message"] == "参数类型错误：items[4]（应为 JSON 对象）"
    assert got[5]["message"] == "参数格式错误：items[5].op（应为 earn、refund 或 reverse）"
    assert available() == start + 10 + 20
    assert not Operation.objects.filter(request_no__in=["BAD1", "BAD2", "BAD3"]).exists()


def test_earn_items_keep_their_original_business_time(sandbox):
    till = sandbox["native"]
    when = timezone.now() - timedelta(days=1, hours=1)
    sale = unique("OFF")
    assert results(till, send_batch(till, [item("earn", request_no=sale, member=MOBILE, amount_fen=100,
                                                 business_time=when)]))[0]["code"] == "SUCCESS"
    op = Operation.objects.get(request_no=sale)
    assert op.business_time == when.replace(microsecond=0)
    assert op.business_date == timezone.localtime(when).date()


def test_a_full_batch_of_a_thousand_earns(sandbox):
    till = sandbox["native"]
    start = available()
    # named by opaque id: a batch may name only a few members by mobile (GATEWAY_BATCH_MAX_WEAK_ITEMS)
    ref = ref_for(member=find_member(mobile=MOBILE), merchant=Merchant.objects.get(code=till.merchant_code))
    items = [item("earn", request_no=unique("K"), member=ref, amount_fen=100) for _ in range(1000)]
    command = till.command("batch", extra={"items": items})
    spec, response = till.send_raw(command)
    assert len(spec.body) > 64 * 1024
    got = results(till, response)
    assert [r["request_no"] for r in got] == [i.request_no for i in items]
    assert {r["code"] for r in got} == {"SUCCESS"}
    assert available() == start + 1000


def test_an_earn_and_its_reverse_in_one_batch(sandbox):
    till = sandbox["native"]
    start = available()
    sale = unique("OFF")
    got = results(till, send_batch(till, [item("earn", request_no=sale, member=MOBILE, amount_fen=5000),
                                          item("reverse", original_request_no=sale)]))
    assert [r["code"] for r in got] == ["SUCCESS", "SUCCESS"]
    assert got[1]["data"] == {"request_no": sale, "status": "REVERSED", "action": "reverse"}
    assert available() == start


def test_one_item_failing_unexpectedly_does_not_hide_the_others(sandbox, monkeypatch):
    from hub.gateway import dispatch as dispatch_module

    real = dispatch_module.OPERATIONS["earn"]
    broken = unique("OFF")

    def flaky(place, command):
        if command.request_no == broken:
            raise RuntimeError("database went away")
        return real(place, command)

    monkeypatch.setitem(dispatch_module.OPERATIONS, "earn", flaky)
    till = sandbox["native"]
    got = results(till, send_batch(till, [item("earn", request_no=broken, member=MOBILE, amount_fen=100),
                                          item("earn", request_no=unique("OFF"), member=MOBILE, amount_fen=100)]))
    assert [r["code"] for r in got] == ["SYSTEM_ERROR", "SUCCESS"]


def raw_post(till, body: dict):
    """A signed batch body built by hand (the till may send what build_request never would)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    path, stamp, nonce = f"{till.adapter.prefix}/batch", str(int(timezone.now().timestamp())), unique("nonce")
    signature = signing.request_signature(till.keys.secret, method="POST", path=path, timestamp=stamp, nonce=nonce,
                                          body=data)
    header = signing.authorization_header(app_key=till.keys.app_key, timestamp=stamp, nonce=nonce,
                                          signature=signature)
    return till.client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=header)


@pytest.mark.parametrize(
    "body, message",
    [
        ({**SITE}, "缺少参数：items"),
        ({**SITE, "items": {}}, "参数类型错误：items（应为数组）"),
        ({**SITE, "items": []}, "参数超出范围：items（1 至 1000 条）"),
        ({"terminal_code": "P03", "items": [{}]}, "缺少参数：store_code"),
        ({**SITE, "items": [{}], "batch_no": "B1"}, "不支持的参数：batch_no"),
    ],
)
def test_the_batch_itself_refused(sandbox, body, message):
    till = sandbox["native"]
    before = ledger_rows()
    response = raw_post(till, body)
    read = till.read(response)
    assert response.status_code == 400 and read.code == "PARAM_ERROR" and read.message.startswith(message)
    assert "Hub-Signature" not in response  # the body is checked before the signature: nothing to sign with
    assert ledger_rows() == before


def test_a_bad_signature_refuses_the_whole_batch_unsigned(sandbox):
    till = sandbox["native"]
    before = ledger_rows()
    wrong = replace(till.keys, secrets=("not-the-secret",), secret="not-the-secret")
    command = till.command("batch", extra={"items": [item("earn", request_no=unique("OFF"), member=MOBILE,
                                                          amount_fen=100)]})
    _, response = till.send_raw(command, keys=wrong)
    assert response.status_code == 401 and "Hub-Signature" not in response
    assert ledger_rows() == before


# ---- the 1,000-item limit (parse only: no database) ---------------------------------------------

def _items(n: int) -> list[dict]:
    return [{"op": "earn", "request_no": f"B{i:05d}", "member": "M1", "amount_fen": 100,
             "business_time": "2026-11-25T09:00:00+08:00"} for i in range(n)]


def test_a_thousand_items_parse():
    parsed = NativeAdapter().parse(request("POST", "/batch", {**SITE, "items": _items(1000)}), op="batch")
    items = parsed.command.extra["items"]
    assert len(items) == 1000 and all(i.error is None for i in items)
    assert items[999].command == TillCommand(op="earn", **SITE, request_no="B00999", member="M1", amount_fen=100,
                                             business_time=items[0].command.business_time)


def test_a_thousand_and_one_items_are_refused():
    with pytest.raises(ParamError, match=r"参数超出范围：items（1 至 1000 条）"):
        NativeAdapter().parse(request("POST", "/batch", {**SITE, "items": _items(1001)}), op="batch")


def test_batch_body_limit_is_512_kib():
    body = json.dumps({**SITE, "items": _items(1)}).encode() + b" " * (512 * 1024)
    with pytest.raises(ParamError, match="请求体过大（上限 512 KiB）"):
        NativeAdapter().parse(request("POST", "/batch", body), op="batch")
