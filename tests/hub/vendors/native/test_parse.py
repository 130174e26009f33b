"""Every endpoint parses to its command; strict validation names the field in Chinese."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.test import RequestFactory
from django.urls import resolve

from hub.errors import ParamError, SignError
from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import OPS, DayEndTotals, TillCommand
from hub.vendors.native import signing
from hub.vendors.native.adapter import NativeAdapter

from .helpers import APP_KEY, KEYS, NONCE, SECRET, SITE, VECTOR_BODY, header, request

adapter = NativeAdapter()
BJ = timezone(timedelta(hours=8))
SENT = datetime(2026, 11, 25, 7, 30, 1, tzinfo=UTC)
WHERE = {**SITE, "operator": "1001"}

COMMANDS = [
    TillCommand(op="identify", member="960123456789012345", **WHERE),
    TillCommand(op="earn", request_no="H1", member="M1", amount_fen=12850,
                business_time=datetime(2026, 11, 25, 15, 0, tzinfo=BJ), **WHERE),
    TillCommand(op="earn", request_no="H1b", member="13800000001", amount_fen=0, **SITE),
    TillCommand(op="redeem", request_no="H2", member="M1", points=500, amount_fen=500, **WHERE),
    TillCommand(op="freeze", request_no="H3", member="M1", points=800, extra={"sale_amount_fen": 5000}, **SITE),
    TillCommand(op="confirm", original_request_no="H3", **WHERE),
    TillCommand(op="unfreeze", original_request_no="H3"),
    TillCommand(op="refund", request_no="R1", original_request_no="H1", amount_fen=6425, points=250),
    TillCommand(op="refund", request_no="R2", original_request_no="H1", amount_fen=1, **WHERE),
    TillCommand(op="reverse", original_request_no="H1", **SITE),
    TillCommand(op="query", original_request_no="H1"),
    TillCommand(op="day_end", biz_date=date(2026, 11, 24), totals=DayEndTotals(5, 640, 2, 900, 1, 64), **WHERE),
]


def send(spec, **meta):
    """The request as the hub's own URLconf routes it, parsed by the adapter."""
    request = RequestFactory().generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                       headers=spec.headers, **meta)
    match = resolve(request.path_info)
    return adapter.parse(request, **match.kwargs)


def test_every_operation_is_covered():
    assert {c.op for c in COMMANDS} == set(OPS) - {"batch"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.op}-{c.request_no or c.original_request_no}")
def test_build_then_route_then_parse_gives_the_command_back(command):
    spec = adapter.build_request(command, keys=KEYS, nonce="n0nce-1234", timestamp=SENT)
    assert spec.method == ("GET" if command.op == "query" else "POST")
    parsed = send(spec)
    assert parsed.command == command
    assert parsed.command.extra == command.extra
    assert (parsed.app_key, parsed.nonce, parsed.timestamp) == (APP_KEY, "n0nce-1234", SENT)
    assert parsed.verify(KEYS) == SECRET
    assert parsed.verify(CredentialKeys(app_key=APP_KEY, secrets=("wrong",))) is None
    assert parsed.verify(CredentialKeys(app_key="other_app", secrets=(SECRET,))) is None


@pytest.mark.parametrize(
    "command, path, body",
    [
        (TillCommand(op="confirm", original_request_no="H3"), "/api/v1/till/freezes/H3/confirm", b"{}"),
        (TillCommand(op="unfreeze", original_request_no="H3"), "/api/v1/till/freezes/H3/unfreeze", b"{}"),
        (TillCommand(op="reverse", original_request_no="H1"), "/api/v1/till/trades/H1/reverse", b"{}"),
        (TillCommand(op="query", original_request_no="H1"), "/api/v1/till/trades/H1", b""),
        (TillCommand(op="day_end", biz_date=date(2026, 11, 24), totals=DayEndTotals(), **SITE),
         "/api/v1/till/day-end", b'{"store_code":"S001","terminal_code":"P03","biz_date":"2026-11-24","totals":'
         b'{"earn_count":0,"earn_points":0,"redeem_count":0,"redeem_points":0,"refund_count":0,"refund_points":0}}'),
    ],
)
def test_paths_and_bodies_as_documented(command, path, body):
    spec = adapter.build_request(command, keys=KEYS, nonce=NONCE, timestamp=SENT)
    assert (spec.path, spec.body) == (path, body)


def test_a_previous_secret_still_verifies_during_rotation():
    parsed = adapter.parse(request("POST", "/earn", VECTOR_BODY), op="earn")
    assert parsed.verify(CredentialKeys(app_key=APP_KEY, secrets=("new-secret", SECRET))) == SECRET


def test_path_ops_accept_an_empty_body():
    parsed = adapter.parse(request("POST", "/trades/H1/reverse", b""), op="reverse", request_no="H1")
    assert parsed.command == TillCommand(op="reverse", original_request_no="H1")
    assert parsed.verify(KEYS) == SECRET


def test_the_raw_request_target_is_what_is_verified_when_the_server_gives_it():
    spec = adapter.build_request(TillCommand(op="query", original_request_no="H1"), keys=KEYS, nonce=NONCE,
                                 timestamp=SENT)
    assert send(spec, RAW_URI="/api/v1/till/trades/H1").verify(KEYS) == SECRET
    assert send(spec, RAW_URI="/api/v1/till//trades/H1").verify(KEYS) is None


EARN = {**SITE, "request_no": "H1", "member": "M1", "amount_fen": 100}
HOLD = {**SITE, "request_no": "H2", "member": "M1", "points": 100}
REFUND = {"request_no": "R1", "original_request_no": "H1", "amount_fen": 100}
DAY_END = {**SITE, "biz_date": "2026-11-24", "totals": {"earn_count": 1, "earn_points": 1, "redeem_count": 0,
                                                         "redeem_points": 0, "refund_count": 0, "refund_points": 0}}


def _raw(body: str) -> bytes:
    return body.encode("utf-8")


@pytest.mark.parametrize(
    "op, body, message",
    [
        ("earn", {**EARN, "amount_fen": 100.0}, "参数类型错误：amount_fen（应为整数）"),
        ("earn", _raw('{"store_code":"S001","terminal_code":"P03","request_no":"H1","member":"M1","amount_fen":1e2}'),
         "参数类型错误：amount_fen（应为整数）"),
        ("earn", {**EARN, "amount_fen": "100"}, "参数类型错误：amount_fen（应为整数）"),
        ("earn", {**EARN, "amount_fen": True}, "参数类型错误：amount_fen（应为整数）"),
        ("earn", {**EARN, "amount_fen": -1}, "参数超出范围：amount_fen"),
        ("earn", {**EARN, "amount_fen": 10**10 + 1}, "参数超出范围：amount_fen"),
        ("earn", {k: v for k, v in EARN.items() if k != "amount_fen"}, "缺少参数：amount_fen"),
        ("earn", {**EARN, "amount_fen": None}, "缺少参数：amount_fen"),
        ("earn", {**EARN, "member": ""}, "缺少参数：member"),
        ("earn", {**EARN, "member": 13800000001}, "参数类型错误：member（应为字符串）"),
        ("earn", {**EARN, "member": "M" * 65}, "参数过长：member（最多 64 个字符）"),
        ("earn", {**EARN, "member": "M1\n"}, "参数格式错误：member"),
        ("earn", {**EARN, "member": " M1"}, "参数格式错误：member"),
        ("earn", {**EARN, "request_no": "H 1"}, "参数格式错误：request_no"),
        ("earn", {**EARN, "request_no": "单号1"}, "参数格式错误：request_no"),
        ("earn", {**EARN, "store_code": "S" * 33}, "参数过长：store_code"),
        ("earn", {**EARN, "terminal_code": ""}, "缺少参数：terminal_code"),
        ("earn", {**EARN, "out_trade_no": "H1"}, "不支持的参数：out_trade_no"),
        ("earn", {**EARN, "business_time": "2026-11-25 15:30:01"}, "时间格式错误：business_time"),
        ("earn", {**EARN, "business_time": "2026-11-25T15:30:01"}, "时间格式错误：business_time"),
        ("earn", {**EARN, "business_time": "2026-13-25T15:30:01+08:00"}, "时间格式错误：business_time"),
        ("earn", _raw("[1, 2]"), "请求体应为 JSON 对象"),
        ("earn", _raw('{"a":1,"a":2}'), "请求体不是有效的 JSON"),
        ("earn", _raw('{"amount_fen": NaN}'), "请求体不是有效的 JSON"),
        ("earn", b"\xff\xfe{}", "请求体不是有效的 UTF-8 编码"),
        ("earn", b"", "请求体不是有效的 JSON"),
        ("identify", {**SITE}, "缺少参数：member"),
        ("redeem", {**HOLD, "points": 0}, "参数超出范围：points"),
        ("redeem", {**HOLD, "points": 1.5}, "参数类型错误：points"),
        ("freeze", {**HOLD, "sale_amount_fen": "5000"}, "参数类型错误：sale_amount_fen"),
        ("refund", {**REFUND, "terminal_code": "P03"}, "缺少参数：store_code（给出 terminal_code 时必填）"),
        ("refund", {**REFUND, "member": "M1"}, "不支持的参数：member"),
        ("refund", {k: v for k, v in REFUND.items() if k != "original_request_no"}, "缺少参数：original_request_no"),
        ("day_end", {**DAY_END, "biz_date": "2026/11/24"}, "日期格式错误：biz_date"),
        ("day_end", {**DAY_END, "totals": [1, 2]}, "参数类型错误：totals（应为 JSON 对象）"),
        ("day_end", {**DAY_END, "totals": {**DAY_END["totals"], "earn_points": -1}}, "参数超出范围：totals.earn_points"),
        ("day_end", {**DAY_END, "totals": {**DAY_END["totals"], "extra": 1}}, "不支持的参数：totals.extra"),
        ("day_end", {**DAY_END, "totals": {"earn_count": 1}}, "缺少参数：totals.earn_points"),
    ],
)
def test_strict_fields(op, body, message):
    path = {"day_end": "/day-end"}.get(op, f"/{op}")
    with pytest.raises(ParamError) as refused:
        adapter.parse(request("POST", path, body), op=op)
    assert message in refused.value.message


@pytest.mark.parametrize(
    "op, method, path, body, kwargs, message",
    [
        ("earn", "GET", "/earn", b"", {}, "请求方法不支持（应为 POST）"),
        ("query", "POST", "/trades/H1", b"{}", {"request_no": "H1"}, "请求方法不支持（应为 GET）"),
        ("query", "GET", "/trades/H1", b"{}", {"request_no": "H1"}, "GET 请求不应有请求体"),
        ("query", "GET", "/trades/H1?store_code=S001", b"", {"request_no": "H1"}, "不支持查询参数"),
        ("reverse", "POST", "/trades/H.1/reverse", b"{}", {"request_no": "H.1"}, "参数格式错误：request_no"),
        ("confirm", "POST", "/freezes/H1/confirm", {"member": "M1"}, {"request_no": "H1"}, "不支持的参数：member"),
        ("nothing", "POST", "/nothing", b"{}", {}, "接口不存在"),
    ],
)
def test_method_path_and_query(op, method, path, body, kwargs, message):
    with pytest.raises(ParamError) as refused:
        adapter.parse(request(method, path, body), op=op, **kwargs)
    assert message in refused.value.message


def test_body_over_64_kib_is_refused_before_reading():
    body = json.dumps({**EARN, "member": "M1"}).encode() + b" " * (64 * 1024)
    with pytest.raises(ParamError, match="请求体过大"):
        adapter.parse(request("POST", "/earn", body), op="earn")


@pytest.mark.parametrize(
    "authorization, message",
    [
        ("", "缺少签名：Authorization"),
        ("Bearer abc", "签名头格式错误：Authorization"),
        (header("x" * 44), "签名头格式错误：signature"),
        (header("A" * 43 + "="), None),  # well-formed, wrong: verify says no
        (header("A" * 43 + "=", timestamp="17640558O1"), "签名头格式错误：timestamp"),
        (header("A" * 43 + "=", nonce="short"), "签名头格式错误：nonce"),
        (header("A" * 43 + "=", nonce="n" * 65), "签名头格式错误：nonce"),
        (header("A" * 43 + "=", app_key="应用"), "签名头格式错误：app_key"),
        ('HUB-HMAC-SHA256 app_key="hub_test_app",timestamp="1",nonce="abcdefgh"', "签名头缺少：signature"),
        ("HUB-HMAC-SHA256 " + "x" * 1100, "签名头格式错误：Authorization"),
    ],
)
def test_authorization_header(authorization, message):
    built = request("POST", "/earn", VECTOR_BODY, authorization=authorization or "")
    if message is None:
        assert adapter.parse(built, op="earn").verify(KEYS) is None
        return
    with pytest.raises(SignError) as refused:
        adapter.parse(built, op="earn")
    assert refused.value.message.startswith(message)


def test_signature_over_another_body_does_not_verify():
    signature = signing.request_signature(SECRET, method="POST", path="/api/v1/till/earn", timestamp="1764055801",
                                          nonce=NONCE, body=VECTOR_BODY.replace(b"12850", b"12851"))
    parsed = adapter.parse(request("POST", "/earn", VECTOR_BODY, authorization=header(signature)), op="earn")
    assert parsed.verify(KEYS) is None
