import json
from datetime import UTC, datetime

import pytest

from hub import errors
from hub.gateway.base import CredentialKeys
from hub.vendors.native import signing
from hub.vendors.native.adapter import NativeAdapter

from .helpers import KEYS, SECRET, SITE, VECTOR_BODY, request

adapter = NativeAdapter(clock=lambda: 1764055802.9, nonce_factory=lambda: "0f9e8d7c6b5a49382716")

# The status of every code, written out independently of hub.errors.CODES.
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


def _call(op="earn", path="/earn", body=VECTOR_BODY, **kwargs):
    method = "GET" if op == "query" else "POST"
    return adapter.parse(request(method, path, body), op=op, **kwargs)


def _signed_by(response, secret=SECRET) -> bool:
    return response["Hub-Timestamp"] == "1764055802" and response["Hub-Nonce"] == "0f9e8d7c6b5a49382716" and (
        response["Hub-Signature"] == signing.response_signature(
            secret, timestamp="1764055802", nonce="0f9e8d7c6b5a49382716", body=response.content))


def test_success_envelope_exact_bytes_and_signed():
    response = adapter.render(_call(), {"request_no": "HUB20261125000123", "points_earned": 128,
                                        "points_balance": 100128}, KEYS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.content == ('{"code":"SUCCESS","message":"成功","data":{"request_no":"HUB20261125000123",'
                                '"points_earned":128,"points_balance":100128}}').encode()
    assert _signed_by(response)


def test_the_verifying_secret_signs_the_answer_during_rotation():
    keys = CredentialKeys(app_key="hub_test_app", secrets=("new-secret", SECRET), secret=SECRET)
    assert _signed_by(adapter.render(_call(), {"request_no": "H"}, keys))


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_every_error_code_has_its_status_and_envelope(code):
    response = adapter.render(_call(), errors.DomainError(code=code), KEYS)
    assert response.status_code == DOCUMENTED_STATUS[code]
    assert json.loads(response.content) == {"code": code, "message": errors.CODES[code][1], "data": {}}
    assert _signed_by(response)


def test_error_detail_and_specific_message_are_kept():
    error = errors.ParamError("参数类型错误：amount_fen（应为整数）", detail={"field": "amount_fen"})
    body = json.loads(adapter.render(None, error, None).content)
    assert body == {"code": "PARAM_ERROR", "message": "参数类型错误：amount_fen（应为整数）",
                    "data": {"field": "amount_fen"}}


def test_an_unauthenticated_request_gets_an_unsigned_answer():
    response = adapter.render(None, errors.SignError(), None)
    assert response.status_code == 401
    assert not any(name in response for name in ("Hub-Timestamp", "Hub-Nonce", "Hub-Signature"))


def test_a_result_without_its_call_is_a_bug():
    with pytest.raises(ValueError):
        adapter.render(None, {"request_no": "H"}, KEYS)


@pytest.mark.parametrize(
    "op, path, body, kwargs, result, data",
    [
        ("identify", "/identify", {**SITE, "member": "13800000001"}, {},
         {"member_ref": "M8KZ3Q7T", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡",
          "points": 1234, "points_value_fen": 1234, "point_value_fen_per_100": 100, "pending_points": 5,
          "frozen_points": 0, "redeemable_points": 1000, "member_pk": 7,
          "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_fen": 1000, "threshold_fen": 5000, "voucher": True},
                     {"code": "R95", "name": "会员九五折", "discount_bp": 9500, "voucher": False}]},
         {"member_ref": "M8KZ3Q7T", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡",
          "points": 1234, "points_value_fen": 1234, "point_value_fen_per_100": 100, "pending_points": 5,
          "frozen_points": 0, "redeemable_points": 1000,
          "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_fen": 1000, "threshold_fen": 5000, "voucher": True},
                     {"code": "R95", "name": "会员九五折", "discount_bp": 9500, "voucher": False}]}),
        ("freeze", "/freeze", {**SITE, "request_no": "F1", "member": "M1", "points": 800}, {},
         {"request_no": "F1", "points": 800, "amount_fen": 800, "points_balance": 99200,
          "expires_at": "2026-11-25T07:45:01+00:00"},
         {"request_no": "F1", "points": 800, "amount_fen": 800, "expires_at": "2026-11-25T15:45:01+08:00",
          "points_balance": 99200}),
        ("freeze", "/freeze", {**SITE, "request_no": "F1", "member": "M1", "points": 800}, {},
         {"request_no": "F1", "points": 800, "amount_fen": 800, "points_balance": 99200,
          "expires_at": datetime(2026, 11, 25, 7, 45, 1, tzinfo=UTC)},
         {"request_no": "F1", "points": 800, "amount_fen": 800, "expires_at": "2026-11-25T15:45:01+08:00",
          "points_balance": 99200}),
        ("unfreeze", "/freezes/F1/unfreeze", {}, {"request_no": "F1"},
         {"request_no": "F1", "status": "UNFROZEN", "points_balance": 100000},
         {"request_no": "F1", "status": "UNFROZEN", "points_balance": 100000}),
        ("refund", "/refund", {"request_no": "R1", "original_request_no": "H1", "amount_fen": 6425}, {},
         {"refund_no": "R1", "request_no": "H1", "points_clawed_back": 64, "points_returned": 0,
          "amount_fen": 6425, "points_balance": 99936},
         {"refund_no": "R1", "request_no": "H1", "points_clawed_back": 64, "points_returned": 0,
          "amount_fen": 6425, "points_balance": 99936}),
        ("reverse", "/trades/H1/reverse", {}, {"request_no": "H1"},
         {"request_no": "H1", "status": "REVERSED", "action": "tombstone"},
         {"request_no": "H1", "status": "REVERSED", "action": "tombstone"}),
        ("query", "/trades/H1", b"", {"request_no": "H1"},
         {"request_no": "H1", "type": "earn", "status": "PART_REFUNDED", "points": 128, "amount_fen": 12850,
          "error_code": "", "refunds": [{"refund_no": "R1", "amount_fen": 6425, "points_clawed_back": 64,
                                         "points_returned": 0, "status": "SUCCESS"}]},
         {"request_no": "H1", "type": "earn", "status": "PART_REFUNDED", "points": 128, "amount_fen": 12850,
          "refunds": [{"refund_no": "R1", "amount_fen": 6425, "points_clawed_back": 64, "points_returned": 0,
                       "status": "SUCCESS"}]}),
        ("day_end", "/day-end", {**SITE, "biz_date": "2026-11-24", "totals": {
            "earn_count": 1, "earn_points": 2, "redeem_count": 0, "redeem_points": 0, "refund_count": 0,
            "refund_points": 0}}, {},
         {"matched": False, "differences": [{"request_no": "", "field": "earn_points", "till": 2, "hub": 1}]},
         {"matched": False, "differences": [{"request_no": "", "field": "earn_points", "till": 2, "hub": 1}]}),
    ],
)
def test_data_is_exactly_the_canonical_result_fields(op, path, body, kwargs, result, data):
    response = adapter.render(_call(op, path, body, **kwargs), result, KEYS)
    assert response.status_code == 200
    parsed = json.loads(response.content)
    assert parsed["code"] == "SUCCESS" and parsed["data"] == data
    assert list(parsed["data"]) == list(data)


# ---- read_response (the till's side) ------------------------------------------------------------

def test_read_response_accepts_a_signed_success():
    response = adapter.render(_call(), {"request_no": "H", "points_earned": 1, "points_balance": 2}, KEYS)
    read = adapter.read_response(200, dict(response.headers), response.content, KEYS)
    assert read.ok and read.code == "SUCCESS" and read.signature_valid
    assert read.data == {"request_no": "H", "points_earned": 1, "points_balance": 2}


def test_read_response_treats_a_tampered_or_unsigned_success_as_unknown():
    response = adapter.render(_call(), {"request_no": "H", "points_earned": 1, "points_balance": 2}, KEYS)
    tampered = response.content.replace(b'"points_earned":1', b'"points_earned":9')
    read = adapter.read_response(200, dict(response.headers), tampered, KEYS)
    assert (read.ok, read.code, read.signature_valid) == (False, "PROCESSING", False)
    read = adapter.read_response(200, {}, response.content, KEYS)
    assert (read.ok, read.code) == (False, "PROCESSING")


def test_read_response_reads_refusals_signed_or_not():
    signed = adapter.render(_call(), errors.PointsInsufficient(), KEYS)
    read = adapter.read_response(422, dict(signed.headers), signed.content, KEYS)
    assert (read.ok, read.code, read.message, read.signature_valid) == (False, "POINTS_INSUFFICIENT", "积分余额不足",
                                                                        True)
    unsigned = adapter.render(None, errors.SignError(), None)
    read = adapter.read_response(401, dict(unsigned.headers), unsigned.content, KEYS)
    assert (read.ok, read.code, read.signature_valid) == (False, "SIGN_ERROR", False)


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b'{"code":1}', b'{"code":"SUCCESS","data":[]}'])
def test_read_response_unreadable_is_unknown(body):
    read = adapter.read_response(502, {}, body, KEYS)
    assert (read.ok, read.code) == (False, "PROCESSING")
