import itertools
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from hub.errors import ParamError, SignError
from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.vendors.kemai.adapter import KemaiAdapter

from .helpers import APP_ID, KEYS, NONCE, SECRET, VECTOR_BODY, VECTOR_SIGNATURE, header, request

adapter = KemaiAdapter()
BJ = timezone(timedelta(hours=8))
SITE = {"store_no": "S001", "pos_no": "P03"}
WHERE = {"store_code": "S001", "terminal_code": "P03"}
EARN = json.loads(VECTOR_BODY)


def test_the_contract_vector_parses_and_verifies():
    parsed = adapter.parse(request("POST", "/points/earn", VECTOR_BODY, authorization=header(VECTOR_SIGNATURE)),
                           op="earn")
    assert parsed.app_key == APP_ID
    assert parsed.nonce == NONCE
    assert parsed.timestamp == datetime.fromtimestamp(1764055801, tz=UTC)
    assert parsed.command == TillCommand(
        op="earn", operator="1001", request_no="KM20261125000123", member="M8KZ3Q7T", amount_fen=12850,
        business_time=datetime(2026, 11, 25, 15, 30, 1, tzinfo=BJ), **WHERE,
    )
    assert parsed.verify(KEYS) == SECRET


@pytest.mark.parametrize("order", list(itertools.permutations(("appid", "nonce_str", "timestamp", "signature"))))
def test_authorization_items_may_come_in_any_order(order):
    authorization = header(VECTOR_SIGNATURE, order=order)
    parsed = adapter.parse(request("POST", "/points/earn", VECTOR_BODY, authorization=authorization), op="earn")
    assert parsed.verify(KEYS) == SECRET


CASES = [
    ("POST", "/members/query", "identify", {}, {**SITE, "code": "960123456789012345"},
     TillCommand(op="identify", member="960123456789012345", **WHERE)),
    ("POST", "/points/earn", "earn", {}, {**EARN, "cashier_no": None, "trade_time": "2026-11-25T07:30:01Z"},
     TillCommand(op="earn", request_no="KM20261125000123", member="M8KZ3Q7T", amount_fen=12850,
                 business_time=datetime(2026, 11, 25, 7, 30, 1, tzinfo=UTC), **WHERE)),
    ("POST", "/points/redeem", "redeem", {},
     {"out_trade_no": "KR1", **SITE, "cashier_no": "1001", "member_id": "M1", "points": 500},
     TillCommand(op="redeem", operator="1001", request_no="KR1", member="M1", points=500, **WHERE)),
    ("POST", "/points/freeze", "freeze", {},
     {"out_trade_no": "KF1", **SITE, "cashier_no": "1001", "member_id": "M1", "points": "800"},
     TillCommand(op="freeze", operator="1001", request_no="KF1", member="M1", points=800, **WHERE)),
    ("POST", "/points/freeze/KF1/confirm", "confirm", {"out_trade_no": "KF1"}, {},
     TillCommand(op="confirm", original_request_no="KF1")),
    ("POST", "/points/freeze/KF1/unfreeze", "unfreeze", {"out_trade_no": "KF1"}, b"",
     TillCommand(op="unfreeze", original_request_no="KF1")),
    ("POST", "/refunds", "refund", {},
     {"out_refund_no": "KRF1", "out_trade_no": "KM1", "refund_amount": 6425, "refund_points": 250},
     TillCommand(op="refund", request_no="KRF1", original_request_no="KM1", amount_fen=6425, points=250)),
    ("POST", "/refunds", "refund", {}, {"out_refund_no": "KRF2", "out_trade_no": "KM1", "refund_amount": 0},
     TillCommand(op="refund", request_no="KRF2", original_request_no="KM1", amount_fen=0)),
    ("POST", "/trades/KM1/reverse", "reverse", {"out_trade_no": "KM1"}, {},
     TillCommand(op="reverse", original_request_no="KM1")),
    ("GET", "/trades/KM1", "query", {"out_trade_no": "KM1"}, b"", TillCommand(op="query", original_request_no="KM1")),
    ("POST", "/day-end", "day_end", {},
     {**SITE, "biz_date": "2026-11-25", "totals": {"earn": {"count": 3, "points": 380},
                                                   "redeem": {"count": 1, "points": 500},
                                                   "refund": {"count": 1, "points": 20}}},
     TillCommand(op="day_end", biz_date=date(2026, 11, 25), totals=DayEndTotals(3, 380, 1, 500, 1, 20), **WHERE)),
]


@pytest.mark.parametrize("method, path, op, kwargs, body, expected", CASES, ids=[c[2] for c in CASES])
def test_every_endpoint_maps_to_its_command(method, path, op, kwargs, body, expected):
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if v is not None}
    parsed = adapter.parse(request(method, path, body), op=op, **kwargs)
    assert parsed.command == expected
    assert parsed.context == {"op": op}
    assert parsed.verify(KEYS) == SECRET


# ---- signatures ---------------------------------------------------------------------------


def _earn_call(**kwargs):
    return adapter.parse(request("POST", "/points/earn", VECTOR_BODY, **kwargs), op="earn")


def test_wrong_secret_does_not_verify():
    assert _earn_call(secret="km-test-secret-0002").verify(KEYS) is None


def test_previous_secret_verifies_during_rotation():
    parsed = _earn_call()
    assert parsed.verify(CredentialKeys(app_key=APP_ID, secrets=("new", SECRET))) == SECRET
    assert parsed.verify(CredentialKeys(app_key=APP_ID, secrets=("new",))) is None


def test_keys_of_another_appid_do_not_verify():
    assert _earn_call().verify(CredentialKeys(app_key="km_other", secrets=(SECRET,))) is None


def test_signature_over_another_path_does_not_verify():
    assert _earn_call(sign_path="/gateway/kemai/v1/points/redeem").verify(KEYS) is None


def test_body_altered_after_signing_does_not_verify():
    authorization = header(VECTOR_SIGNATURE)
    altered = VECTOR_BODY.replace(b"12850", b"92850")
    parsed = adapter.parse(request("POST", "/points/earn", altered, authorization=authorization), op="earn")
    assert parsed.command.amount_fen == 92850
    assert parsed.verify(KEYS) is None


def test_query_string_is_part_of_the_signed_path():
    signed_without_query = request("GET", "/trades/KM1", sign_path="/gateway/kemai/v1/trades/KM1")
    signed_without_query.META["QUERY_STRING"] = "x=1"
    assert adapter.parse(signed_without_query, op="query", out_trade_no="KM1").verify(KEYS) is None
    signed_with_query = request("GET", "/trades/KM1?x=1")
    assert adapter.parse(signed_with_query, op="query", out_trade_no="KM1").verify(KEYS) == SECRET


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        f'WECHATPAY2-SHA256-RSA2048 appid="{APP_ID}",nonce_str="{NONCE}",timestamp="1764055801",signature="x"',
        f'KEMAI-HMAC-SHA256 appid="{APP_ID}",nonce_str="{NONCE}",timestamp="1764055801"',
        f'KEMAI-HMAC-SHA256 appid="{APP_ID}",nonce_str="{NONCE}",timestamp="1764055801",signature="x",signature="x"',
        header(VECTOR_SIGNATURE, timestamp="17640558O1"),
        header(VECTOR_SIGNATURE, nonce="bad nonce"),
        header("not base64!"),
        header(VECTOR_SIGNATURE) + "," + ",".join(f'x{i}="1"' for i in range(200)),
    ],
)
def test_missing_or_malformed_authorization_is_a_sign_error(authorization):
    with pytest.raises(SignError):
        adapter.parse(request("POST", "/points/earn", VECTOR_BODY, authorization=authorization),
                      op="earn")


def test_unknown_authorization_items_are_ignored():
    authorization = header(VECTOR_SIGNATURE) + ',serial_no="0001"'
    assert _earn_call(authorization=authorization).verify(KEYS) == SECRET


# ---- malformed requests ------------------------------------------------------------------


def _earn_body(**changes):
    body = {**EARN, **changes}
    raw = json.dumps({k: v for k, v in body.items() if v is not ...}, ensure_ascii=False)
    return raw.replace('"@float@"', "128.5").replace('"@float0@"', "12850.0").replace('"@exp@"', "1e4")


@pytest.mark.parametrize(
    "raw, field",
    [
        (_earn_body(order_amount="@float@"), "order_amount"),
        (_earn_body(order_amount="@float0@"), "order_amount"),
        (_earn_body(order_amount="@exp@"), "order_amount"),
        (_earn_body(order_amount="128.50"), "order_amount"),
        (_earn_body(order_amount=-1), "order_amount"),
        (_earn_body(order_amount=True), "order_amount"),
        (_earn_body(order_amount=10**10 + 1), "order_amount"),
        (_earn_body(order_amount=...), "order_amount"),
        (_earn_body(out_trade_no=...), "out_trade_no"),
        (_earn_body(out_trade_no="K" * 65), "out_trade_no"),
        (_earn_body(member_id=8), "member_id"),
        (_earn_body(store_no=...), "store_no"),
        (_earn_body(pos_no={"id": "P03"}), "pos_no"),
        (_earn_body(cashier_no=1001), "cashier_no"),
        (_earn_body(trade_time="2026-11-25T15:30:01"), "trade_time"),
        (_earn_body(trade_time="2026-11-25 15:30:01+08:00"), "trade_time"),
        (_earn_body(trade_time="2026-11-31T15:30:01+08:00"), "trade_time"),
        (_earn_body(trade_time=1764055801), "trade_time"),
        (_earn_body(trade_time=...), "trade_time"),
    ],
)
def test_bad_earn_fields_are_param_errors_naming_the_field(raw, field):
    with pytest.raises(ParamError) as caught:
        adapter.parse(request("POST", "/points/earn", raw.encode()), op="earn")
    assert field in caught.value.message


HOLD = {"out_trade_no": "KR1", **SITE, "member_id": "M1", "points": 5}
TOTALS = {"earn": {"count": 1, "points": 2}, "redeem": {"count": 0, "points": 0}, "refund": {"count": 0, "points": 0}}


@pytest.mark.parametrize(
    "path, op, body, field",
    [
        ("/points/redeem", "redeem", {**HOLD, "points": 0}, "points"),
        ("/points/redeem", "redeem", {**HOLD, "points": -5}, "points"),
        ("/points/freeze", "freeze", {**HOLD, "points": 10**13}, "points"),
        ("/points/freeze", "freeze", {k: v for k, v in HOLD.items() if k != "member_id"}, "member_id"),
        ("/refunds", "refund", {"out_refund_no": "R1", "out_trade_no": "K1", "refund_amount": -100}, "refund_amount"),
        ("/refunds", "refund", {"out_refund_no": "R1", "out_trade_no": "K1", "refund_amount": 1,
                                "refund_points": "x"}, "refund_points"),
        ("/refunds", "refund", {"out_trade_no": "K1", "refund_amount": 1}, "out_refund_no"),
        ("/members/query", "identify", {**SITE}, "code"),
        ("/day-end", "day_end", {**SITE, "biz_date": "2026-11-25"}, "totals"),
        ("/day-end", "day_end", {**SITE, "biz_date": "2026-11-25", "totals": [1]}, "totals"),
        ("/day-end", "day_end", {**SITE, "biz_date": "2026-11-25", "totals": {**TOTALS, "redeem": None}},
         "totals.redeem"),
        ("/day-end", "day_end", {**SITE, "biz_date": "2026-11-25",
                                 "totals": {**TOTALS, "refund": {"count": 1}}}, "totals.refund.points"),
        ("/day-end", "day_end", {**SITE, "biz_date": "2026-11-25",
                                 "totals": {**TOTALS, "earn": {"count": -1, "points": 0}}}, "totals.earn.count"),
        ("/day-end", "day_end", {**SITE, "biz_date": "25/11/2026", "totals": TOTALS}, "biz_date"),
    ],
)
def test_bad_fields_of_other_endpoints(path, op, body, field):
    with pytest.raises(ParamError) as caught:
        adapter.parse(request("POST", path, body), op=op)
    assert field in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b"", b"\xff\xfe{}", b'{"out_trade_no":"a","out_trade_no":"b"}',
     b'{"order_amount":NaN}', b"[" * 30000 + b"]" * 30000, b'{"pad":"' + b"x" * 70000 + b'"}'],
)
def test_malformed_bodies_are_param_errors(raw):
    with pytest.raises(ParamError):
        adapter.parse(request("POST", "/points/earn", raw), op="earn")


def test_a_non_object_body_on_a_path_endpoint_is_refused():
    with pytest.raises(ParamError):
        adapter.parse(request("POST", "/trades/KM1/reverse", b"[1]"), op="reverse", out_trade_no="KM1")


def test_over_long_path_number_is_refused():
    number = "K" * 65
    with pytest.raises(ParamError) as caught:
        adapter.parse(request("POST", f"/trades/{number}/reverse", b"{}"), op="reverse", out_trade_no=number)
    assert "out_trade_no" in caught.value.message


@pytest.mark.parametrize("method, op", [("GET", "earn"), ("POST", "query"), ("PUT", "day_end")])
def test_wrong_http_method_is_refused(method, op):
    with pytest.raises(ParamError):
        adapter.parse(request(method, "/x", b""), op=op, out_trade_no="KM1")


def test_unknown_operation_is_refused():
    with pytest.raises(ParamError):
        adapter.parse(request("POST", "/points/transfer", b"{}"), op="transfer")
