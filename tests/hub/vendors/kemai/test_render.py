import json
from datetime import UTC, datetime

import pytest

from hub import errors
from hub.gateway.base import CredentialKeys
from hub.vendors.kemai import signing
from hub.vendors.kemai.adapter import KemaiAdapter

from .helpers import APP_ID, KEYS, RESPONSE_VECTOR, SECRET, VECTOR_BODY, request

adapter = KemaiAdapter(clock=lambda: 1764055802.9, nonce_factory=lambda: "0f9e8d7c6b5a49382716")

# The contract's status table, written out independently of the adapter's own.
DOCUMENTED_STATUS = {
    "PARAM_ERROR": 400, "SIGN_ERROR": 401, "TIMESTAMP_EXPIRED": 401, "NONCE_REUSED": 401, "NO_AUTH": 403,
    "ORDER_NOT_EXIST": 404, "MEMBER_NOT_FOUND": 404, "ORDER_REVERSED": 409, "IDEMPOTENCY_KEY_REUSED": 409,
    "POINTS_INSUFFICIENT": 422, "REDEEM_LIMIT_EXCEEDED": 422, "MEMBER_CODE_EXPIRED": 422, "FREEZE_EXPIRED": 422,
    "REFUND_EXCEEDS_ORIGINAL": 422, "RATE_LIMITED": 429, "SYSTEM_ERROR": 500,
    "VOUCHER_NOT_FOUND": 404, "VOUCHER_USED": 422, "VOUCHER_EXPIRED": 422, "RIGHT_NOT_APPLICABLE": 422,
    "QUOTA_EXHAUSTED": 422,
    "TOKEN_EXPIRED": 401, "WECHAT_CODE_INVALID": 400, "UPSTREAM_BUSY": 503, "PHONE_NOT_MEMBER": 404,
    "PHONE_BOUND_OTHER": 409, "CONSENT_REQUIRED": 422, "MEMBER_NOT_BOUND": 403, "MEMBER_LINK_CONFLICT": 409,
    "LINK_PROOF_INVALID": 422, "NOT_FOUND": 404, "QUOTE_EXPIRED": 422,
}


def _parsed(op="earn", path="/points/earn", body=VECTOR_BODY, **kwargs):
    method = "GET" if op == "query" else "POST"
    return adapter.parse(request(method, path, body), op=op, **kwargs)


def _assert_signed(response):
    assert response["Hub-Timestamp"] == "1764055802"
    assert response["Hub-Nonce"] == "0f9e8d7c6b5a49382716"
    assert response["Hub-Signature"] == signing.response_signature(
        SECRET, timestamp="1764055802", nonce="0f9e8d7c6b5a49382716", body=response.content)


def test_success_is_200_with_exact_body_and_signed():
    response = adapter.render(_parsed(), {"request_no": "KM20261125000123", "points_earned": 128,
                                          "points_balance": 100128}, KEYS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.content == (b'{"code":"SUCCESS","message":"OK","data":{"out_trade_no":"KM20261125000123",'
                                b'"points_earned":128,"points_balance":100128}}')
    _assert_signed(response)


def test_identify_data_field_names_and_unescaped_chinese():
    result = {"member_ref": "M8KZ3Q7T", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡",
              "points": 1234, "points_value_fen": 1234, "point_value_fen_per_100": 100, "pending_points": 5,
              "frozen_points": 0, "redeemable_points": 1000,
              "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_fen": 1000, "threshold_fen": 5000, "voucher": True},
                         {"code": "R95", "name": "会员九五折", "discount_bp": 9500, "voucher": False}]}
    response = adapter.render(_parsed("identify", "/members/query", {"store_no": "S001", "pos_no": "P03",
                                                                     "code": "13800000001"}), result, KEYS)
    assert "*明".encode() in response.content
    assert json.loads(response.content)["data"] == {
        "member_id": "M8KZ3Q7T", "name_masked": "*明", "mobile_masked": "138****1234", "level": "金卡",
        "points": 1234, "points_value": 1234, "redeemable_points": 1000,
        "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_amount": 1000, "threshold_amount": 5000,
                    "voucher": True},
                   {"code": "R95", "name": "会员九五折", "discount_rate": "0.95", "voucher": False}]}


HOLD = {"out_trade_no": "KF1", "store_no": "S001", "pos_no": "P03", "member_id": "M1", "points": 800}


@pytest.mark.parametrize(
    "op, path, body, kwargs, result, data",
    [
        ("redeem", "/points/redeem", HOLD, {},
         {"request_no": "KF1", "points": 800, "amount_fen": 800, "points_balance": 99200},
         {"out_trade_no": "KF1", "points": 800, "deduct_amount": 800, "points_balance": 99200}),
        ("freeze", "/points/freeze", HOLD, {},
         {"request_no": "KF1", "points": 800, "amount_fen": 800, "points_balance": 99200,
          "expires_at": datetime(2026, 11, 25, 7, 45, 1, tzinfo=UTC)},
         {"out_trade_no": "KF1", "points": 800, "deduct_amount": 800, "expires_at": "2026-11-25T15:45:01+08:00"}),
        ("confirm", "/points/freeze/KF1/confirm", {}, {"out_trade_no": "KF1"},
         {"request_no": "KF1", "points": 800, "amount_fen": 800, "points_balance": 99200},
         {"out_trade_no": "KF1", "points": 800, "points_balance": 99200}),
        ("unfreeze", "/points/freeze/KF1/unfreeze", {}, {"out_trade_no": "KF1"},
         {"request_no": "KF1", "status": "UNFROZEN", "points_balance": 100000},
         {"out_trade_no": "KF1", "status": "UNFROZEN"}),
        ("refund", "/refunds", {"out_refund_no": "R1", "out_trade_no": "KM1", "refund_amount": 6425}, {},
         {"refund_no": "R1", "request_no": "KM1", "points_clawed_back": 64, "points_returned": 0,
          "amount_fen": 6425, "points_balance": 100064},
         {"out_refund_no": "R1", "points_clawed_back": 64, "points_returned": 0, "points_balance": 100064}),
        ("reverse", "/trades/KM1/reverse", {}, {"out_trade_no": "KM1"},
         {"request_no": "KM1", "status": "REVERSED", "action": "reverse"},
         {"out_trade_no": "KM1", "status": "REVERSED"}),
        ("query", "/trades/KM1", b"", {"out_trade_no": "KM1"},
         {"request_no": "KM1", "type": "earn", "status": "PART_REFUNDED", "points": 128, "amount_fen": 12850,
          "refunds": [{"refund_no": "R1", "amount_fen": 6425, "points_clawed_back": 64, "points_returned": 0}]},
         {"out_trade_no": "KM1", "type": "EARN", "status": "PART_REFUNDED", "points": 128, "amount": 12850,
          "refunds": [{"out_refund_no": "R1", "refund_amount": 6425, "points_clawed_back": 64,
                       "points_returned": 0}]}),
        ("day_end", "/day-end", {"store_no": "S001", "pos_no": "P03", "biz_date": "2026-11-25",
                                 "totals": {k: {"count": 0, "points": 0} for k in ("earn", "redeem", "refund")}}, {},
         {"matched": False, "differences": [{"request_no": "KM9", "field": "points", "till": 10, "hub": 12}]},
         {"matched": False, "differences": [{"out_trade_no": "KM9", "field": "points", "till": 10, "hub": 12}]}),
    ],
)
def test_success_data_per_endpoint(op, path, body, kwargs, result, data):
    response = adapter.render(_parsed(op, path, body, **kwargs), result, KEYS)
    assert response.status_code == 200
    assert json.loads(response.content) == {"code": "SUCCESS", "message": "OK", "data": data}
    _assert_signed(response)


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_every_canonical_error_gets_the_documented_status_and_is_signed(code):
    response = adapter.render(_parsed(), errors.DomainError(code=code), KEYS)
    assert response.status_code == DOCUMENTED_STATUS[code]
    assert json.loads(response.content) == {"code": code, "message": errors.CODES[code][1], "data": {}}
    _assert_signed(response)


def test_error_detail_goes_in_data():
    error = errors.ParamError("参数类型错误：order_amount", detail={"field": "order_amount"})
    response = adapter.render(_parsed(), error, KEYS)
    assert json.loads(response.content)["data"] == {"field": "order_amount"}


def test_unauthenticated_answers_are_not_signed():
    response = adapter.render(None, errors.SignError(), None)
    assert response.status_code == 401
    assert json.loads(response.content) == {"code": "SIGN_ERROR", "message": "签名错误", "data": {}}
    for name in ("Hub-Timestamp", "Hub-Nonce", "Hub-Signature"):
        assert name not in response


def test_answer_is_signed_with_the_secret_that_verified():
    keys = CredentialKeys(app_key=APP_ID, secrets=("new", SECRET), secret=SECRET)
    response = adapter.render(_parsed(), errors.PointsInsufficient(), keys)
    _assert_signed(response)


def test_real_clock_and_nonces_vary():
    live = KemaiAdapter()
    first, second = (live.render(None, errors.RateLimited(), KEYS) for _ in range(2))
    assert first["Hub-Nonce"] != second["Hub-Nonce"]
    assert len(first["Hub-Nonce"]) == 20
    assert abs(int(first["Hub-Timestamp"]) - datetime.now(UTC).timestamp()) < 5


# ---- read_response ------------------------------------------------------------------------


def _headers(response):
    return {name: response[name] for name in ("Hub-Timestamp", "Hub-Nonce", "Hub-Signature")}


def test_read_response_verifies_the_contract_response_vector():
    vector = RESPONSE_VECTOR
    headers = {"hub-timestamp": vector["timestamp"], "HUB-NONCE": vector["nonce"], "Hub-Signature": vector["signature"]}
    answer = adapter.read_response(200, headers, vector["body"], KEYS)
    assert (answer.ok, answer.code, answer.message, answer.signature_valid) == (True, "SUCCESS", "OK", True)


def test_read_response_of_a_rendered_success_and_refusal():
    success = adapter.render(_parsed(), {"request_no": "K1", "points_earned": 1, "points_balance": 2}, KEYS)
    answer = adapter.read_response(200, _headers(success), success.content, KEYS)
    assert (answer.ok, answer.code, answer.data["points_earned"], answer.signature_valid) == (True, "SUCCESS", 1, True)
    refusal = adapter.render(_parsed(), errors.PointsInsufficient(), KEYS)
    answer = adapter.read_response(422, _headers(refusal), refusal.content, KEYS)
    assert (answer.ok, answer.code, answer.message, answer.signature_valid) == (
        False, "POINTS_INSUFFICIENT", "积分余额不足", True)


def test_altered_body_fails_the_response_signature():
    success = adapter.render(_parsed(), {"request_no": "K1", "points_earned": 1, "points_balance": 2}, KEYS)
    altered = success.content.replace(b'"points_earned":1', b'"points_earned":9')
    answer = adapter.read_response(200, _headers(success), altered, KEYS)
    assert answer.signature_valid is False
    assert (answer.ok, answer.code) == (False, "PROCESSING")


def test_unsigned_or_wrongly_keyed_success_counts_as_not_received():
    success = adapter.render(_parsed(), {"request_no": "K1", "points_earned": 1, "points_balance": 2}, KEYS)
    unsigned = adapter.read_response(200, {}, success.content, KEYS)
    assert (unsigned.ok, unsigned.code, unsigned.signature_valid) == (False, "PROCESSING", False)
    other = adapter.read_response(200, _headers(success), success.content, CredentialKeys(APP_ID, ("other",)))
    assert (other.ok, other.signature_valid) == (False, False)


def test_unsigned_error_is_read_but_flagged():
    refusal = adapter.render(None, errors.SignError(), None)
    answer = adapter.read_response(401, dict(refusal.items()), refusal.content, KEYS)
    assert (answer.ok, answer.code, answer.signature_valid) == (False, "SIGN_ERROR", False)


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"", b'{"code":1}', b'{"code":"SUCCESS","data":[]}'])
def test_unreadable_answer_is_unknown(body):
    answer = adapter.read_response(502, {}, body, KEYS)
    assert (answer.ok, answer.code) == (False, "PROCESSING")


@pytest.mark.parametrize(("code", "status"), [("VOUCHER_NOT_FOUND", 404), ("VOUCHER_USED", 422),
                                              ("VOUCHER_EXPIRED", 422), ("RIGHT_NOT_APPLICABLE", 422),
                                              ("QUOTA_EXHAUSTED", 422)])
def test_v11_codes_have_the_contracts_http_status(code, status):
    from hub.errors import DomainError

    response = adapter.render(_parsed("earn", "/points/earn", {"out_trade_no": "K1", "store_no": "S001",
                                                               "pos_no": "P03", "member_id": "M1",
                                                               "order_amount": 100,
                                                               "trade_time": "2026-11-25T15:30:01+08:00"}),
                              DomainError(code=code), KEYS)
    assert response.status_code == status
    assert json.loads(response.content)["code"] == code
