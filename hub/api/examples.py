"""Worked examples for the OpenAPI page: one request and one answer per endpoint, and refusals.

The earn request is the signing test vector of docs/native-api.md.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from hub.api.vouchers import EXAMPLE_DATA, EXAMPLE_REQUESTS

SITE = {"store_code": "S001", "terminal_code": "P03", "operator": "1001"}
VECTOR_EARN = {**SITE, "request_no": "HUB20261125000123", "member": "M8KZ3Q7T", "amount_fen": 12850,
               "business_time": "2026-11-25T15:30:01+08:00"}

REQUESTS = {
    "identify": {**SITE, "member": "960123456789012345"},
    "earn": VECTOR_EARN,
    "redeem": {**SITE, "request_no": "HUB20261125000124", "member": "M8KZ3Q7T", "points": 1000, "amount_fen": 1000},
    "freeze": {**SITE, "request_no": "HUB20261125000125", "member": "M8KZ3Q7T", "points": 800},
    "confirm": {},
    "unfreeze": {},
    "refund": {"request_no": "HUBR20261125000001", "original_request_no": "HUB20261125000123", "amount_fen": 6425},
    "reverse": {},
    "day_end": {**SITE, "biz_date": "2026-11-24", "totals": {
        "earn_count": 5, "earn_points": 640, "redeem_count": 2, "redeem_points": 900,
        "refund_count": 1, "refund_points": 64}},
    "batch": {"store_code": "S001", "terminal_code": "P03", "items": [
        {"op": "earn", "request_no": "OFF20261125000001", "member": "M8KZ3Q7T", "amount_fen": 3600,
         "business_time": "2026-11-25T09:12:44+08:00"},
        {"op": "refund", "request_no": "OFFR20261125000001", "original_request_no": "OFF20261124000007",
         "amount_fen": 1200, "business_time": "2026-11-25T09:40:02+08:00"},
        {"op": "earn", "request_no": "OFF20261125000002", "member": "13911112222", "amount_fen": 800,
         "business_time": "2026-11-25T10:03:19+08:00"},
    ]},
}

DATA = {
    "identify": {"member_ref": "M8KZ3Q7T", "name_masked": "*明", "mobile_masked": "138****1234", "tier": "金卡",
                 "points": 100000, "points_value_fen": 100000, "point_value_fen_per_100": 100,
                 "pending_points": 0, "frozen_points": 0, "redeemable_points": 100000,
                 "rights": [{"code": "R95", "name": "会员九五折", "discount_rate": "0.95"}]},
    "earn": {"request_no": "HUB20261125000123", "points_earned": 128, "points_balance": 100128},
    "redeem": {"request_no": "HUB20261125000124", "points": 1000, "amount_fen": 1000, "points_balance": 99128},
    "freeze": {"request_no": "HUB20261125000125", "points": 800, "amount_fen": 800,
               "expires_at": "2026-11-25T15:45:01+08:00", "points_balance": 98328},
    "confirm": {"request_no": "HUB20261125000125", "points": 800, "amount_fen": 800, "points_balance": 98328},
    "unfreeze": {"request_no": "HUB20261125000125", "status": "UNFROZEN", "points_balance": 99128},
    "refund": {"refund_no": "HUBR20261125000001", "request_no": "HUB20261125000123", "points_clawed_back": 64,
               "points_returned": 0, "amount_fen": 6425, "points_balance": 99064},
    "reverse": {"request_no": "HUB20261125000123", "status": "REVERSED", "action": "reverse"},
    "query": {"request_no": "HUB20261125000123", "type": "earn", "status": "PART_REFUNDED", "points": 128,
              "amount_fen": 12850, "refunds": [{"refund_no": "HUBR20261125000001", "amount_fen": 6425,
                                               "points_clawed_back": 64, "points_returned": 0,
                                               "status": "SUCCESS"}]},
    "day_end": {"matched": False, "differences": [
        {"request_no": "", "field": "earn_points", "till": 640, "hub": 512}]},
    "batch": {"items": [
        {"request_no": "OFF20261125000001", "code": "SUCCESS", "message": "成功",
         "data": {"request_no": "OFF20261125000001", "points_earned": 36, "points_balance": 100164}},
        {"request_no": "OFFR20261125000001", "code": "ORDER_NOT_EXIST", "message": "交易不存在", "data": {}},
        {"request_no": "OFF20261125000002", "code": "MEMBER_NOT_FOUND", "message": "会员不存在", "data": {}},
    ]},
}

REQUESTS.update(EXAMPLE_REQUESTS)  # the voucher endpoints (hub.api.vouchers)
DATA.update(EXAMPLE_DATA)

REFUSALS = [
    ("参数错误", "PARAM_ERROR", "参数类型错误：amount_fen（应为整数）", "400"),
    ("签名错误", "SIGN_ERROR", "签名错误", "401"),
    ("积分不足", "POINTS_INSUFFICIENT", "积分余额不足", "422"),
]


def examples(op: str) -> list[OpenApiExample]:
    found = []
    if op in REQUESTS:
        found.append(OpenApiExample(f"{op} request", value=REQUESTS[op], request_only=True))
    found.append(OpenApiExample(f"{op} success", value={"code": "SUCCESS", "message": "成功", "data": DATA[op]},
                                response_only=True, status_codes=["200"]))
    for name, code, message, status in REFUSALS:
        found.append(OpenApiExample(name, value={"code": code, "message": message, "data": {}},
                                    response_only=True, status_codes=[status]))
    return found
