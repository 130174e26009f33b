"""Fangxiang ``biz_content`` <-> canonical commands and results (fangxiang.md, "biz_content").

Money is yuan strings ("128.50") on the wire and integer fen inside; a JSON number for money is
refused. Points and counts are JSON integers (decimal strings are accepted too).
"""

from __future__ import annotations

import re
from datetime import datetime

from hub.errors import ParamError
from hub.gateway import base
from hub.gateway.base import (
    MAX_POINTS,
    fen_to_yuan,
    parse_rights_used,
    require_str,
    rights_items,
    rights_used_out,
)
from hub.gateway.canonical import DayEndTotals, TillCommand

METHODS = {
    "fx.member.query": "identify",
    "fx.point.earn": "earn",
    "fx.point.pay": "redeem",
    "fx.point.refund": "refund",
    "fx.point.cancel": "reverse",
    "fx.point.query": "query",
    "fx.bill.dayend": "day_end",
}
METHOD_OF = {op: method for method, op in METHODS.items()}
# Methods whose biz_content names the store and till; the others act on an earlier request.
LOCATED = frozenset({"identify", "earn", "redeem", "day_end"})

# Canonical query status -> Fangxiang trade_status. Fangxiang tills never freeze, so FROZEN can
# only be seen for a request made through another channel; it passes through unchanged.
TRADE_STATUSES = {
    "SUCCESS": "SUCCESS",
    "REVERSED": "CANCELLED",
    "UNFROZEN": "CANCELLED",
    "REFUNDED": "REFUNDED",
    "PART_REFUNDED": "PART_REFUNDED",
}

# fx.bill.dayend field -> DayEndTotals attribute
DAY_END_FIELDS = {
    "earn_count": "earn_count",
    "earn_points": "earn_points",
    "pay_count": "redeem_count",
    "pay_points": "redeem_points",
    "refund_count": "refund_count",
    "refund_points": "refund_points",
}


# v1.1 (rights.md): money in yuan strings, the rate as "0.95".
RIGHTS_USED = {"code_field": "code", "amount_field": "discount_amount", "yuan": True}
RIGHT_ITEM = {"code": "code", "name": "name", "discount_bp": "discount_rate", "discount_fen": "discount_amount",
              "threshold_fen": "threshold_amount", "voucher": "voucher"}


def missing(name: str) -> ParamError:
    """A missing parameter: ``detail["missing"]`` makes it code 40001 rather than 40002."""
    return ParamError(f"缺少参数：{name}", detail={"missing": name})


def str_field(data: dict, name: str, *, max_len: int = 64, required: bool = True) -> str:
    if required and data.get(name) in (None, ""):
        raise missing(name)
    value = require_str(data, name, max_len=max_len, required=False)
    if required and not value:
        raise missing(name)
    return value


def int_field(data: dict, name: str, *, minimum: int = 0, maximum: int = MAX_POINTS, required: bool = True) -> int | None:
    return base.int_field(data, name, minimum=minimum, maximum=maximum, required=required, missing=missing)


def yuan_field(data: dict, name: str, *, minimum_fen: int = 0) -> int:
    return base.yuan_field(data, name, minimum_fen=minimum_fen, missing=missing)


def _member(biz: dict) -> str:
    code = str_field(biz, "member_code", required=False)
    member_id = str_field(biz, "member_id", required=False)
    if code and member_id:
        raise ParamError("member_code 与 member_id 只能填写一个")
    if not (code or member_id):
        raise missing("member_code")
    return code or member_id


def _bill_date(biz: dict):
    value = str_field(biz, "bill_date", max_len=10)
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ParamError("参数格式错误：bill_date（应为 yyyy-MM-dd）") from None


def command_from_biz(method: str, biz: dict) -> TillCommand:
    op = METHODS[method]
    located = op in LOCATED
    common = {
        "op": op,
        "store_code": str_field(biz, "store_id", max_len=32, required=located),
        "terminal_code": str_field(biz, "terminal_id", max_len=32, required=located),
    }
    if op == "identify":
        return TillCommand(**common, member=_member(biz))
    if op == "earn":
        return TillCommand(**common, request_no=str_field(biz, "out_trade_no"), member=_member(biz),
                           amount_fen=yuan_field(biz, "total_amount", minimum_fen=1),
                           rights_used=parse_rights_used(biz.get("rights_used"), **RIGHTS_USED))
    if op == "redeem":
        return TillCommand(**common, request_no=str_field(biz, "out_trade_no"), member=_member(biz),
                           points=int_field(biz, "points", minimum=1))
    if op == "refund":
        return TillCommand(**common, request_no=str_field(biz, "out_request_no"),
                           original_request_no=str_field(biz, "out_trade_no"),
                           amount_fen=yuan_field(biz, "refund_amount"),
                           points=int_field(biz, "refund_points", required=False))
    if op in ("reverse", "query"):
        return TillCommand(**common, original_request_no=str_field(biz, "out_trade_no"))
    totals = {attr: int_field(biz, name) for name, attr in DAY_END_FIELDS.items()}
    return TillCommand(**common, biz_date=_bill_date(biz), totals=DayEndTotals(**totals))


def biz_from_command(command: TillCommand) -> dict:
    """The biz_content of a request (the inverse of command_from_biz), in the doc's order."""
    op = command.op
    if op not in METHOD_OF:
        raise ValueError(f"Fangxiang has no method for {op!r}")
    member_field = command.extra.get("member_field", "member_code")
    where = [("store_id", command.store_code), ("terminal_id", command.terminal_code)]
    yuan = fen_to_yuan(command.amount_fen) if command.amount_fen is not None else None
    if op == "identify":
        pairs = [*where, (member_field, command.member)]
    elif op == "earn":
        pairs = [("out_trade_no", command.request_no), *where, (member_field, command.member), ("total_amount", yuan),
                 ("rights_used", rights_used_out(command.rights_used, code_field="code",
                                                 amount_field="discount_amount", yuan=True))]
    elif op == "redeem":
        pairs = [("out_trade_no", command.request_no), *where, (member_field, command.member),
                 ("points", command.points)]
    elif op == "refund":
        pairs = [("out_request_no", command.request_no), ("out_trade_no", command.original_request_no),
                 ("refund_amount", yuan), ("refund_points", command.points), *where]
    elif op in ("reverse", "query"):
        pairs = [("out_trade_no", command.original_request_no or command.request_no), *where]
    else:
        totals = command.totals or DayEndTotals()
        pairs = [*where, ("bill_date", command.biz_date.isoformat() if command.biz_date else None)]
        pairs += [(name, getattr(totals, attr)) for name, attr in DAY_END_FIELDS.items()]
    return {name: value for name, value in pairs if value is not None and value != ""}


def result_fields(op: str, result: dict) -> dict:
    """The documented business fields of a successful answer, in the doc's order."""
    get = result.get

    def yuan(name):
        return fen_to_yuan(get(name)) if get(name) is not None else None

    if op == "identify":
        pairs = [("member_id", get("member_ref")), ("name_masked", get("name_masked")),
                 ("mobile_masked", get("mobile_masked")), ("level", get("tier")), ("points", get("points")),
                 ("points_amount", yuan("points_value_fen")), ("redeemable_points", get("redeemable_points")),
                 ("rights", rights_items(get("rights"), names=RIGHT_ITEM, rate="decimal", money="yuan"))]
    elif op == "earn":
        pairs = [("points_earned", get("points_earned")), ("points_balance", get("points_balance"))]
    elif op == "redeem":
        pairs = [("points", get("points")), ("deduct_amount", yuan("amount_fen")),
                 ("points_balance", get("points_balance"))]
    elif op == "refund":
        pairs = [("points_clawed_back", get("points_clawed_back")), ("points_returned", get("points_returned")),
                 ("points_balance", get("points_balance"))]
    elif op == "reverse":
        pairs = [("action", get("action"))]
    elif op == "query":
        status = get("status")
        pairs = [("trade_status", TRADE_STATUSES.get(status, status)), ("points", get("points")),
                 ("total_amount", yuan("amount_fen"))]
    elif op == "day_end":
        pairs = [("matched", get("matched")), ("differences", get("differences"))]
    else:
        raise ValueError(f"Fangxiang has no method for {op!r}")
    return {name: value for name, value in pairs if value is not None}

