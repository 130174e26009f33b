import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.errors import ParamError, SignError
from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.vendors.zhibaiwei.adapter import ZhibaiweiAdapter

from .helpers import APP_KEY, KEYS, SECRET, SITE, VECTOR_KEY, VECTOR_PARM_JSON, call, post, signed_body

SH = ZoneInfo("Asia/Shanghai")
adapter = ZhibaiweiAdapter()
WHERE = {"store_code": "01", "terminal_code": "03"}


def test_the_contract_vector_parses_and_verifies():
    body = signed_body(VECTOR_PARM_JSON)
    assert body["KEY"] == VECTOR_KEY
    parsed = adapter.parse(post("VipSaleSheet", body), method="VipSaleSheet")
    assert parsed.app_key == APP_KEY
    assert parsed.nonce == "a1B2c3D4"
    assert parsed.timestamp == datetime(2026, 11, 25, 15, 30, 1, tzinfo=SH)
    assert parsed.command == TillCommand(
        op="earn", operator="1001", request_no="XY0120261125000123", member="960000000000000000",
        amount_fen=12850, business_time=datetime(2026, 11, 25, 15, 30, 1, tzinfo=SH), memo="", **WHERE,
    )
    assert parsed.context == {"method": "VipSaleSheet"}
    assert parsed.verify(KEYS) == SECRET


CASES = [
    ("GetVipInfo", {**SITE, "Code": "13800000001"},
     TillCommand(op="identify", operator="1001", member="13800000001", **WHERE)),
    ("VipSaleSheet", {**SITE, "SheetNo": "S1", "VipNo": "M8KZ3Q7T", "SheetAmt": "0.05",
                      "sDateTime": "2026-01-02 03:04:05", "Memo": "午餐"},
     TillCommand(op="earn", operator="1001", request_no="S1", member="M8KZ3Q7T", amount_fen=5,
                 business_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=SH), memo="午餐", **WHERE)),
    ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M8KZ3Q7T", "PayIntegral": 500, "PayAmt": "5.00"},
     TillCommand(op="redeem", operator="1001", request_no="P1", member="M8KZ3Q7T", points=500,
                 amount_fen=500, **WHERE)),
    ("VipPaySheet", {**SITE, "SheetNo": "P2", "VipNo": "M8KZ3Q7T", "PayIntegral": "300"},
     TillCommand(op="redeem", operator="1001", request_no="P2", member="M8KZ3Q7T", points=300, **WHERE)),
    ("VipRetSheet", {**SITE, "RetSheetNo": "R1", "SheetNo": "S1", "RetAmt": "12.3", "RetIntegral": 100},
     TillCommand(op="refund", operator="1001", request_no="R1", original_request_no="S1", amount_fen=1230,
                 points=100, **WHERE)),
    ("VipRetSheet", {**SITE, "RetSheetNo": "R2", "SheetNo": "S1", "RetAmt": "1"},
     TillCommand(op="refund", operator="1001", request_no="R2", original_request_no="S1", amount_fen=100,
                 **WHERE)),
    ("VipSheetCancel", {"BranchJg": "01", "PosID": "03", "SheetNo": "S1"},
     TillCommand(op="reverse", original_request_no="S1", **WHERE)),
    ("QuerySheet", {"SheetNo": "S1"}, TillCommand(op="query", original_request_no="S1")),
    ("DayEnd", {"BranchJg": "01", "PosID": "03", "BizDate": "2026-11-25", "SaleCount": 3,
                "SaleIntegral": 380, "PayCount": 1, "PayIntegral": 500, "RetCount": 1, "RetIntegral": 20},
     TillCommand(op="day_end", biz_date=date(2026, 11, 25), totals=DayEndTotals(3, 380, 1, 500, 1, 20), **WHERE)),
]


@pytest.mark.parametrize("method, params, expected", CASES)
def test_every_method_maps_to_its_command(method, params, expected):
    parsed = adapter.parse(call(method, params), method=method)
    assert parsed.command == expected
    assert parsed.verify(KEYS) == SECRET


def test_cashier_is_optional():
    parsed = adapter.parse(call("GetVipInfo", {"BranchJg": "01", "PosID": "03", "Code": "X"}), method="GetVipInfo")
    assert parsed.command.operator == ""


# ---- signatures ---------------------------------------------------------------------------


def test_wrong_secret_does_not_verify():
    parsed = adapter.parse(call("QuerySheet", {"SheetNo": "S1"}, secret="another"), method="QuerySheet")
    assert parsed.verify(KEYS) is None


def test_previous_secret_verifies_during_rotation():
    parsed = adapter.parse(call("QuerySheet", {"SheetNo": "S1"}), method="QuerySheet")
    assert parsed.verify(CredentialKeys(app_key=APP_KEY, secrets=("new-secret", SECRET))) == SECRET
    assert parsed.verify(CredentialKeys(app_key=APP_KEY, secrets=("new-secret",))) is None


def test_keys_of_another_app_key_do_not_verify():
    parsed = adapter.parse(call("QuerySheet", {"SheetNo": "S1"}), method="QuerySheet")
    assert parsed.verify(CredentialKeys(app_key="other_app", secrets=(SECRET,))) is None


def test_payload_changed_after_signing_does_not_verify():
    body = signed_body(VECTOR_PARM_JSON)
    body["ParmJson"] = VECTOR_PARM_JSON.replace("128.50", "1285.00")
    parsed = adapter.parse(post("VipSaleSheet", body), method="VipSaleSheet")
    assert parsed.command.amount_fen == 128500
    assert parsed.verify(KEYS) is None


def test_key_of_wrong_shape_does_not_verify():
    parsed = adapter.parse(call("QuerySheet", {"SheetNo": "S1"}, KEY="short"), method="QuerySheet")
    assert parsed.verify(KEYS) is None


def test_missing_key_is_a_sign_error():
    body = signed_body(VECTOR_PARM_JSON)
    del body["KEY"]
    with pytest.raises(SignError):
        adapter.parse(post("VipSaleSheet", body), method="VipSaleSheet")


# ---- malformed requests ------------------------------------------------------------------

SALE = json.loads(VECTOR_PARM_JSON)


def _sale(**changes):
    params = {**SALE, **changes}
    return {k: v for k, v in params.items() if v is not ...}


@pytest.mark.parametrize(
    "method, params, field",
    [
        ("VipSaleSheet", _sale(SheetNo=...), "SheetNo"),
        ("VipSaleSheet", _sale(SheetNo="X" * 65), "SheetNo"),
        ("VipSaleSheet", _sale(SheetNo="S\n1"), "SheetNo"),
        ("VipSaleSheet", _sale(VipNo=960000000000000000), "VipNo"),
        ("VipSaleSheet", _sale(BranchJg=...), "BranchJg"),
        ("VipSaleSheet", _sale(PosID=["03"]), "PosID"),
        ("VipSaleSheet", _sale(SheetAmt=...), "SheetAmt"),
        ("VipSaleSheet", _sale(SheetAmt=128.5), "SheetAmt"),
        ("VipSaleSheet", _sale(SheetAmt=128), "SheetAmt"),
        ("VipSaleSheet", _sale(SheetAmt="-1.00"), "SheetAmt"),
        ("VipSaleSheet", _sale(SheetAmt="1.005"), "SheetAmt"),
        ("VipSaleSheet", _sale(SheetAmt="1e3"), "SheetAmt"),
        ("VipSaleSheet", _sale(SheetAmt="100000000.01"), "SheetAmt"),
        ("VipSaleSheet", _sale(sDateTime=...), "sDateTime"),
        ("VipSaleSheet", _sale(sDateTime="2026/11/25 15:30:01"), "sDateTime"),
        ("VipSaleSheet", _sale(sDateTime="2026-02-30 15:30:01"), "sDateTime"),
        ("VipSaleSheet", _sale(Memo="备" * 201), "Memo"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1"}, "PayIntegral"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1", "PayIntegral": -5}, "PayIntegral"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1", "PayIntegral": 0}, "PayIntegral"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1", "PayIntegral": 1.5}, "PayIntegral"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1", "PayIntegral": True}, "PayIntegral"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1", "PayIntegral": 10**13}, "PayIntegral"),
        ("VipPaySheet", {**SITE, "SheetNo": "P1", "VipNo": "M1", "PayIntegral": 5, "PayAmt": 0.05}, "PayAmt"),
        ("VipRetSheet", {**SITE, "RetSheetNo": "R1", "SheetNo": "S1", "RetAmt": "1.00", "RetIntegral": -1},
         "RetIntegral"),
        ("VipRetSheet", {**SITE, "SheetNo": "S1", "RetAmt": "1.00"}, "RetSheetNo"),
        ("VipSheetCancel", {"BranchJg": "01", "PosID": "03"}, "SheetNo"),
        ("DayEnd", {"BranchJg": "01", "PosID": "03", "BizDate": "20261125", "SaleCount": 0, "SaleIntegral": 0,
                    "PayCount": 0, "PayIntegral": 0, "RetCount": 0, "RetIntegral": 0}, "BizDate"),
        ("DayEnd", {"BranchJg": "01", "PosID": "03", "BizDate": "2026-11-25", "SaleCount": 0,
                    "PayCount": 0, "PayIntegral": 0, "RetCount": 0, "RetIntegral": 0}, "SaleIntegral"),
    ],
)
def test_bad_fields_are_param_errors_naming_the_field(method, params, field):
    with pytest.raises(ParamError) as caught:
        adapter.parse(call(method, params), method=method)
    assert field in caught.value.message


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"AppKey": None}, "AppKey"),
        ({"AppKey": 123}, "AppKey"),
        ({"Nonce": "a1B2c3D"}, "Nonce"),
        ({"Nonce": "a1B2c3D!"}, "Nonce"),
        ({"DateTime": "2026-11-25 15:30:01"}, "DateTime"),
        ({"DateTime": "20261325153001"}, "DateTime"),
        ({"ParmJson": None}, "ParmJson"),
        ({"ParmJson": SALE}, "ParmJson"),
        ({"ParmJson": "{not json"}, "ParmJson"),
        ({"ParmJson": '["a"]'}, "ParmJson"),
        ({"ParmJson": VECTOR_PARM_JSON[:-1] + ',"SheetNo":"X2"}'}, "ParmJson"),  # duplicate key
        ({"ParmJson": VECTOR_PARM_JSON[:-1] + ',"x":NaN}'}, "ParmJson"),
        ({"KEY": 42}, "KEY"),
    ],
)
def test_bad_envelope_fields_are_param_errors(overrides, field):
    body = signed_body(VECTOR_PARM_JSON, **overrides)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ParamError) as caught:
        adapter.parse(post("VipSaleSheet", body), method="VipSaleSheet")
    assert field in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b'"text"', b"\xff\xfe{}", b"", b"[" * 30000 + b"]" * 30000],
)
def test_malformed_bodies_are_param_errors(raw):
    with pytest.raises(ParamError):
        adapter.parse(post("QuerySheet", raw), method="QuerySheet")


def test_body_over_64_kib_is_refused():
    body = signed_body(json.dumps({"SheetNo": "S1", "pad": "x" * 70000}))
    with pytest.raises(ParamError) as caught:
        adapter.parse(post("QuerySheet", body), method="QuerySheet")
    assert "64 KiB" in caught.value.message


def test_unknown_method_is_refused():
    with pytest.raises(ParamError) as caught:
        adapter.parse(call("GetVipInfoX", {"SheetNo": "S1"}), method="GetVipInfoX")
    assert "接口不存在" in caught.value.message


def test_only_post_is_accepted():
    request = post("QuerySheet", signed_body('{"SheetNo":"S1"}'), http_method="PUT")
    with pytest.raises(ParamError):
        adapter.parse(request, method="QuerySheet")
