import base64
import hashlib
import json
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from hub.errors import ParamError, SignError
from hub.gateway.base import MAX_BODY_BYTES, CredentialKeys
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.vendors.fangxiang.adapter import FangxiangAdapter
from tests.hub.vendors.fangxiang.helpers import (
    APP_ID,
    HUB_PUBLIC,
    KEYS,
    VECTOR_PARAMS,
    VECTOR_SIGN,
    params_for,
    post,
)

adapter = FangxiangAdapter()
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = {"store_id": "S001", "terminal_id": "P03"}
AT = {"store_code": "S001", "terminal_code": "P03"}


def test_the_contract_vector_parses_and_verifies():
    call = adapter.parse(post({**VECTOR_PARAMS, "sign": VECTOR_SIGN}))
    assert call.app_key == APP_ID
    assert call.timestamp == datetime(2026, 11, 25, 15, 30, 1, tzinfo=SHANGHAI)
    assert call.command == TillCommand(op="earn", **AT, request_no="FX20261125000123",
                                       member="960000000000000000", amount_fen=12850)
    assert call.context == {"method": "fx.point.earn"}
    assert call.verify(KEYS) == ""


def test_verify_refuses_tampering_other_apps_and_bad_keys():
    tampered = {**VECTOR_PARAMS, "biz_content": VECTOR_PARAMS["biz_content"].replace("128.50", "928.50"),
                "sign": VECTOR_SIGN}
    assert adapter.parse(post(tampered)).verify(KEYS) is None
    call = adapter.parse(post({**VECTOR_PARAMS, "sign": VECTOR_SIGN}))
    assert call.verify(CredentialKeys(app_key="other_app", public_key_pem=KEYS.public_key_pem)) is None
    assert call.verify(CredentialKeys(app_key=APP_ID, public_key_pem=HUB_PUBLIC)) is None
    assert call.verify(CredentialKeys(app_key=APP_ID, public_key_pem="garbage")) is None
    assert call.verify(CredentialKeys(app_key=APP_ID)) is None
    with pytest.raises(SignError):  # not Base64 at all: refused before any key is looked at
        adapter.parse(post({**VECTOR_PARAMS, "sign": "%%%notbase64"}))


def test_the_nonce_is_a_digest_of_the_signature():
    call = adapter.parse(post({**VECTOR_PARAMS, "sign": VECTOR_SIGN}))
    assert call.nonce == hashlib.sha256(b"fx_test_app\n" + base64.b64decode(VECTOR_SIGN)).hexdigest()[:32]
    # the same request sent again is the same nonce; a later one is not
    assert adapter.parse(post({**VECTOR_PARAMS, "sign": VECTOR_SIGN})).nonce == call.nonce
    later = params_for("fx.point.earn", VECTOR_PARAMS["biz_content"], timestamp="2026-11-25 15:30:02")
    assert adapter.parse(post(later)).nonce != call.nonce


METHODS = [
    ("fx.member.query", {**SITE, "member_code": "960000000000000000"},
     TillCommand(op="identify", **AT, member="960000000000000000")),
    ("fx.member.query", {**SITE, "member_id": "m_7Hq2"}, TillCommand(op="identify", **AT, member="m_7Hq2")),
    ("fx.point.earn", {"out_trade_no": "FX1", **SITE, "member_id": "m_7Hq2", "total_amount": "0.01"},
     TillCommand(op="earn", **AT, request_no="FX1", member="m_7Hq2", amount_fen=1)),
    ("fx.point.pay", {"out_trade_no": "FX2", **SITE, "member_code": "960000000000000001", "points": 500},
     TillCommand(op="redeem", **AT, request_no="FX2", member="960000000000000001", points=500)),
    ("fx.point.pay", {"out_trade_no": "FX2", **SITE, "member_code": "960000000000000001", "points": "500"},
     TillCommand(op="redeem", **AT, request_no="FX2", member="960000000000000001", points=500)),
    ("fx.point.refund", {"out_request_no": "FR1", "out_trade_no": "FX1", "refund_amount": "50", "refund_points": 200},
     TillCommand(op="refund", request_no="FR1", original_request_no="FX1", amount_fen=5000, points=200)),
    ("fx.point.refund", {"out_request_no": "FR2", "out_trade_no": "FX1", "refund_amount": "0.5", **SITE},
     TillCommand(op="refund", **AT, request_no="FR2", original_request_no="FX1", amount_fen=50)),
    ("fx.point.cancel", {"out_trade_no": "FX3"}, TillCommand(op="reverse", original_request_no="FX3")),
    ("fx.point.query", {"out_trade_no": "FX3", **SITE}, TillCommand(op="query", **AT, original_request_no="FX3")),
    ("fx.bill.dayend", {**SITE, "bill_date": "2026-11-25", "earn_count": 12, "earn_points": 3400, "pay_count": 3,
                        "pay_points": 1500, "refund_count": 1, "refund_points": 100},
     TillCommand(op="day_end", **AT, biz_date=date(2026, 11, 25),
                 totals=DayEndTotals(earn_count=12, earn_points=3400, redeem_count=3, redeem_points=1500,
                                     refund_count=1, refund_points=100))),
]


@pytest.mark.parametrize(("method", "biz", "expected"), METHODS)
def test_every_method_parses_to_its_command(method, biz, expected):
    call = adapter.parse(post(params_for(method, biz)))
    assert call.command == expected
    assert call.context == {"method": method}
    assert call.verify(KEYS) == ""


def test_format_may_be_omitted_and_unknown_parameters_are_signed():
    signed = params_for("fx.point.earn", VECTOR_PARAMS["biz_content"], format=None)
    assert adapter.parse(post(signed)).verify(KEYS) == ""
    with_extra = {**signed, "app_auth_token": "tok"}  # added after signing: no longer verifies
    assert adapter.parse(post(with_extra)).verify(KEYS) is None


EARN = {"out_trade_no": "FX1", **SITE, "member_code": "9600", "total_amount": "128.50"}
PAY = {"out_trade_no": "FX2", **SITE, "member_code": "9600", "points": 500}


def _missing(name):
    return "缺少参数：" + name


BAD = {
    # (params, expected message fragment, is a missing parameter)
    **{f"missing {name}": (params_for("fx.point.earn", EARN, **{name: None}), _missing(name), True)
       for name in ("app_id", "method", "charset", "sign_type", "timestamp", "version", "biz_content", "sign")},
    "empty sign": (params_for("fx.point.earn", EARN, sign=""), _missing("sign"), True),
    "unknown method": (params_for("fx.point.freeze", EARN), "不支持的接口", False),
    "format XML": (params_for("fx.point.earn", EARN, format="XML"), "format", False),
    "charset gbk": (params_for("fx.point.earn", EARN, charset="gbk"), "charset", False),
    "sign_type RSA": (params_for("fx.point.earn", EARN, sign_type="RSA"), "sign_type", False),
    "version 2.0": (params_for("fx.point.earn", EARN, version="2.0"), "version", False),
    "timestamp ISO": (params_for("fx.point.earn", EARN, timestamp="2026-11-25T15:30:01"), "timestamp", False),
    "timestamp unix": (params_for("fx.point.earn", EARN, timestamp="1764055801"), "timestamp", False),
    "timestamp impossible": (params_for("fx.point.earn", EARN, timestamp="2026-02-30 15:30:01"), "timestamp", False),
    "biz_content not JSON": (params_for("fx.point.earn", "{out_trade_no:"), "biz_content 不是合法的 JSON", False),
    "biz_content an array": (params_for("fx.point.earn", "[1,2]"), "biz_content 应为 JSON 对象", False),
    "biz_content NaN": (params_for("fx.point.pay", '{"points": NaN}'), "biz_content 不是合法的 JSON", False),
    "biz_content deeply nested": (params_for("fx.point.pay", "[" * 10000 + "]" * 10000), "biz_content 不是合法的 JSON",
                                  False),
    "duplicate biz key": (params_for("fx.point.earn", json.dumps(EARN)[:-1] + ', "total_amount": "1.00"}'),
                          "字段重复：total_amount", False),
    "amount as float": (params_for("fx.point.earn", {**EARN, "total_amount": 128.5}), "不接受小数", False),
    "amount as integer": (params_for("fx.point.earn", {**EARN, "total_amount": 128}), "金额格式错误：total_amount", False),
    "amount with three decimals": (params_for("fx.point.earn", {**EARN, "total_amount": "1.234"}), "金额格式错误", False),
    "negative amount": (params_for("fx.point.earn", {**EARN, "total_amount": "-1.00"}), "金额格式错误", False),
    "zero amount": (params_for("fx.point.earn", {**EARN, "total_amount": "0.00"}), "金额超出范围", False),
    "absurd amount": (params_for("fx.point.earn", {**EARN, "total_amount": "999999999999.99"}), "金额超出范围", False),
    "points as float": (params_for("fx.point.pay", {**PAY, "points": 10.0}), "不接受小数", False),
    "points negative": (params_for("fx.point.pay", {**PAY, "points": -5}), "参数超出范围：points", False),
    "points zero": (params_for("fx.point.pay", {**PAY, "points": 0}), "参数超出范围：points", False),
    "points boolean": (params_for("fx.point.pay", {**PAY, "points": True}), "参数类型错误：points", False),
    "points absurd": (params_for("fx.point.pay", {**PAY, "points": 10**20}), "参数超出范围：points", False),
    "store as number": (params_for("fx.point.pay", {**PAY, "store_id": 1}), "参数类型错误：store_id", False),
    "missing store_id": (params_for("fx.point.pay", {k: v for k, v in PAY.items() if k != "store_id"}),
                         _missing("store_id"), True),
    "missing member": (params_for("fx.point.pay", {k: v for k, v in PAY.items() if k != "member_code"}),
                       _missing("member_code"), True),
    "both member fields": (params_for("fx.point.pay", {**PAY, "member_id": "m_1"}), "只能填写一个", False),
    "missing refund_amount": (params_for("fx.point.refund", {"out_request_no": "R", "out_trade_no": "FX1"}),
                              _missing("refund_amount"), True),
    "bad bill_date": (params_for("fx.bill.dayend", {**SITE, "bill_date": "20261125", "earn_count": 1,
                                                    "earn_points": 1, "pay_count": 1, "pay_points": 1,
                                                    "refund_count": 1, "refund_points": 1}), "bill_date", False),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_parameters_are_param_errors(name):
    params, reason, is_missing = BAD[name]
    with pytest.raises(ParamError) as refused:
        adapter.parse(post(params))
    assert reason in refused.value.message
    assert bool(refused.value.detail.get("missing")) is is_missing


TRANSPORT = {
    "GET": (lambda: post(params_for("fx.point.pay", PAY), method="GET"), "POST"),
    "JSON body": (lambda: post(json.dumps(params_for("fx.point.pay", PAY)), content_type="application/json"), "Content-Type"),
    "GBK form": (lambda: post(params_for("fx.point.pay", PAY),
                      content_type="application/x-www-form-urlencoded; charset=gbk"), "utf-8"),
    "invalid UTF-8 body": (lambda: post(b"app_id=\xff\xfe&method=fx.point.pay"), "UTF-8"),
    "invalid UTF-8 escaped": (lambda: post("app_id=%FF%FE&" + urlencode(params_for("fx.point.pay", PAY))), "UTF-8"),
    "repeated parameter": (lambda: post(urlencode(params_for("fx.point.pay", PAY)) + "&method=fx.point.earn"), "参数重复"),
    "too many parameters": (lambda: post("&".join(f"p{i}=1" for i in range(100))), "参数过多"),
    "body over 64 KiB": (lambda: post(urlencode({**params_for("fx.point.pay", PAY), "pad": "a" * MAX_BODY_BYTES})),
                         "64 KiB"),
}


@pytest.mark.parametrize("name", list(TRANSPORT))
def test_bad_transport_is_a_param_error(name):
    make_request, reason = TRANSPORT[name]
    with pytest.raises(ParamError) as refused:
        adapter.parse(make_request())
    assert reason in refused.value.message


def test_a_refusal_remembers_the_method_for_the_answer():
    with pytest.raises(ParamError) as refused:
        adapter.parse(post(params_for("fx.point.pay", {**PAY, "points": -1})))
    assert refused.value.render_context == {"method": "fx.point.pay"}
    with pytest.raises(ParamError) as unknown:
        adapter.parse(post(params_for("fx.point.freeze", PAY)))
    assert unknown.value.render_context == {}
