"""Sixun answers: the documented envelope for every result and every canonical error, signed."""

import re

import pytest

from hub.errors import CODES, DomainError, OrderNotExist, PointsInsufficient
from hub.gateway.base import CredentialKeys
from hub.vendors.sixun import signing, xmlcodec
from hub.vendors.sixun.adapter import SixunAdapter
from tests.hub.vendors.sixun.helpers import KEYS, REPLY_KEYS, SECRET, fields_for, signed_request

adapter = SixunAdapter()

CALLS = {
    "identify": ("member.query", [("member_code", "960000000000000000")]),
    "earn": ("point.earn", [("out_trade_no", "SX1"), ("member_code", "9600"), ("total_fee", "12850")]),
    "redeem": ("point.pay", [("out_trade_no", "SX2"), ("member_code", "9600"), ("point_amount", "500")]),
    "refund": ("point.refund", [("out_refund_no", "R1"), ("out_trade_no", "SX1"), ("refund_fee", "100")]),
    "reverse": ("point.reverse", [("out_trade_no", "SX3")]),
    "query": ("order.query", [("out_trade_no", "SX3")]),
    "day_end": ("day.end", [("biz_date", "20261125"), ("earn_count", "1"), ("earn_points", "128"),
                            ("pay_count", "0"), ("pay_points", "0"), ("refund_count", "0"), ("refund_points", "0")]),
}


def call_for(op, *, sign_type="MD5", charset="UTF-8"):
    service, business = CALLS[op]
    return adapter.parse(signed_request(fields_for(service, *business, sign_type=sign_type), charset=charset))


def answer(op, outcome, *, keys=REPLY_KEYS, **kwargs):
    response = adapter.render(call_for(op, **kwargs), outcome, keys)
    assert response.status_code == 200
    charset, document = xmlcodec.split_prolog(response.content)
    return response, list(xmlcodec.read_fields(document, charset).items())


RESULTS = [
    ("identify",
     {"member_ref": "m_7Hq2", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡", "points": 12800,
      "points_value_fen": 12800, "point_value_fen_per_100": 100, "pending_points": 0, "frozen_points": 0,
      "redeemable_points": 10000, "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_fen": 1000, "threshold_fen": 5000, "voucher": True},
                                       {"code": "R95", "name": "九五折", "discount_bp": 9500, "voucher": False}]},
     [("member_id", "m_7Hq2"), ("name_masked", "*明"), ("mobile_masked", "138****1234"), ("level", "金卡"),
      ("point_balance", "12800"), ("point_value_fee", "100"), ("redeemable_points", "10000"),
      ("rights", '[{"code":"VRAAAAAAAAAAAAAAAAAAAAAAAAAA","name":"满50减10","discount_fee":1000,"threshold_fee":5000,"voucher":true},'
                  '{"code":"R95","name":"九五折","discount_rate":"0.95","voucher":false}]')]),
    ("earn", {"request_no": "SX1", "points_earned": 128, "points_balance": 12928},
     [("points_earned", "128"), ("point_balance", "12928")]),
    ("redeem", {"request_no": "SX2", "points": 500, "amount_fen": 500, "points_balance": 12428},
     [("point_amount", "500"), ("deduct_fee", "500"), ("point_balance", "12428")]),
    ("refund", {"refund_no": "R1", "request_no": "SX1", "points_clawed_back": 1, "points_returned": 0,
                "amount_fen": 100, "points_balance": 12427},
     [("points_clawed_back", "1"), ("points_returned", "0"), ("point_balance", "12427")]),
    ("reverse", {"request_no": "SX3", "status": "REVERSED", "action": "tombstone"}, [("trade_state", "REVOKED")]),
    ("query", {"request_no": "SX3", "type": "earn", "status": "PART_REFUNDED", "points": 128, "amount_fen": 12850,
               "refunds": []},
     [("trade_state", "REFUND"), ("point_amount", "128"), ("total_fee", "12850")]),
    ("day_end", {"matched": False, "differences": [{"request_no": "SX1", "field": "points", "till": 128, "hub": 127}]},
     [("matched", "N"), ("differences", '[{"request_no":"SX1","field":"points","till":128,"hub":127}]')]),
]


@pytest.mark.parametrize(("op", "result", "business"), RESULTS, ids=[r[0] for r in RESULTS])
def test_success_renders_the_documented_fields_signed(op, result, business):
    response, fields = answer(op, result)
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert fields[:3] == [("return_code", "SUCCESS"), ("return_msg", "OK"), ("result_code", "SUCCESS")]
    assert fields[3:-2] == business
    assert [name for name, _ in fields[-2:]] == ["nonce_str", "sign"]
    assert signing.verify(dict(fields), SECRET, dict(fields)["sign"], "MD5")


@pytest.mark.parametrize(("status", "state"), [("SUCCESS", "SUCCESS"), ("REVERSED", "REVOKED"),
                                               ("REFUNDED", "REFUND"), ("PART_REFUNDED", "REFUND")])
def test_query_states(status, state):
    _, fields = answer("query", {"request_no": "SX3", "type": "redeem", "status": status, "points": 5,
                                 "amount_fen": 5, "refunds": []})
    assert dict(fields)["trade_state"] == state


# NO_AUTH is a business refusal once the message is authenticated (this store, this agreement).
MESSAGE_LEVEL = {"PARAM_ERROR", "SIGN_ERROR", "TIMESTAMP_EXPIRED", "NONCE_REUSED"}


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_canonical_error_has_its_envelope(code):
    error = DomainError(code=code)
    _, fields = answer("earn", error)
    values = dict(fields)
    if code in MESSAGE_LEVEL:
        assert [name for name, _ in fields[:4]] == ["return_code", "return_msg", "err_code", "err_code_des"]
        assert values["return_code"] == "FAIL"
        assert values["return_msg"] == CODES[code][1]
        assert "result_code" not in values
    else:
        assert fields[:3] == [("return_code", "SUCCESS"), ("return_msg", "OK"),
                              ("result_code", "PROCESSING" if code == "SYSTEM_ERROR" else "FAIL")]
    assert values["err_code"] == code
    assert values["err_code_des"] == CODES[code][1]
    assert "trade_state" not in values
    assert signing.verify(values, SECRET, values["sign"], "MD5")


def test_order_not_exist_on_a_query_is_trade_state_notfound():
    _, fields = answer("query", OrderNotExist())
    values = dict(fields)
    assert (values["result_code"], values["err_code"], values["trade_state"]) == ("FAIL", "ORDER_NOT_EXIST", "NOTFOUND")
    read = adapter.read_response(200, {}, adapter.render(call_for("query"), OrderNotExist(), REPLY_KEYS).content, KEYS)
    assert (read.ok, read.code, read.data, read.signature_valid) == (False, "ORDER_NOT_EXIST", {"trade_state": "NOTFOUND"}, True)


def test_hmac_requests_get_hmac_signed_answers():
    response, fields = answer("earn", {"points_earned": 1, "points_balance": 2}, sign_type="HMAC-SHA256")
    values = dict(fields)
    assert re.fullmatch(r"[0-9A-F]{64}", values["sign"])
    assert signing.verify(values, SECRET, values["sign"], "HMAC-SHA256")
    assert adapter.read_response(200, {}, response.content, KEYS).signature_valid is True


def test_the_secret_that_verified_the_request_signs_the_answer():
    keys = CredentialKeys(app_key="sx_test_app", secrets=("new-secret", SECRET), secret=SECRET)
    _, fields = answer("earn", {"points_earned": 1, "points_balance": 2}, keys=keys)
    assert signing.verify(dict(fields), SECRET, dict(fields)["sign"], "MD5")


def test_unauthenticated_answers_are_unsigned():
    response = adapter.render(None, DomainError(code="SIGN_ERROR"), None)
    assert b"<sign>" not in response.content
    read = adapter.read_response(200, {}, response.content, KEYS)
    assert (read.ok, read.code, read.signature_valid) == (False, "SIGN_ERROR", None)


def test_each_answer_has_a_fresh_nonce():
    nonces = {dict(answer("earn", PointsInsufficient())[1])["nonce_str"] for _ in range(3)}
    assert len(nonces) == 3


def test_gbk_request_is_answered_in_gbk_with_chinese_text():
    result = dict(RESULTS[0][1])
    response = adapter.render(call_for("identify", charset="GBK"), result, REPLY_KEYS)
    assert response["Content-Type"] == "text/xml; charset=GBK"
    assert response.content.startswith(b'<?xml version="1.0" encoding="GBK"?><xml>')
    assert "<name_masked>*明</name_masked><mobile_masked>".encode("gbk") in response.content
    assert "<level>金卡</level>".encode("gbk") in response.content
    read = adapter.read_response(200, {}, response.content, KEYS)
    assert (read.ok, read.signature_valid, read.data["level"]) == (True, True, "金卡")


def test_text_is_escaped_and_read_back_exactly():
    awkward = "<b>&amp;\"'</b>\r\nend"
    response, fields = answer("identify", {**RESULTS[0][1], "name_masked": awkward})
    assert b"<b>" not in response.content
    assert dict(fields)["name_masked"] == awkward
    assert adapter.read_response(200, {}, response.content, KEYS).signature_valid is True


def test_characters_gbk_lacks_become_question_marks_and_the_signature_still_holds():
    response = adapter.render(call_for("identify", charset="GBK"), {**RESULTS[0][1], "name_masked": "*😀"}, REPLY_KEYS)
    read = adapter.read_response(200, {}, response.content, KEYS)
    assert (read.data["name_masked"], read.signature_valid) == ("*?", True)


def test_an_altered_answer_fails_verification():
    response = adapter.render(call_for("earn"), {"points_earned": 128, "points_balance": 12928}, REPLY_KEYS)
    assert adapter.read_response(200, {}, response.content, KEYS).signature_valid is True
    altered = response.content.replace(b"<points_earned>128<", b"<points_earned>928<")
    read = adapter.read_response(200, {}, altered, KEYS)
    assert read.signature_valid is False
    assert adapter.read_response(200, {}, response.content, CredentialKeys(app_key="x", secrets=("y",))).signature_valid is False


def test_read_response_codes():
    ok = adapter.read_response(200, {}, adapter.render(call_for("earn"), {"points_earned": 1, "points_balance": 1},
                                                       REPLY_KEYS).content, KEYS)
    assert (ok.ok, ok.code, ok.data) == (True, "SUCCESS", {"points_earned": "1", "point_balance": "1"})
    unknown = adapter.read_response(200, {}, adapter.render(call_for("earn"), DomainError(), REPLY_KEYS).content, KEYS)
    assert (unknown.ok, unknown.code) == (False, "PROCESSING")
    refused = adapter.read_response(200, {}, adapter.render(call_for("redeem"), PointsInsufficient(), REPLY_KEYS).content,
                                    KEYS)
    assert (refused.ok, refused.code, refused.message) == (False, "POINTS_INSUFFICIENT", "积分余额不足")
    garbage = adapter.read_response(502, {}, b"<html>Bad Gateway</html>", KEYS)
    assert (garbage.ok, garbage.code) == (False, "PROCESSING")
