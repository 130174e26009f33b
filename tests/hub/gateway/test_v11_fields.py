"""The v1.1 fields on the wire, exactly as rights.md's table names them, and read back: earn's
rights applied in each dialect's names and units (yuan strings where the dialect sends yuan,
JSON text in Sixun), and the hostile shapes refused as PARAM_ERROR before anything happens."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from hub.errors import ParamError
from hub.gateway.base import bp_to_rate, parse_rights_used, rights_items
from hub.gateway.canonical import RightUse, TillCommand
from hub.vendors.fangxiang.adapter import FangxiangAdapter
from hub.vendors.kemai.adapter import KemaiAdapter
from hub.vendors.native.adapter import NativeAdapter
from hub.vendors.sixun.adapter import SixunAdapter
from hub.vendors.zhibaiwei.adapter import ZhibaiweiAdapter

EARN = TillCommand(op="earn", store_code="S1", terminal_code="P1", request_no="R1", member="M1", amount_fen=8500,
                   rights_used=(RightUse("VRX", 643), RightUse("SBX_R95", 500)), extra={"merchant_code": "MC"})


def body_of(adapter) -> bytes:
    return adapter.build_request(EARN, keys=adapter.sandbox.keys(), nonce="abcd1234",
                                 timestamp=datetime.now(UTC)).body


def test_zhibaiwei_rights_used_in_parm_json_in_yuan():
    parm = json.loads(json.loads(body_of(ZhibaiweiAdapter()))["ParmJson"])
    assert parm["RightsUsed"] == [{"RightCode": "VRX", "DisAmt": "6.43"}, {"RightCode": "SBX_R95", "DisAmt": "5.00"}]


def test_kemai_rights_used_in_fen():
    assert json.loads(body_of(KemaiAdapter()))["rights_used"] == [{"code": "VRX", "discount_amount": 643},
                                                                  {"code": "SBX_R95", "discount_amount": 500}]


def test_sixun_rights_used_is_signed_json_text():
    body = body_of(SixunAdapter()).decode()
    assert '<rights_used>[{"code":"VRX","discount_fee":643},{"code":"SBX_R95","discount_fee":500}]</rights_used>' in body


def test_fangxiang_rights_used_in_biz_content_in_yuan():
    biz = json.loads(parse_qs(body_of(FangxiangAdapter()).decode())["biz_content"][0])
    assert biz["rights_used"] == [{"code": "VRX", "discount_amount": "6.43"}, {"code": "SBX_R95", "discount_amount": "5.00"}]


def test_native_rights_used_in_fen():
    assert json.loads(body_of(NativeAdapter()))["rights_used"] == [{"code": "VRX", "discount_fen": 643},
                                                                   {"code": "SBX_R95", "discount_fen": 500}]


def test_a_v1_earn_sends_no_v1_1_field():
    v1 = EARN.replace(rights_used=None)
    for adapter in (ZhibaiweiAdapter(), KemaiAdapter(), SixunAdapter(), FangxiangAdapter(), NativeAdapter()):
        body = adapter.build_request(v1, keys=adapter.sandbox.keys(), nonce="abcd1234", timestamp=datetime.now(UTC)).body
        assert b"RightsUsed" not in body and b"rights_used" not in body


@pytest.mark.parametrize(("bp", "rate"), [(9500, "0.95"), (8850, "0.885"), (9000, "0.9"), (1, "0.0001")])
def test_rates_are_basis_points_inside_and_decimal_strings_only_in_the_dialects(bp, rate):
    assert bp_to_rate(bp) == rate


def test_absent_optional_fields_are_omitted_not_null():
    items = rights_items([{"code": "R95", "name": "九五折", "discount_bp": 9500, "voucher": False}],
                         names={"code": "c", "name": "n", "discount_bp": "r", "discount_fen": "d",
                                "threshold_fen": "t", "voucher": "v"})
    assert items == [{"c": "R95", "n": "九五折", "r": "0.95", "v": False}]


@pytest.mark.parametrize(("items", "yuan"), [
    ("not a list", False),
    ([{"code": "A", "discount_fen": "643"}], False),  # a numeric string where fen is an integer
    ([{"code": "A", "discount_fen": 6.43}], False),
    ([{"code": "A", "discount_fen": True}], False),
    ([{"code": "A", "discount_fen": -1}], False),
    ([{"code": "A"}], False),
    ([{"code": "A", "discount_fen": 1, "extra": 1}], False),
    ([{"discount_fen": 1}], False),
    ([{"code": "A", "discount_fen": 643}], True),  # a number where yuan is a string
    ([{"code": "A", "discount_fen": "6.431"}], True),
    ([{"code": "A", "discount_fen": "-6.43"}], True),
    ([{"code": f"A{n}", "discount_fen": 1} for n in range(9)], False),
    (["A"], False),
])
def test_hostile_rights_used_is_a_param_error(items, yuan):
    with pytest.raises(ParamError):
        parse_rights_used(items, code_field="code", amount_field="discount_fen", yuan=yuan)


def test_rights_used_read_back():
    assert parse_rights_used([{"code": "A", "discount_fen": "6.43"}], code_field="code", amount_field="discount_fen",
                             yuan=True) == (RightUse("A", 643),)
    assert parse_rights_used(None, code_field="code", amount_field="x", yuan=False) is None
