from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.errors import ParamError, SignError
from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.vendors.sixun import signing
from hub.vendors.sixun.adapter import SixunAdapter
from tests.hub.vendors.sixun.helpers import (
    APP_ID,
    KEYS,
    SECRET,
    VECTOR,
    VECTOR_HMAC,
    VECTOR_MD5,
    document,
    fields_for,
    post,
    signed,
    signed_request,
)

adapter = SixunAdapter()
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = {"store_code": "S001", "terminal_code": "P03"}


def test_the_contract_vector_parses_and_verifies():
    call = adapter.parse(post(document([*VECTOR, ("sign", VECTOR_MD5)])))
    assert call.app_key == APP_ID
    assert call.nonce == "ibuaiVcKdpRxkhJA"
    assert call.timestamp == datetime(2025, 11, 25, 7, 30, 1, tzinfo=UTC)
    assert call.command == TillCommand(op="earn", **SITE, request_no="SX20261125000123",
                                       member="960000000000000000", amount_fen=12850)
    assert call.command.extra == {"mch_id": "M0001"}
    assert call.context == {"service": "point.earn", "charset": "UTF-8", "sign_type": "MD5"}
    assert call.verify(KEYS) == SECRET


def test_the_hmac_vector_verifies():
    fields = [(n, "HMAC-SHA256" if n == "sign_type" else v) for n, v in VECTOR]
    call = adapter.parse(post(document([*fields, ("sign", VECTOR_HMAC)])))
    assert call.context["sign_type"] == "HMAC-SHA256"
    assert call.verify(KEYS) == SECRET


def test_verify_refuses_a_bad_signature_another_app_or_secret():
    call = adapter.parse(post(document([*VECTOR, ("sign", "0" * 32)])))
    assert call.verify(KEYS) is None
    good = adapter.parse(post(document([*VECTOR, ("sign", VECTOR_MD5)])))
    assert good.verify(CredentialKeys(app_key="other_app", secrets=(SECRET,))) is None
    assert good.verify(CredentialKeys(app_key=APP_ID, secrets=("wrong",))) is None
    # during a rotation overlap the previous secret still verifies, and is the one returned
    assert good.verify(CredentialKeys(app_key=APP_ID, secrets=("new-secret", SECRET))) == SECRET


def test_a_changed_field_no_longer_verifies():
    tampered = [(n, "99999" if n == "total_fee" else v) for n, v in VECTOR]
    call = adapter.parse(post(document([*tampered, ("sign", VECTOR_MD5)])))
    assert call.verify(KEYS) is None


SERVICES = [
    ("member.query", [("member_code", "960000000000000000")],
     TillCommand(op="identify", **SITE, member="960000000000000000")),
    ("member.query", [("member_id", "m_7Hq2")], TillCommand(op="identify", **SITE, member="m_7Hq2")),
    ("point.earn", [("out_trade_no", "SX1"), ("member_id", "m_7Hq2"), ("total_fee", "12850"),
                    ("time_end", "20261125153001")],
     TillCommand(op="earn", **SITE, request_no="SX1", member="m_7Hq2", amount_fen=12850,
                 business_time=datetime(2026, 11, 25, 15, 30, 1, tzinfo=SHANGHAI))),
    ("point.pay", [("out_trade_no", "SX2"), ("member_code", "960000000000000001"), ("point_amount", "500")],
     TillCommand(op="redeem", **SITE, request_no="SX2", member="960000000000000001", points=500)),
    ("point.refund", [("out_refund_no", "R1"), ("out_trade_no", "SX1"), ("refund_fee", "5000"),
                      ("refund_points", "200")],
     TillCommand(op="refund", **SITE, request_no="R1", original_request_no="SX1", amount_fen=5000, points=200)),
    ("point.refund", [("out_refund_no", "R2"), ("out_trade_no", "SX1"), ("refund_fee", "0")],
     TillCommand(op="refund", **SITE, request_no="R2", original_request_no="SX1", amount_fen=0)),
    ("point.reverse", [("out_trade_no", "SX3")], TillCommand(op="reverse", **SITE, original_request_no="SX3")),
    ("order.query", [("out_trade_no", "SX3")], TillCommand(op="query", **SITE, original_request_no="SX3")),
    ("day.end", [("biz_date", "20261125"), ("earn_count", "12"), ("earn_points", "3400"), ("pay_count", "3"),
                 ("pay_points", "1500"), ("refund_count", "1"), ("refund_points", "100")],
     TillCommand(op="day_end", **SITE, biz_date=date(2026, 11, 25),
                 totals=DayEndTotals(earn_count=12, earn_points=3400, redeem_count=3, redeem_points=1500,
                                     refund_count=1, refund_points=100))),
]


@pytest.mark.parametrize(("service", "business", "expected"), SERVICES)
def test_every_service_parses_to_its_command(service, business, expected):
    call = adapter.parse(signed_request(fields_for(service, *business)))
    assert call.command == expected
    assert call.command.extra == {"mch_id": "M0001"}
    assert call.context["service"] == service
    assert call.verify(KEYS) == SECRET


def test_no_prolog_means_utf8_and_cdata_and_comments_are_read():
    pairs = fields_for("member.query", ("member_code", "<![CDATA[960000000000000000]]>"))
    sign = signing.sign({**dict(pairs), "member_code": "960000000000000000"}, SECRET)
    body = document([*pairs, ("sign", sign)], prolog=False).replace(b"</xml>", b"<!-- till 3 --></xml>")
    call = adapter.parse(post(body))
    assert call.command.member == "960000000000000000"
    assert call.context["charset"] == "UTF-8"
    assert call.verify(KEYS) == SECRET


def test_gbk_request_with_chinese_text_is_read_and_verified_in_gbk():
    pairs = fields_for("point.earn", ("out_trade_no", "SX9"), ("member_code", "960000000000000000"),
                       ("total_fee", "100"), ("attach", "苹果两斤，会员价"))
    gbk_signed = signed(pairs, charset="GBK")
    body = document(gbk_signed, charset="GBK")
    assert "苹果".encode("gbk") in body
    call = adapter.parse(post(body))
    assert call.context["charset"] == "GBK"
    assert call.command.amount_fen == 100
    assert call.verify(KEYS) == SECRET
    # signed over UTF-8 bytes instead, the same document does not verify
    utf8_signed = signed(pairs)
    assert utf8_signed != gbk_signed
    assert adapter.parse(post(document(utf8_signed, charset="GBK"))).verify(KEYS) is None


def _earn(**overrides):
    business = {"out_trade_no": "SX1", "member_code": "960000000000000000", "total_fee": "12850"}
    business.update(overrides)
    return [(k, v) for k, v in business.items() if v is not None]


BAD_FIELDS = [
    ("missing total_fee", fields_for("point.earn", *_earn(total_fee=None))),
    ("missing out_trade_no", fields_for("point.earn", *_earn(out_trade_no=None))),
    ("missing member", fields_for("point.earn", *_earn(member_code=None))),
    ("both member fields", fields_for("point.earn", *_earn(member_id="m_1"))),
    ("fee with decimals", fields_for("point.earn", *_earn(total_fee="128.50"))),
    ("negative fee", fields_for("point.earn", *_earn(total_fee="-100"))),
    ("zero fee", fields_for("point.earn", *_earn(total_fee="0"))),
    ("absurd fee", fields_for("point.earn", *_earn(total_fee="1000000000001"))),
    ("fee in exponent form", fields_for("point.earn", *_earn(total_fee="1e5"))),
    ("fee with leading zero", fields_for("point.earn", *_earn(total_fee="012850"))),
    ("fee not a number", fields_for("point.earn", *_earn(total_fee="abc"))),
    ("bad time_end", fields_for("point.earn", *_earn(time_end="20261332250000"))),
    ("short time_end", fields_for("point.earn", *_earn(time_end="202611251530"))),
    ("zero points", fields_for("point.pay", ("out_trade_no", "SX2"), ("member_code", "9600"), ("point_amount", "0"))),
    ("negative points", fields_for("point.pay", ("out_trade_no", "SX2"), ("member_code", "9600"),
                                   ("point_amount", "-5"))),
    ("absurd points", fields_for("point.pay", ("out_trade_no", "SX2"), ("member_code", "9600"),
                                 ("point_amount", "99999999999999999"))),
    ("refund without refund_fee", fields_for("point.refund", ("out_refund_no", "R1"), ("out_trade_no", "SX1"))),
    ("refund without out_refund_no", fields_for("point.refund", ("out_trade_no", "SX1"), ("refund_fee", "1"))),
    ("bad biz_date", fields_for("day.end", ("biz_date", "2026-11-25"), ("earn_count", "1"), ("earn_points", "1"),
                                ("pay_count", "1"), ("pay_points", "1"), ("refund_count", "1"),
                                ("refund_points", "1"))),
    ("day end missing a total", fields_for("day.end", ("biz_date", "20261125"), ("earn_count", "1"),
                                           ("earn_points", "1"), ("pay_count", "1"), ("pay_points", "1"),
                                           ("refund_count", "1"))),
    ("unknown service", fields_for("point.freeze", ("out_trade_no", "SX1"))),
    ("unknown sign_type", fields_for("order.query", ("out_trade_no", "SX1"), sign_type="SHA1")),
    ("nonce too long", [(n, "n" * 33 if n == "nonce_str" else v)
                        for n, v in fields_for("order.query", ("out_trade_no", "SX1"))]),
    ("timestamp not a number", [(n, "2026-11-25" if n == "timestamp" else v)
                                for n, v in fields_for("order.query", ("out_trade_no", "SX1"))]),
    ("missing store_id", [p for p in fields_for("order.query", ("out_trade_no", "SX1")) if p[0] != "store_id"]),
    ("missing mch_id", [p for p in fields_for("order.query", ("out_trade_no", "SX1")) if p[0] != "mch_id"]),
    ("missing appid", [p for p in fields_for("order.query", ("out_trade_no", "SX1")) if p[0] != "appid"]),
    ("control character", fields_for("order.query", ("out_trade_no", "SX&#1;1"))),
    ("request number too long", fields_for("order.query", ("out_trade_no", "S" * 65))),
]


# what each refusal must say (so a case cannot pass by failing for another reason)
REASONS = {
    "missing total_fee": "缺少参数：total_fee",
    "missing out_trade_no": "缺少参数：out_trade_no",
    "missing member": "缺少参数：member_code 或 member_id",
    "both member fields": "只能填写一个",
    "fee with decimals": "参数类型错误：total_fee",
    "negative fee": "参数类型错误：total_fee",
    "zero fee": "参数超出范围：total_fee",
    "absurd fee": "参数超出范围：total_fee",
    "fee in exponent form": "参数类型错误：total_fee",
    "fee with leading zero": "参数类型错误：total_fee",
    "fee not a number": "参数类型错误：total_fee",
    "bad time_end": "参数格式错误：time_end",
    "short time_end": "参数格式错误：time_end",
    "zero points": "参数超出范围：point_amount",
    "negative points": "参数类型错误：point_amount",
    "absurd points": "point_amount",
    "refund without refund_fee": "缺少参数：refund_fee",
    "refund without out_refund_no": "缺少参数：out_refund_no",
    "bad biz_date": "参数格式错误：biz_date",
    "day end missing a total": "缺少参数：refund_points",
    "unknown service": "不支持的服务：point.freeze",
    "unknown sign_type": "sign_type",
    "nonce too long": "参数格式错误：nonce_str",
    "timestamp not a number": "参数类型错误：timestamp",
    "missing store_id": "缺少参数：store_id",
    "missing mch_id": "缺少参数：mch_id",
    "missing appid": "缺少参数：appid",
    "control character": "XML 格式错误",
    "request number too long": "参数格式错误：out_trade_no",
}


@pytest.mark.parametrize("pairs", [case[1] for case in BAD_FIELDS], ids=[case[0] for case in BAD_FIELDS])
def test_wrong_types_missing_fields_and_bad_amounts_are_param_errors(request, pairs):
    reason = REASONS[request.node.callspec.id]
    with pytest.raises(ParamError) as refused:
        adapter.parse(signed_request(pairs))
    assert reason in refused.value.message


def test_missing_signature_is_a_sign_error():
    with pytest.raises(SignError):
        adapter.parse(post(document(fields_for("order.query", ("out_trade_no", "SX1")))))


def test_only_post_is_accepted():
    with pytest.raises(ParamError):
        adapter.parse(post(b"", method="GET"))


def test_get_urls_is_one_pattern_at_the_mount_point():
    def view(request):
        return None

    (pattern,) = adapter.get_urls(view)
    assert str(pattern.pattern) == ""
    assert pattern.callback is view
