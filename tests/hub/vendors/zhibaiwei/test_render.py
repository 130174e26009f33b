import json

import pytest

from hub import errors
from hub.gateway.canonical import TillCommand
from hub.vendors.zhibaiwei import methods
from hub.vendors.zhibaiwei.adapter import ZhibaiweiAdapter

from .helpers import KEYS, call

adapter = ZhibaiweiAdapter()

IDENTIFY_RESULT = {
    "member_ref": "M8KZ3Q7T", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡",
    "points": 1234, "points_value_fen": 1234, "point_value_fen_per_100": 100, "pending_points": 0,
    "frozen_points": 0, "redeemable_points": 1000,
    "rights": [{"code": "VRAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "满50减10", "discount_fen": 1000, "threshold_fen": 5000, "voucher": True},
               {"code": "R95", "name": "会员九五折", "discount_bp": 9500, "voucher": False}],
}


def _parsed(method, params):
    # each method takes only its own ParmJson keys (methods.PARAMS): send those of the sample
    params = {k: v for k, v in params.items() if k in methods.PARAMS[method]}
    return adapter.parse(call(method, params), method=method)


def _render(method, params, outcome):
    response = adapter.render(_parsed(method, params), outcome, KEYS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return response


def test_identify_renders_the_documented_fields_exactly():
    response = _render("GetVipInfo", {"BranchJg": "01", "PosID": "03", "Code": "13800000001"}, IDENTIFY_RESULT)
    assert response.content == (
        '{"result":1,"errcode":"SUCCESS","err":"成功","data":{"VipNo":"M8KZ3Q7T","VipName":"*明",'
        '"Mobile":"138****1234","Level":"金卡","Integral":1234,"IntegralValue":"12.34","MaxPayIntegral":1000,'
        '"Rights":[{"RightCode":"VRAAAAAAAAAAAAAAAAAAAAAAAAAA","Name":"满50减10","DisAmt":"10.00","MinAmt":"50.00","IsVoucher":true},'
        '{"RightCode":"R95","Name":"会员九五折","DiscountRate":"0.95","IsVoucher":false}]}}'
    ).encode()


SHEET = {"BranchJg": "01", "PosID": "03", "SheetNo": "S1", "VipNo": "M1", "SheetAmt": "1.00",
         "sDateTime": "2026-11-25 15:30:01", "PayIntegral": 500, "RetSheetNo": "R1", "RetAmt": "1.00"}


@pytest.mark.parametrize(
    "method, result, data",
    [
        ("VipSaleSheet", {"request_no": "S1", "points_earned": 128, "points_balance": 100128},
         {"SheetNo": "S1", "AddIntegral": 128, "Integral": 100128}),
        ("VipPaySheet", {"request_no": "S1", "points": 500, "amount_fen": 500, "points_balance": 99500},
         {"SheetNo": "S1", "PayIntegral": 500, "PayAmt": "5.00", "Integral": 99500}),
        ("VipRetSheet", {"refund_no": "R1", "request_no": "S1", "points_clawed_back": 64, "points_returned": 250,
                         "amount_fen": 6425, "points_balance": 99686},
         {"RetSheetNo": "R1", "DecIntegral": 64, "BackIntegral": 250, "Integral": 99686}),
        ("VipSheetCancel", {"request_no": "S1", "status": "REVERSED", "action": "tombstone"},
         {"SheetNo": "S1", "Status": "CANCELLED"}),
        ("QuerySheet", {"request_no": "S1", "type": "earn", "status": "PART_REFUNDED", "points": 128,
                        "amount_fen": 12850,
                        "refunds": [{"refund_no": "R1", "amount_fen": 6425, "points_clawed_back": 64,
                                     "points_returned": 0}]},
         {"SheetNo": "S1", "Status": "PART_REFUNDED", "SheetType": "VipSaleSheet", "SheetAmt": "128.50",
          "AddIntegral": 128,
          "Refunds": [{"RetSheetNo": "R1", "RetAmt": "64.25", "DecIntegral": 64, "BackIntegral": 0}]}),
        ("QuerySheet", {"request_no": "P1", "type": "redeem", "status": "REVERSED", "points": 500,
                        "amount_fen": 500, "refunds": []},
         {"SheetNo": "P1", "Status": "CANCELLED", "SheetType": "VipPaySheet", "PayIntegral": 500,
          "PayAmt": "5.00", "Refunds": []}),
        ("DayEnd", {"matched": False, "differences": [{"request_no": "S9", "field": "points", "till": 10,
                                                        "hub": None}]},
         {"Matched": False, "Differences": [{"SheetNo": "S9", "Field": "points", "Till": 10, "Hub": None}]}),
    ],
)
def test_success_data_per_method(method, result, data):
    params = dict(SHEET)
    if method == "DayEnd":
        params = {"BranchJg": "01", "PosID": "03", "BizDate": "2026-11-25", "SaleCount": 1, "SaleIntegral": 1,
                  "PayCount": 0, "PayIntegral": 0, "RetCount": 0, "RetIntegral": 0}
    body = json.loads(_render(method, params, result).content)
    assert body == {"result": 1, "errcode": "SUCCESS", "err": "成功", "data": data}


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_every_canonical_error_has_its_envelope(code):
    error = errors.DomainError(code=code)
    response = _render("VipSaleSheet", SHEET, error)
    expected_result = 2 if code == "SYSTEM_ERROR" else 0
    assert json.loads(response.content) == {
        "result": expected_result, "errcode": code, "err": errors.CODES[code][1], "data": {}}


def test_specific_message_is_passed_to_the_till():
    response = _render("VipPaySheet", SHEET, errors.PointsInsufficient("积分不足，可用 120 分"))
    assert json.loads(response.content)["err"] == "积分不足，可用 120 分"


def test_unknown_sheet_on_query_is_a_definitive_not_found():
    response = _render("QuerySheet", {"SheetNo": "S404"}, errors.OrderNotExist())
    assert json.loads(response.content) == {
        "result": 1, "errcode": "SUCCESS", "err": "成功", "data": {"SheetNo": "S404", "Status": "NOT_FOUND"}}


def test_unknown_sheet_elsewhere_is_a_failure():
    response = _render("VipRetSheet", SHEET, errors.OrderNotExist())
    assert json.loads(response.content)["result"] == 0


def test_a_request_that_could_not_be_parsed_still_gets_the_envelope():
    response = adapter.render(None, errors.ParamError("请求体不是有效的 JSON"), None)
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "result": 0, "errcode": "PARAM_ERROR", "err": "请求体不是有效的 JSON", "data": {}}


def test_a_result_for_an_operation_zhibaiwei_lacks_is_a_programming_error():
    parsed = _parsed("QuerySheet", {"SheetNo": "S1"})
    parsed.command = TillCommand(op="freeze")
    with pytest.raises(ValueError):
        adapter.render(parsed, {"request_no": "S1"}, KEYS)


# ---- read_response ------------------------------------------------------------------------


def test_read_response_reads_success_failure_and_unknown():
    ok = adapter.read_response(200, {}, _render("VipSaleSheet", SHEET, {"request_no": "S1", "points_earned": 1,
                                                                         "points_balance": 2}).content, KEYS)
    assert (ok.ok, ok.code, ok.data["AddIntegral"], ok.signature_valid) == (True, "SUCCESS", 1, None)
    refused = adapter.read_response(200, {}, _render("VipPaySheet", SHEET, errors.PointsInsufficient()).content, KEYS)
    assert (refused.ok, refused.code, refused.message) == (False, "POINTS_INSUFFICIENT", "积分余额不足")
    unknown = adapter.read_response(200, {}, _render("VipPaySheet", SHEET, errors.SystemError_()).content, KEYS)
    assert (unknown.ok, unknown.code) == (False, "PROCESSING")


@pytest.mark.parametrize(
    "status, body",
    [(200, b"<html>502</html>"), (502, b'{"result":1,"errcode":"SUCCESS","err":"","data":{}}'),
     (200, b'{"result":true,"data":{}}'), (200, b'{"result":1,"data":[]}'), (200, b"")],
)
def test_unreadable_answers_are_unknown_not_failure(status, body):
    answer = adapter.read_response(status, {}, body, KEYS)
    assert (answer.ok, answer.code) == (False, "PROCESSING")
