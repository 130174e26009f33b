"""The Kemai endpoint table: body <-> TillCommand, and canonical results -> ``data``.

Routes are relative to the vendor prefix (the gateway mounts them at ``gateway/kemai/``). For
confirm, unfreeze, reverse and query the path's ``out_trade_no`` is the original request number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

from hub.errors import ParamError
from hub.gateway.base import (
    absent,
    fen_field,
    int_field,
    parse_int,
    parse_rights_used,
    require_str,
    rights_items,
    rights_used_out,
)
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.timezone import SHANGHAI

PATH_NO = "<str:out_trade_no>"

from hub.vendors.native.fields import DATE as _DATE  # noqa: E402
from hub.vendors.native.fields import RFC3339 as _RFC3339  # noqa: E402


@dataclass(frozen=True)
class Endpoint:
    op: str
    http_method: str
    route: str  # Django route syntax, relative to the vendor prefix

    def path(self, out_trade_no: str = "") -> str:
        # Percent-encode as Django re-encodes request.path (escape_uri_path), "/" excepted, so the
        # path the hub reconstructs is byte for byte the path that was signed.
        return self.route.replace(PATH_NO, quote(out_trade_no, safe=":@&+$,-_.!~*'()"))


ENDPOINTS = {
    ep.op: ep
    for ep in (
        Endpoint("identify", "POST", "v1/members/query"),
        Endpoint("earn", "POST", "v1/points/earn"),
        Endpoint("redeem", "POST", "v1/points/redeem"),
        Endpoint("freeze", "POST", "v1/points/freeze"),
        Endpoint("confirm", "POST", f"v1/points/freeze/{PATH_NO}/confirm"),
        Endpoint("unfreeze", "POST", f"v1/points/freeze/{PATH_NO}/unfreeze"),
        Endpoint("refund", "POST", "v1/refunds"),
        Endpoint("reverse", "POST", f"v1/trades/{PATH_NO}/reverse"),
        Endpoint("query", "GET", f"v1/trades/{PATH_NO}"),
        Endpoint("day_end", "POST", "v1/day-end"),
    )
}
PATH_OPS = frozenset(op for op, ep in ENDPOINTS.items() if PATH_NO in ep.route)

# ---- body -> TillCommand -----------------------------------------------------------------


_absent = absent
_int = int_field
_fen = fen_field


def _trade_time(body: dict, name: str) -> datetime:
    value = require_str(body, name, max_len=32)
    if not _RFC3339.match(value):
        raise ParamError(f"时间格式错误：{name}（应为 RFC 3339，带时区）")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ParamError(f"时间格式错误：{name}") from None


def _date(body: dict, name: str) -> date:
    value = require_str(body, name, max_len=10)
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ParamError(f"日期格式错误：{name}（应为 yyyy-MM-dd）") from None


def _site(body: dict) -> dict:
    return {"store_code": require_str(body, "store_no", max_len=32),
            "terminal_code": require_str(body, "pos_no", max_len=32)}


def _hold(body: dict) -> dict:
    return {
        **_site(body),
        # The cashier is for the record only; tills that leave it out are still served.
        "operator": require_str(body, "cashier_no", max_len=32, required=False),
        "request_no": require_str(body, "out_trade_no"),
        "member": require_str(body, "member_id"),
        "points": _int(body, "points", minimum=1),
    }


def _earn(body: dict) -> dict:
    return {
        **_site(body),
        "operator": require_str(body, "cashier_no", max_len=32, required=False),
        "request_no": require_str(body, "out_trade_no"),
        "member": require_str(body, "member_id"),
        "amount_fen": _fen(body, "order_amount"),
        "business_time": _trade_time(body, "trade_time"),
        "rights_used": parse_rights_used(body.get("rights_used"), **RIGHTS_USED),
    }


# v1.1 (rights.md): fen integers; the rate as "0.95".
RIGHTS_USED = {"code_field": "code", "amount_field": "discount_amount", "yuan": False}
RIGHT_ITEM = {"code": "code", "name": "name", "discount_bp": "discount_rate", "discount_fen": "discount_amount",
              "threshold_fen": "threshold_amount", "voucher": "voucher"}


def _refund(body: dict) -> dict:
    return {
        "request_no": require_str(body, "out_refund_no"),
        "original_request_no": require_str(body, "out_trade_no"),
        "amount_fen": _fen(body, "refund_amount"),
        "points": _int(body, "refund_points", required=False),
    }


def _day_end(body: dict) -> dict:
    totals = body.get("totals")
    if totals is None:
        raise ParamError("缺少参数：totals")
    if not isinstance(totals, dict):
        raise ParamError("参数类型错误：totals（应为对象）")
    counts = {}
    for kind in ("earn", "redeem", "refund"):
        part = totals.get(kind)
        if part is None:
            raise ParamError(f"缺少参数：totals.{kind}")
        if not isinstance(part, dict):
            raise ParamError(f"参数类型错误：totals.{kind}（应为对象）")
        for measure in ("count", "points"):
            label = f"totals.{kind}.{measure}"
            if _absent(part, measure):
                raise ParamError(f"缺少参数：{label}")
            counts[f"{kind}_{measure}"] = parse_int(part[measure], field_name=label)
    return {**_site(body), "biz_date": _date(body, "biz_date"), "totals": DayEndTotals(**counts)}


_PARSERS = {
    "identify": lambda b: {**_site(b), "member": require_str(b, "code")},
    "earn": _earn,
    "redeem": _hold,
    "freeze": _hold,
    "refund": _refund,
    "day_end": _day_end,
}


def parse_body(op: str, body: dict, out_trade_no: str) -> TillCommand:
    if op in PATH_OPS:
        return TillCommand(op=op, original_request_no=out_trade_no)
    return TillCommand(op=op, **_PARSERS[op](body))


# ---- TillCommand -> body (the till's side: tests, benchmarks, simulator) -----------------


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def build_body(command: TillCommand, *, sent_at: datetime) -> dict | None:
    """The JSON body a Kemai till would send (None for GET), fields in the contract's order.

    ``None`` values are left out; an earn without a business time is stamped with ``sent_at``.
    """
    c = command
    site = {"store_no": c.store_code, "pos_no": c.terminal_code}
    if c.op == "identify":
        fields = {**site, "code": c.member}
    elif c.op == "earn":
        fields = {"out_trade_no": c.request_no, **site, "cashier_no": c.operator or None,
                  "member_id": c.member, "order_amount": c.amount_fen,
                  "trade_time": rfc3339(c.business_time or sent_at),
                  "rights_used": rights_used_out(c.rights_used, code_field="code", amount_field="discount_amount",
                                                 yuan=False)}
    elif c.op in ("redeem", "freeze"):
        fields = {"out_trade_no": c.request_no, **site, "cashier_no": c.operator or None,
                  "member_id": c.member, "points": c.points}
    elif c.op == "refund":
        fields = {"out_refund_no": c.request_no, "out_trade_no": c.original_request_no,
                  "refund_amount": c.amount_fen, "refund_points": c.points}
    elif c.op == "day_end":
        t = c.totals or DayEndTotals()
        totals = {kind: {"count": getattr(t, f"{kind}_count"), "points": getattr(t, f"{kind}_points")}
                  for kind in ("earn", "redeem", "refund")}
        fields = {**site, "biz_date": c.biz_date.isoformat() if c.biz_date else None, "totals": totals}
    elif c.op == "query":
        return None
    else:  # confirm, unfreeze, reverse: the number is in the path
        fields = {}
    return {k: v for k, v in fields.items() if v is not None}


# ---- canonical result -> data ------------------------------------------------------------


def _identify_data(r: dict) -> dict:
    return {
        "member_id": r.get("member_ref"),
        "name_masked": r.get("name_masked"),
        "mobile_masked": r.get("mobile_masked"),
        "level": r.get("tier"),
        "points": r.get("points"),
        "points_value": r.get("points_value_fen"),
        "redeemable_points": r.get("redeemable_points"),
        "rights": rights_items(r.get("rights"), names=RIGHT_ITEM, rate="decimal", money="fen"),
    }


def _freeze_data(r: dict) -> dict:
    expires_at = r.get("expires_at")
    if isinstance(expires_at, datetime):
        expires_at = rfc3339(expires_at)
    return {"out_trade_no": r.get("request_no"), "points": r.get("points"),
            "deduct_amount": r.get("amount_fen"), "expires_at": expires_at}


def _query_data(r: dict) -> dict:
    kind = r.get("type")
    return {
        "out_trade_no": r.get("request_no"),
        "type": kind.upper() if isinstance(kind, str) else kind,
        "status": r.get("status"),
        "points": r.get("points"),
        "amount": r.get("amount_fen"),
        "refunds": [{"out_refund_no": x.get("refund_no"), "refund_amount": x.get("amount_fen"),
                     "points_clawed_back": x.get("points_clawed_back"),
                     "points_returned": x.get("points_returned")}
                    for x in r.get("refunds") or ()],
    }


def _day_end_data(r: dict) -> dict:
    return {"matched": r.get("matched"),
            "differences": [{"out_trade_no": x.get("request_no"), "field": x.get("field"),
                             "till": x.get("till"), "hub": x.get("hub")}
                            for x in r.get("differences") or ()]}


_RENDERERS = {
    "identify": _identify_data,
    "earn": lambda r: {"out_trade_no": r.get("request_no"), "points_earned": r.get("points_earned"),
                       "points_balance": r.get("points_balance")},
    "redeem": lambda r: {"out_trade_no": r.get("request_no"), "points": r.get("points"),
                         "deduct_amount": r.get("amount_fen"), "points_balance": r.get("points_balance")},
    "freeze": _freeze_data,
    "confirm": lambda r: {"out_trade_no": r.get("request_no"), "points": r.get("points"),
                          "points_balance": r.get("points_balance")},
    "unfreeze": lambda r: {"out_trade_no": r.get("request_no"), "status": "UNFROZEN"},
    "refund": lambda r: {"out_refund_no": r.get("refund_no"), "points_clawed_back": r.get("points_clawed_back"),
                         "points_returned": r.get("points_returned"), "points_balance": r.get("points_balance")},
    "reverse": lambda r: {"out_trade_no": r.get("request_no"), "status": "REVERSED"},
    "query": _query_data,
    "day_end": _day_end_data,
}


def render_data(op: str, result: dict) -> dict:
    return _RENDERERS[op](result)
