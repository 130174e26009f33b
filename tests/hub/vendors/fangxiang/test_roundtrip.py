"""build_request is the inverse of parse, correctly signed, for every operation Fangxiang has."""

import base64
import hashlib
from datetime import date, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory

from hub.gateway.canonical import OPS, DayEndTotals, TillCommand
from hub.vendors.fangxiang.adapter import FangxiangAdapter
from tests.hub.vendors.fangxiang.helpers import KEYS, VECTOR_BIZ, VECTOR_SIGN

adapter = FangxiangAdapter()
SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = {"store_code": "S001", "terminal_code": "P03"}
SENT_AT = datetime(2026, 11, 25, 15, 30, 1, tzinfo=SHANGHAI)

COMMANDS = [
    TillCommand(op="identify", **AT, member="960000000000000000"),
    TillCommand(op="earn", **AT, request_no="FX1", member="m_7Hq2", amount_fen=12850),
    TillCommand(op="redeem", **AT, request_no="FX2", member="960000000000000001", points=500),
    TillCommand(op="refund", request_no="FR1", original_request_no="FX1", amount_fen=5000, points=200),
    TillCommand(op="refund", **AT, request_no="FR2", original_request_no="FX1", amount_fen=1),
    TillCommand(op="reverse", original_request_no="FX3"),
    TillCommand(op="query", **AT, original_request_no="FX3"),
    TillCommand(op="day_end", **AT, biz_date=date(2026, 11, 25),
                totals=DayEndTotals(earn_count=12, earn_points=3400, redeem_count=3, redeem_points=1500,
                                    refund_count=1, refund_points=100)),
]


def to_request(spec):
    return RequestFactory().generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                    **spec.headers)


def test_every_fangxiang_op_is_covered():
    assert {command.op for command in COMMANDS} == adapter.ops
    assert adapter.ops == set(OPS) - {"freeze", "confirm", "unfreeze"}


@pytest.mark.parametrize("member_field", ["member_code", "member_id"])
@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.op}-{c.request_no or c.original_request_no}" for c in COMMANDS])
def test_build_then_parse_gives_back_the_command(command, member_field):
    command = command.replace(extra={"member_field": member_field})
    spec = adapter.build_request(command, keys=KEYS, nonce="ignored", timestamp=SENT_AT)
    assert (spec.method, spec.path) == ("POST", "/gateway/fangxiang/gateway.do")
    call = adapter.parse(to_request(spec))
    assert call.command == command
    assert (call.app_key, call.timestamp) == ("fx_test_app", SENT_AT)
    assert call.verify(KEYS) == ""
    sign = dict(parse_qsl(spec.body.decode()))["sign"]
    assert call.nonce == hashlib.sha256(KEYS.app_key.encode() + b"\n" + base64.b64decode(sign)).hexdigest()[:32]


def test_build_reproduces_the_contract_vector():
    command = TillCommand(op="earn", **AT, request_no="FX20261125000123", member="960000000000000000",
                          amount_fen=12850)
    spec = adapter.build_request(command, keys=KEYS, nonce="n", timestamp=SENT_AT)
    params = dict(parse_qsl(spec.body.decode(), keep_blank_values=True))
    assert params["biz_content"] == VECTOR_BIZ
    assert params["sign"] == VECTOR_SIGN


def test_the_timestamp_is_sent_in_shanghai_time():
    utc = datetime.fromisoformat("2026-11-25T07:30:01+00:00")
    spec = adapter.build_request(COMMANDS[0], keys=KEYS, nonce="n", timestamp=utc)
    assert dict(parse_qsl(spec.body.decode()))["timestamp"] == "2026-11-25 15:30:01"


def test_chinese_text_round_trips():
    command = TillCommand(op="identify", **AT, member="会员卡8801")
    call = adapter.parse(to_request(adapter.build_request(command, keys=KEYS, nonce="n", timestamp=SENT_AT)))
    assert (call.command.member, call.verify(KEYS)) == ("会员卡8801", "")


def test_ops_fangxiang_lacks_and_naive_timestamps_are_refused():
    with pytest.raises(ValueError):
        adapter.build_request(TillCommand(op="confirm", original_request_no="FX2"), keys=KEYS, nonce="n",
                              timestamp=SENT_AT)
    with pytest.raises(ValueError):
        adapter.build_request(COMMANDS[0], keys=KEYS, nonce="n", timestamp=datetime(2026, 11, 25))


def test_full_loop_build_parse_render_read():
    call = adapter.parse(to_request(adapter.build_request(COMMANDS[2], keys=KEYS, nonce="n", timestamp=SENT_AT)))
    assert call.verify(KEYS) == ""
    response = adapter.render(call, {"request_no": "FX2", "points": 500, "amount_fen": 500, "points_balance": 99500},
                              KEYS)
    read = adapter.read_response(response.status_code, dict(response.items()), response.content, KEYS)
    assert read.ok and read.signature_valid
    assert read.data == {"points": 500, "deduct_amount": "5.00", "points_balance": 99500}
