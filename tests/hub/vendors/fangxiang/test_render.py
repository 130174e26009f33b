"""Fangxiang answers: the documented envelope for every result and error, signed with the hub's key."""

import json

import pytest

from hub.errors import CODES, DomainError, OrderNotExist, ParamError, PointsInsufficient
from hub.vendors.fangxiang import envelope, signing
from hub.vendors.fangxiang.adapter import FangxiangAdapter
from tests.hub.vendors.fangxiang.helpers import (
    HUB_PRIVATE,
    HUB_PUBLIC,
    KEYS,
    VENDOR_PRIVATE,
    params_for,
    post,
)

adapter = FangxiangAdapter()
SITE = {"store_id": "S001", "terminal_id": "P03"}
BIZ = {
    "identify": ("fx.member.query", {**SITE, "member_code": "960000000000000000"}),
    "earn": ("fx.point.earn", {"out_trade_no": "FX1", **SITE, "member_code": "9600", "total_amount": "128.50"}),
    "redeem": ("fx.point.pay", {"out_trade_no": "FX2", **SITE, "member_code": "9600", "points": 500}),
    "refund": ("fx.point.refund", {"out_request_no": "FR1", "out_trade_no": "FX1", "refund_amount": "1.00"}),
    "reverse": ("fx.point.cancel", {"out_trade_no": "FX3"}),
    "query": ("fx.point.query", {"out_trade_no": "FX3"}),
    "day_end": ("fx.bill.dayend", {**SITE, "bill_date": "2026-11-25", "earn_count": 1, "earn_points": 128,
                                   "pay_count": 0, "pay_points": 0, "refund_count": 0, "refund_points": 0}),
}


def call_for(op):
    return adapter.parse(post(params_for(*BIZ[op])))


def render(op, outcome):
    response = adapter.render(call_for(op) if op else None, outcome, KEYS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return response.content


RESULTS = [
    ("identify",
     {"member_ref": "m_7Hq2", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡", "points": 12800,
      "points_value_fen": 12850, "point_value_fen_per_100": 100, "pending_points": 0, "frozen_points": 0,
      "redeemable_points": 10000,
      "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_fen": 1000, "threshold_fen": 5000, "voucher": True},
                 {"code": "R95", "name": "九五折", "discount_bp": 9500, "voucher": False}]},
     {"member_id": "m_7Hq2", "name_masked": "*明", "mobile_masked": "138****1234", "level": "金卡", "points": 12800,
      "points_amount": "128.50", "redeemable_points": 10000,
      "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_amount": "10.00", "threshold_amount": "50.00",
                  "voucher": True},
                 {"code": "R95", "name": "九五折", "discount_rate": "0.95", "voucher": False}]}),
    ("earn", {"request_no": "FX1", "points_earned": 128, "points_balance": 12928},
     {"points_earned": 128, "points_balance": 12928}),
    ("redeem", {"request_no": "FX2", "points": 500, "amount_fen": 505, "points_balance": 12428},
     {"points": 500, "deduct_amount": "5.05", "points_balance": 12428}),
    ("refund", {"refund_no": "FR1", "request_no": "FX1", "points_clawed_back": 1, "points_returned": 0,
                "amount_fen": 100, "points_balance": 12427},
     {"points_clawed_back": 1, "points_returned": 0, "points_balance": 12427}),
    ("reverse", {"request_no": "FX3", "status": "REVERSED", "action": "tombstone"}, {"action": "tombstone"}),
    ("query", {"request_no": "FX3", "type": "earn", "status": "PART_REFUNDED", "points": 128, "amount_fen": 12850,
               "refunds": []},
     {"trade_status": "PART_REFUNDED", "points": 128, "total_amount": "128.50"}),
    ("day_end", {"matched": True, "differences": []}, {"matched": True, "differences": []}),
]


@pytest.mark.parametrize(("op", "result", "business"), RESULTS, ids=[r[0] for r in RESULTS])
def test_success_renders_the_documented_fields(op, result, business):
    body = render(op, result)
    key = BIZ[op][0].replace(".", "_") + "_response"
    document = json.loads(body)
    assert list(document) == [key, "sign"]
    assert list(document[key].items()) == [("code", "10000"), ("msg", "Success"), *business.items()]


def test_the_signature_covers_the_exact_inner_text():
    body = render("earn", {"points_earned": 128, "points_balance": 12928}).decode()
    inner = '{"code":"10000","msg":"Success","points_earned":128,"points_balance":12928}'
    assert body.startswith('{"fx_point_earn_response":' + inner + ',"sign":"')
    assert signing.rsa_verify(inner, json.loads(body)["sign"], HUB_PUBLIC)


@pytest.mark.parametrize(("status", "trade_status"), [("SUCCESS", "SUCCESS"), ("REVERSED", "CANCELLED"),
                                                      ("REFUNDED", "REFUNDED"), ("PART_REFUNDED", "PART_REFUNDED")])
def test_query_statuses(status, trade_status):
    body = render("query", {"request_no": "FX3", "type": "earn", "status": status, "points": 1, "amount_fen": 1,
                            "refunds": []})
    assert json.loads(body)["fx_point_query_response"]["trade_status"] == trade_status


def test_cancel_reports_reverse_or_tombstone():
    for action in ("reverse", "tombstone"):
        body = render("reverse", {"request_no": "FX3", "status": "REVERSED", "action": action})
        assert json.loads(body)["fx_point_cancel_response"]["action"] == action


EXPECTED_CODES = {
    "SYSTEM_ERROR": ("20000", "Service Currently Unavailable"),
    "PARAM_ERROR": ("40002", "Invalid Arguments"),
    "SIGN_ERROR": ("40002", "Invalid Arguments"),
    "TIMESTAMP_EXPIRED": ("40002", "Invalid Arguments"),
    "NONCE_REUSED": ("40002", "Invalid Arguments"),
    "NO_AUTH": ("40006", "Insufficient Permissions"),
}


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_canonical_error_has_its_envelope(code):
    body = render("redeem", DomainError(code=code))
    inner = json.loads(body)["fx_point_pay_response"]
    gateway_code, msg = EXPECTED_CODES.get(code, ("40004", "Business Failed"))
    assert inner == {"code": gateway_code, "msg": msg, "sub_code": f"FX.{code}", "sub_msg": CODES[code][1]}
    read = adapter.read_response(200, {}, body, KEYS)
    assert (read.ok, read.signature_valid) == (False, True)
    assert read.code == ("PROCESSING" if code == "SYSTEM_ERROR" else code)


def test_a_missing_parameter_is_40001():
    with pytest.raises(ParamError) as refused:
        adapter.parse(post(params_for("fx.point.pay", BIZ["redeem"][1], sign=None)))
    body = adapter.render(None, refused.value, None).content
    assert json.loads(body) == {
        "fx_point_pay_response": {"code": "40001", "msg": "Missing Required Arguments", "sub_code": "FX.PARAM_ERROR",
                                  "sub_msg": "缺少参数：sign"},
        "sign": json.loads(body)["sign"],
    }
    assert adapter.read_response(200, {}, body, KEYS).signature_valid is True


def test_an_unparseable_request_is_answered_as_error_response():
    with pytest.raises(ParamError) as refused:
        adapter.parse(post(b"\xff\xfe"))
    body = adapter.render(None, refused.value, None).content
    document = json.loads(body)
    assert list(document) == ["error_response", "sign"]
    assert document["error_response"]["code"] == "40002"
    read = adapter.read_response(200, {}, body, KEYS)
    assert (read.code, read.signature_valid) == ("PARAM_ERROR", True)


def test_read_response_codes():
    ok = adapter.read_response(200, {}, render("earn", {"points_earned": 1, "points_balance": 2}), KEYS)
    assert (ok.ok, ok.code, ok.message, ok.data, ok.signature_valid) == (
        True, "SUCCESS", "Success", {"points_earned": 1, "points_balance": 2}, True)
    refused = adapter.read_response(200, {}, render("redeem", PointsInsufficient()), KEYS)
    assert (refused.ok, refused.code, refused.message) == (False, "POINTS_INSUFFICIENT", "积分余额不足")
    missing = adapter.read_response(200, {}, render("query", OrderNotExist()), KEYS)
    assert missing.code == "ORDER_NOT_EXIST"
    garbage = adapter.read_response(502, {}, b"<html>Bad Gateway</html>", KEYS)
    assert (garbage.ok, garbage.code, garbage.signature_valid) == (False, "PROCESSING", False)


def test_an_altered_answer_fails_verification():
    body = render("earn", {"points_earned": 128, "points_balance": 12928})
    assert adapter.read_response(200, {}, body, KEYS).signature_valid is True
    altered = body.replace(b'"points_earned":128', b'"points_earned":928')
    assert adapter.read_response(200, {}, altered, KEYS).signature_valid is False
    spaced = body.replace(b'"points_earned":128', b'"points_earned": 128')  # same JSON, other text
    assert adapter.read_response(200, {}, spaced, KEYS).signature_valid is False


def test_answers_signed_with_another_key_fail(settings):
    body = render("earn", {"points_earned": 1, "points_balance": 2})
    settings.FANGXIANG_HUB_PRIVATE_KEY = VENDOR_PRIVATE  # the hub's key is now another one
    assert adapter.read_response(200, {}, body, KEYS).signature_valid is False


def test_the_reader_takes_the_inner_text_verbatim_whatever_the_layout():
    inner = '{ "code" : "10000",\n "msg":"Success", "points_earned": 1 }'
    sign = signing.rsa_sign(inner, HUB_PRIVATE)
    body = ('{ "sign" : "' + sign + '" ,\n "fx_point_earn_response" : ' + inner + " }\n").encode()
    key, raw, parsed, read_sign = envelope.read_signed(body)
    assert (key, raw, parsed["points_earned"], read_sign) == ("fx_point_earn_response", inner, 1, sign)
    assert adapter.read_response(200, {}, body, KEYS).signature_valid is True


@pytest.mark.parametrize("body", [b"[]", b'{"a_response":{}', b'{"a_response":{},"b_response":{}}', b'{"x":1}',
                                  b'{"a_response":[]}', b'{"a_response":{}} trailing', b'{"a_response":{},"sign":1}'])
def test_malformed_answers_are_refused_by_the_reader(body):
    with pytest.raises(ValueError):
        envelope.read_signed(body)
