"""build_request is the inverse of parse, correctly signed, for every operation Sixun has."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory

from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import OPS, DayEndTotals, TillCommand
from hub.vendors.sixun.adapter import SixunAdapter
from tests.hub.vendors.sixun.helpers import KEYS, REPLY_KEYS, SECRET, VECTOR_HMAC, VECTOR_MD5

adapter = SixunAdapter()
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = {"store_code": "S001", "terminal_code": "P03"}
SENT_AT = datetime(2026, 11, 25, 15, 30, 1, tzinfo=SHANGHAI)

COMMANDS = [
    TillCommand(op="identify", **SITE, member="960000000000000000"),
    TillCommand(op="earn", **SITE, request_no="SX1", member="m_7Hq2", amount_fen=12850,
                business_time=datetime(2026, 11, 25, 15, 29, 40, tzinfo=SHANGHAI)),
    TillCommand(op="earn", **SITE, request_no="SX1b", member="13800000001", amount_fen=1),
    TillCommand(op="redeem", **SITE, request_no="SX2", member="960000000000000001", points=500),
    TillCommand(op="refund", **SITE, request_no="R1", original_request_no="SX1", amount_fen=5000, points=200),
    TillCommand(op="refund", **SITE, request_no="R2", original_request_no="SX1", amount_fen=0),
    TillCommand(op="reverse", **SITE, original_request_no="SX3"),
    TillCommand(op="query", **SITE, original_request_no="SX3"),
    TillCommand(op="day_end", **SITE, biz_date=date(2026, 11, 25),
                totals=DayEndTotals(earn_count=12, earn_points=3400, redeem_count=3, redeem_points=1500,
                                    refund_count=1, refund_points=100)),
]
VARIANTS = [
    {"mch_id": "M0001"},
    {"mch_id": "M0001", "charset": "GBK", "sign_type": "HMAC-SHA256"},
    {"mch_id": "M0001", "charset": "GBK", "member_field": "member_id"},
]


def to_request(spec):
    return RequestFactory().generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                    **spec.headers)


def test_every_sixun_op_is_covered():
    assert {command.op for command in COMMANDS} == adapter.ops
    assert adapter.ops == set(OPS) - {"freeze", "confirm", "unfreeze"}


@pytest.mark.parametrize("extra", VARIANTS, ids=["utf8-md5", "gbk-hmac", "gbk-member_id"])
@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.op}-{c.request_no or c.original_request_no}" for c in COMMANDS])
def test_build_then_parse_gives_back_the_command(command, extra):
    command = command.replace(extra=extra)
    spec = adapter.build_request(command, keys=KEYS, nonce="n0nce123", timestamp=SENT_AT)
    assert (spec.method, spec.path) == ("POST", "/gateway/sixun/")
    call = adapter.parse(to_request(spec))
    assert call.command == command
    assert call.command.extra == {"mch_id": "M0001"}
    assert (call.app_key, call.nonce, call.timestamp) == ("sx_test_app", "n0nce123", SENT_AT)
    assert call.context["charset"] == extra.get("charset", "UTF-8")
    assert call.context["sign_type"] == extra.get("sign_type", "MD5")
    assert call.verify(KEYS) == SECRET
    if extra.get("member_field") == "member_id" and command.member:
        assert b"<member_id>" in spec.body


def test_build_reproduces_the_contract_vectors():
    command = TillCommand(op="earn", **SITE, request_no="SX20261125000123", member="960000000000000000",
                          amount_fen=12850, extra={"mch_id": "M0001"})
    sent_at = datetime.fromtimestamp(1764055801, tz=UTC)
    spec = adapter.build_request(command, keys=KEYS, nonce="ibuaiVcKdpRxkhJA", timestamp=sent_at)
    assert spec.body.endswith(f"<sign>{VECTOR_MD5}</sign></xml>".encode())
    hmac_command = command.replace(extra={"mch_id": "M0001", "sign_type": "HMAC-SHA256"})
    spec = adapter.build_request(hmac_command, keys=KEYS, nonce="ibuaiVcKdpRxkhJA", timestamp=sent_at)
    assert spec.body.endswith(f"<sign>{VECTOR_HMAC}</sign></xml>".encode())


def test_gbk_request_with_chinese_round_trips():
    command = TillCommand(op="identify", **SITE, member="会员卡8801", extra={"mch_id": "M0001", "charset": "GBK"})
    spec = adapter.build_request(command, keys=KEYS, nonce="n1", timestamp=SENT_AT)
    assert "会员卡8801".encode("gbk") in spec.body
    call = adapter.parse(to_request(spec))
    assert (call.command.member, call.verify(KEYS)) == ("会员卡8801", SECRET)


def test_ops_sixun_lacks_and_naive_timestamps_are_refused():
    with pytest.raises(ValueError):
        adapter.build_request(TillCommand(op="freeze", **SITE), keys=KEYS, nonce="n", timestamp=SENT_AT)
    with pytest.raises(ValueError):
        adapter.build_request(COMMANDS[0], keys=KEYS, nonce="n", timestamp=datetime(2026, 11, 25))


def test_full_loop_build_parse_render_read():
    command = COMMANDS[3].replace(extra={"mch_id": "M0001", "charset": "GBK", "sign_type": "HMAC-SHA256"})
    call = adapter.parse(to_request(adapter.build_request(command, keys=KEYS, nonce="n2", timestamp=SENT_AT)))
    secret = call.verify(CredentialKeys(app_key="sx_test_app", secrets=(SECRET,)))
    response = adapter.render(call, {"request_no": "SX2", "points": 500, "amount_fen": 500, "points_balance": 99500},
                              CredentialKeys(app_key="sx_test_app", secrets=(SECRET,), secret=secret))
    read = adapter.read_response(response.status_code, dict(response.items()), response.content, REPLY_KEYS)
    assert read.ok and read.signature_valid
    assert read.data == {"point_amount": "500", "deduct_fee": "500", "point_balance": "99500"}
