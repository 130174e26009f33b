"""The native API's voucher endpoints: body <-> TillCommand, result -> ``data`` (translation only).

    POST vouchers/query                   site, voucher
    POST vouchers/redeem                  site, request_no, voucher, order_no?, amount_fen?, discount_fen?
    POST vouchers/{request_no}/reverse    site?
    POST vouchers/return                  site?, request_no, original_request_no, amount_fen?

``voucher`` is a display code (``97…``), the voucher reference at this merchant or an online
coupon's voucher code. The services are rights.platforms (through hub.gateway.dispatch). Query
is a POST: a display code does not belong in a URL or an access log.
"""

from __future__ import annotations

from hub.errors import ParamError
from hub.gateway.canonical import RESULT_FIELDS, TillCommand
from hub.vendors.native.fields import Fields

SITE = ("store_code", "terminal_code", "operator")
PATH_NO = "<str:request_no>"

# (op, method, route, fields): registered in hub.vendors.native.endpoints.ENDPOINTS
TABLE = (
    ("voucher_query", "POST", "vouchers/query", (*SITE, "voucher")),
    ("voucher_redeem", "POST", "vouchers/redeem",
     (*SITE, "request_no", "voucher", "order_no", "amount_fen", "discount_fen")),
    ("voucher_reverse", "POST", f"vouchers/{PATH_NO}/reverse", SITE),
    ("voucher_return", "POST", "vouchers/return", (*SITE, "request_no", "original_request_no", "amount_fen")),
)
OPS = frozenset(op for op, *_ in TABLE)


def parse_body(op: str, f: Fields) -> TillCommand:
    if op == "voucher_query":
        return TillCommand(op=op, **f.site(required=True), extra={"voucher": f.text("voucher")})
    if op == "voucher_redeem":
        return TillCommand(op=op, **f.site(required=True), request_no=f.code("request_no"), extra={
            "voucher": f.text("voucher"), "order_no": f.text("order_no", required=False),
            "amount_fen": f.fen("amount_fen", required=False) or 0,
            "discount_fen": f.fen("discount_fen", required=False) or 0})
    if op == "voucher_return":
        return TillCommand(op=op, **f.site(required=False), request_no=f.code("request_no"),
                           original_request_no=f.code("original_request_no"),
                           amount_fen=f.fen("amount_fen", required=False))
    raise ParamError("接口不存在")


def build_body(c: TillCommand, site: dict) -> dict:
    """The JSON body a caller sends for ``c`` (tests, the sandbox); None values left out."""
    if c.op == "voucher_query":
        fields = {**site, "voucher": c.extra.get("voucher")}
    elif c.op == "voucher_redeem":
        fields = {**site, "request_no": c.request_no, **{k: c.extra.get(k) for k in
                                                         ("voucher", "order_no", "amount_fen", "discount_fen")}}
    elif c.op == "voucher_return":
        fields = {**site, "request_no": c.request_no, "original_request_no": c.original_request_no,
                  "amount_fen": c.amount_fen}
    else:
        fields = dict(site)
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def render_data(op: str, result: dict, jsonable) -> dict:
    """The result fields of ``op`` that have a value (absent optional fields are omitted, not null)."""
    return {name: jsonable(name, result[name]) for name in RESULT_FIELDS[op] if result.get(name) is not None}
