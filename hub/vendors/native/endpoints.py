"""The native endpoint table: request body <-> TillCommand, and canonical results -> ``data``.

Routes are relative to the mount (``/api/v1/till/``). For confirm, unfreeze, reverse and query
the ``request_no`` in the path is the number of the earlier request they act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from hub.errors import ParamError
from hub.gateway.canonical import RESULT_FIELDS, DayEndTotals, TillCommand
from hub.timezone import SHANGHAI
from hub.vendors.native import vouchers
from hub.vendors.native.fields import CODE, MAX_POINTS, Fields

PATH_NO = "<str:request_no>"
SITE = ("store_code", "terminal_code", "operator")
TOTALS = tuple(f"{kind}_{measure}" for kind in ("earn", "redeem", "refund") for measure in ("count", "points"))


@dataclass(frozen=True)
class Endpoint:
    op: str  # the canonical operation, or "batch"
    method: str
    route: str  # Django route syntax, relative to the mount
    fields: tuple[str, ...]  # the body fields accepted (none for GET)

    @property
    def slug(self) -> str:
        return self.op.replace("_", "-")

    def path(self, request_no: str = "") -> str:
        return self.route.replace(PATH_NO, request_no)


ENDPOINTS = {
    ep.op: ep
    for ep in (
        Endpoint("identify", "POST", "identify", (*SITE, "member")),
        Endpoint("earn", "POST", "earn", (*SITE, "request_no", "member", "amount_fen", "business_time")),
        Endpoint("redeem", "POST", "redeem", (*SITE, "request_no", "member", "points", "amount_fen", "sale_amount_fen")),
        Endpoint("freeze", "POST", "freeze", (*SITE, "request_no", "member", "points", "amount_fen", "sale_amount_fen")),
        Endpoint("confirm", "POST", f"freezes/{PATH_NO}/confirm", SITE),
        Endpoint("unfreeze", "POST", f"freezes/{PATH_NO}/unfreeze", SITE),
        Endpoint("refund", "POST", "refund", (*SITE, "request_no", "original_request_no", "amount_fen", "points")),
        Endpoint("reverse", "POST", f"trades/{PATH_NO}/reverse", SITE),
        Endpoint("query", "GET", f"trades/{PATH_NO}", ()),
        Endpoint("day_end", "POST", "day-end", (*SITE, "biz_date", "totals")),
        Endpoint("batch", "POST", "batch", ("store_code", "terminal_code", "operator", "items")),
        *(Endpoint(*row) for row in vouchers.TABLE),  # the voucher endpoints (hub.vendors.native.vouchers)
    )
}
PATH_OPS = frozenset(op for op, ep in ENDPOINTS.items() if PATH_NO in ep.route)


def path_request_no(value: str) -> str:
    if not value or len(value) > 64 or not CODE.match(value):
        raise ParamError("参数格式错误：request_no（路径中的请求单号，1 至 64 位字母、数字、下划线或连字符）")
    return value


# ---- body -> TillCommand -------------------------------------------------------------------

def _spend(f: Fields) -> dict:
    return {"request_no": f.code("request_no"), "member": f.text("member"),
            "points": f.integer("points", minimum=1, maximum=MAX_POINTS),
            "amount_fen": f.fen("amount_fen", required=False)}


def parse_body(op: str, data: dict, path_no: str = "") -> TillCommand:
    """The command a (decoded, non-batch) body asks for; PARAM_ERROR names the first bad field."""
    f = Fields(data, allowed=ENDPOINTS[op].fields)
    if op in PATH_OPS:
        return TillCommand(op=op, original_request_no=path_request_no(path_no), **f.site(required=False))
    if op == "refund":
        return TillCommand(op=op, **f.site(required=False), request_no=f.code("request_no"),
                           original_request_no=f.code("original_request_no"), amount_fen=f.fen("amount_fen"),
                           points=f.integer("points", required=False))
    if op in vouchers.OPS:
        return vouchers.parse_body(op, f)
    site = f.site(required=True)
    if op == "identify":
        return TillCommand(op=op, **site, member=f.text("member"))
    if op == "earn":
        return TillCommand(op=op, **site, request_no=f.code("request_no"), member=f.text("member"),
                           amount_fen=f.fen("amount_fen"), business_time=f.time("business_time", required=False))
    if op in ("redeem", "freeze"):
        sale = f.fen("sale_amount_fen", required=False)
        return TillCommand(op=op, **site, **_spend(f), extra={} if sale is None else {"sale_amount_fen": sale})
    if op == "day_end":
        totals = f.obj("totals", allowed=TOTALS)
        return TillCommand(op=op, **site, biz_date=f.date("biz_date"),
                           totals=DayEndTotals(**{name: totals.integer(name) for name in TOTALS}))
    raise ParamError("接口不存在")


# ---- TillCommand -> body (the till's side: tests, benchmarks, simulator) --------------------

def rfc3339(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _site(c: TillCommand) -> dict:
    return {"store_code": c.store_code, "terminal_code": c.terminal_code, "operator": c.operator}


def build_body(c: TillCommand) -> dict | None:
    """The JSON body a till sends for ``c`` (None for GET); empty and None values are left out."""
    if c.op == "query":
        return None
    if c.op in vouchers.OPS:
        return vouchers.build_body(c, _site(c))
    if c.op in PATH_OPS:
        fields = _site(c)
    elif c.op == "identify":
        fields = {**_site(c), "member": c.member}
    elif c.op == "earn":
        fields = {**_site(c), "request_no": c.request_no, "member": c.member, "amount_fen": c.amount_fen,
                  "business_time": rfc3339(c.business_time) if c.business_time else None}
    elif c.op in ("redeem", "freeze"):
        fields = {**_site(c), "request_no": c.request_no, "member": c.member, "points": c.points,
                  "amount_fen": c.amount_fen, "sale_amount_fen": c.extra.get("sale_amount_fen")}
    elif c.op == "refund":
        fields = {**_site(c), "request_no": c.request_no, "original_request_no": c.original_request_no,
                  "amount_fen": c.amount_fen, "points": c.points}
    elif c.op == "day_end":
        totals = c.totals or DayEndTotals()
        fields = {**_site(c), "biz_date": c.biz_date.isoformat() if c.biz_date else None,
                  "totals": {name: getattr(totals, name) for name in TOTALS}}
    else:
        raise ValueError(f"no native body for {c.op!r}")
    return {k: v for k, v in fields.items() if v is not None and v != ""}


# ---- canonical result -> data ----------------------------------------------------------------

def _jsonable(name: str, value):
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if name.endswith("_at") and isinstance(value, str):
        try:
            return rfc3339(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _jsonable(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(name, v) for v in value]
    return value


def render_data(op: str, result: dict) -> dict:
    """Exactly the canonical result fields of ``op`` (missing ones as null), times in RFC 3339 +08:00."""
    if op in vouchers.OPS:
        return vouchers.render_data(op, result, _jsonable)
    return {name: _jsonable(name, result.get(name)) for name in RESULT_FIELDS[op]}
