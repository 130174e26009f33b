"""Sixun fields <-> canonical commands and results (sixun.md, "Services").

Money is integer fen on both sides; points integers. ``time_end`` and ``biz_date`` are
Asia/Shanghai. The merchant code ``mch_id`` travels in ``command.extra["mch_id"]``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from hub.errors import ParamError
from hub.gateway.base import (
    DIGITS,
    fen_field,
    int_field,
    parse_rights_used,
    require_str,
    rights_items,
    rights_used_out,
)
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.timezone import SHANGHAI

SERVICES = {
    "member.query": "identify",
    "point.earn": "earn",
    "point.pay": "redeem",
    "point.refund": "refund",
    "point.reverse": "reverse",
    "order.query": "query",
    "day.end": "day_end",
}
SERVICE_OF = {op: service for service, op in SERVICES.items()}

# Canonical query status -> Sixun trade_state. Sixun tills never freeze, so FROZEN/UNFROZEN can
# only be seen for a request made through another channel; they pass through unchanged.
TRADE_STATES = {"SUCCESS": "SUCCESS", "REVERSED": "REVOKED", "REFUNDED": "REFUND", "PART_REFUNDED": "REFUND"}

# day.end field -> DayEndTotals attribute
DAY_END_FIELDS = {
    "earn_count": "earn_count",
    "earn_points": "earn_points",
    "pay_count": "redeem_count",
    "pay_points": "redeem_points",
    "refund_count": "refund_count",
    "refund_points": "refund_points",
}


# v1.1 (rights.md): ``rights`` and ``rights_used`` are JSON text, money in fen, the rate "0.95".
RIGHTS_USED = {"code_field": "code", "amount_field": "discount_fee", "yuan": False}
RIGHT_ITEM = {"code": "code", "name": "name", "discount_bp": "discount_rate", "discount_fen": "discount_fee",
              "threshold_fen": "threshold_fee", "voucher": "voucher"}
MAX_RIGHTS_TEXT = 4096


def _rights_used(fields: dict):
    raw = fields.get("rights_used")
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_RIGHTS_TEXT:
        raise ParamError("参数过长：rights_used")
    try:
        items = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise ParamError("参数格式错误：rights_used（应为 JSON 数组文本）") from None
    return parse_rights_used(items, **RIGHTS_USED)


def str_field(fields: dict, name: str, *, max_len: int = 64, required: bool = True) -> str:
    return require_str(fields, name, max_len=max_len, required=required)


def _member(fields: dict) -> str:
    code = str_field(fields, "member_code", required=False)
    member_id = str_field(fields, "member_id", required=False)
    if code and member_id:
        raise ParamError("member_code 与 member_id 只能填写一个")
    if not (code or member_id):
        raise ParamError("缺少参数：member_code 或 member_id")
    return code or member_id


def _moment(value: str, name: str, fmt: str, shown: str) -> datetime:
    if not DIGITS.fullmatch(value) or len(value) != len(shown):
        raise ParamError(f"参数格式错误：{name}（应为 {shown}）")
    try:
        return datetime.strptime(value, fmt)
    except ValueError:
        raise ParamError(f"参数格式错误：{name}（应为 {shown}）") from None


def command_from_fields(fields: dict[str, str]) -> TillCommand:
    service = str_field(fields, "service")
    op = SERVICES.get(service)
    if op is None:
        raise ParamError(f"不支持的服务：{service}")
    common = {
        "op": op,
        "store_code": str_field(fields, "store_id", max_len=32),
        "terminal_code": str_field(fields, "device_info", max_len=32),
        "extra": {"mch_id": str_field(fields, "mch_id", max_len=32)},
    }
    if op == "identify":
        return TillCommand(**common, member=_member(fields))
    if op == "earn":
        time_end = str_field(fields, "time_end", required=False)
        return TillCommand(
            **common,
            request_no=str_field(fields, "out_trade_no"),
            member=_member(fields),
            amount_fen=fen_field(fields, "total_fee", minimum=1),
            business_time=(
                _moment(time_end, "time_end", "%Y%m%d%H%M%S", "yyyyMMddHHmmss").replace(tzinfo=SHANGHAI)
                if time_end
                else None
            ),
            rights_used=_rights_used(fields),
        )
    if op == "redeem":
        return TillCommand(
            **common,
            request_no=str_field(fields, "out_trade_no"),
            member=_member(fields),
            points=int_field(fields, "point_amount", minimum=1),
        )
    if op == "refund":
        return TillCommand(
            **common,
            request_no=str_field(fields, "out_refund_no"),
            original_request_no=str_field(fields, "out_trade_no"),
            amount_fen=fen_field(fields, "refund_fee"),
            points=int_field(fields, "refund_points", required=False),
        )
    if op in ("reverse", "query"):
        return TillCommand(**common, original_request_no=str_field(fields, "out_trade_no"))
    totals = {attr: int_field(fields, name) for name, attr in DAY_END_FIELDS.items()}
    biz_date = _moment(str_field(fields, "biz_date"), "biz_date", "%Y%m%d", "yyyyMMdd").date()
    return TillCommand(**common, biz_date=biz_date, totals=DayEndTotals(**totals))


def fields_from_command(command: TillCommand) -> list[tuple[str, str]]:
    """The service-specific fields of a request (the inverse of command_from_fields)."""
    op = command.op
    if op not in SERVICE_OF:
        raise ValueError(f"Sixun has no service for {op!r}")
    member_field = command.extra.get("member_field", "member_code")
    out: list[tuple[str, str | None]]
    if op == "identify":
        out = [(member_field, command.member)]
    elif op == "earn":
        time_end = command.business_time.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S") if command.business_time else None
        used = rights_used_out(command.rights_used, code_field="code", amount_field="discount_fee", yuan=False)
        out = [("out_trade_no", command.request_no), (member_field, command.member),
               ("total_fee", command.amount_fen), ("time_end", time_end),
               ("rights_used", json.dumps(used, ensure_ascii=False, separators=(",", ":")) if used is not None else None)]
    elif op == "redeem":
        out = [("out_trade_no", command.request_no), (member_field, command.member), ("point_amount", command.points)]
    elif op == "refund":
        out = [("out_refund_no", command.request_no), ("out_trade_no", command.original_request_no),
               ("refund_fee", command.amount_fen), ("refund_points", command.points)]
    elif op in ("reverse", "query"):
        out = [("out_trade_no", command.original_request_no or command.request_no)]
    else:
        totals = command.totals or DayEndTotals()
        biz_date: date | None = command.biz_date
        out = [("biz_date", biz_date.strftime("%Y%m%d") if biz_date else None)]
        out += [(name, getattr(totals, attr)) for name, attr in DAY_END_FIELDS.items()]
    return [(name, str(value)) for name, value in out if value is not None and value != ""]


def text(value) -> str | None:
    """A result value as Sixun text: Y/N, decimal integers, JSON for lists and dicts."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def result_fields(op: str, result: dict) -> list[tuple[str, str]]:
    """The documented business fields of a successful answer, in the doc's order."""
    get = result.get
    if op == "identify":
        pairs = [("member_id", get("member_ref")), ("name_masked", get("name_masked")),
                 ("mobile_masked", get("mobile_masked")), ("level", get("tier")),
                 ("point_balance", get("points")), ("point_value_fee", get("point_value_fen_per_100")),
                 ("redeemable_points", get("redeemable_points")),
                 ("rights", rights_items(get("rights"), names=RIGHT_ITEM, rate="decimal", money="fen"))]
    elif op == "earn":
        pairs = [("points_earned", get("points_earned")), ("point_balance", get("points_balance"))]
    elif op == "redeem":
        pairs = [("point_amount", get("points")), ("deduct_fee", get("amount_fen")),
                 ("point_balance", get("points_balance"))]
    elif op == "refund":
        pairs = [("points_clawed_back", get("points_clawed_back")), ("points_returned", get("points_returned")),
                 ("point_balance", get("points_balance"))]
    elif op == "reverse":
        pairs = [("trade_state", "REVOKED")]
    elif op == "query":
        status = get("status")
        pairs = [("trade_state", TRADE_STATES.get(status, status)), ("point_amount", get("points")),
                 ("total_fee", get("amount_fen"))]
    elif op == "day_end":
        pairs = [("matched", get("matched")), ("differences", get("differences"))]
    else:
        raise ValueError(f"Sixun has no service for {op!r}")
    return [(name, value) for name, value in ((n, text(v)) for n, v in pairs) if value is not None]
