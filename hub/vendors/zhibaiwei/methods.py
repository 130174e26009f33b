"""The Zhibaiwei methods: ParmJson <-> TillCommand, and canonical results -> ``data``.

One table per direction, keyed by method or operation, so the contract's method list reads
straight off this module.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from hub.errors import ParamError
from hub.gateway.base import (
    absent,
    fen_to_yuan,
    int_field,
    parse_rights_used,
    require_str,
    rights_items,
    rights_used_out,
    yuan_field,
)
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.timezone import SHANGHAI

METHODS = {
    "GetVipInfo": "identify",
    "VipSaleSheet": "earn",
    "VipPaySheet": "redeem",
    "VipRetSheet": "refund",
    "VipSheetCancel": "reverse",
    "QuerySheet": "query",
    "DayEnd": "day_end",
}
OP_METHODS = {op: method for method, op in METHODS.items()}

# Canonical query status -> QuerySheet Status (a released hold left nothing behind: cancelled).
SHEET_STATUS = {"REVERSED": "CANCELLED", "UNFROZEN": "CANCELLED"}
SHEET_TYPES = {"earn": "VipSaleSheet", "redeem": "VipPaySheet", "freeze": "VipPaySheet", "refund": "VipRetSheet"}

_SDATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
_BIZDATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


# ---- ParmJson -> TillCommand -------------------------------------------------------------


_absent = absent


def _fen(params: dict, name: str, *, required: bool = True) -> int | None:
    return yuan_field(params, name, required=required)


def _int(params: dict, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
    return int_field(params, name, required=required, minimum=minimum)


def _local_time(params: dict, name: str) -> datetime:
    value = require_str(params, name, max_len=19)
    if not _SDATETIME.match(value):
        raise ParamError(f"时间格式错误：{name}（应为 yyyy-MM-dd HH:mm:ss）")
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        raise ParamError(f"时间格式错误：{name}") from None


def _date(params: dict, name: str) -> date:
    value = require_str(params, name, max_len=10)
    if not _BIZDATE.match(value):
        raise ParamError(f"日期格式错误：{name}（应为 yyyy-MM-dd）")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ParamError(f"日期格式错误：{name}") from None


def _site(params: dict, *, with_operator: bool = True) -> dict:
    fields = {
        "store_code": require_str(params, "BranchJg", max_len=32),
        "terminal_code": require_str(params, "PosID", max_len=32),
    }
    if with_operator:
        # The cashier is for the record only; tills that leave it out are still served.
        fields["operator"] = require_str(params, "OperID", max_len=32, required=False)
    return fields


def _get_vip_info(p: dict) -> dict:
    return {**_site(p), "member": require_str(p, "Code")}


def _vip_sale_sheet(p: dict) -> dict:
    return {
        **_site(p),
        "request_no": require_str(p, "SheetNo"),
        "member": require_str(p, "VipNo"),
        "amount_fen": _fen(p, "SheetAmt"),
        "business_time": _local_time(p, "sDateTime"),
        "memo": require_str(p, "Memo", max_len=200, required=False),
        "rights_used": parse_rights_used(p.get("RightsUsed"), **RIGHTS_USED),
    }


def _vip_pay_sheet(p: dict) -> dict:
    return {
        **_site(p),
        "request_no": require_str(p, "SheetNo"),
        "member": require_str(p, "VipNo"),
        "points": _int(p, "PayIntegral", minimum=1),
        "amount_fen": _fen(p, "PayAmt", required=False),
    }


def _vip_ret_sheet(p: dict) -> dict:
    return {
        **_site(p),
        "request_no": require_str(p, "RetSheetNo"),
        "original_request_no": require_str(p, "SheetNo"),
        "amount_fen": _fen(p, "RetAmt"),
        "points": _int(p, "RetIntegral", required=False),
    }


def _vip_sheet_cancel(p: dict) -> dict:
    return {**_site(p, with_operator=False), "original_request_no": require_str(p, "SheetNo")}


def _query_sheet(p: dict) -> dict:
    return {"original_request_no": require_str(p, "SheetNo")}


def _day_end(p: dict) -> dict:
    totals = DayEndTotals(
        earn_count=_int(p, "SaleCount"),
        earn_points=_int(p, "SaleIntegral"),
        redeem_count=_int(p, "PayCount"),
        redeem_points=_int(p, "PayIntegral"),
        refund_count=_int(p, "RetCount"),
        refund_points=_int(p, "RetIntegral"),
    )
    return {**_site(p, with_operator=False), "biz_date": _date(p, "BizDate"), "totals": totals}


# v1.1 (rights.md): the rights a sale used, in yuan; identify's Rights items.
RIGHTS_USED = {"code_field": "RightCode", "amount_field": "DisAmt", "yuan": True, "where": "RightsUsed"}
RIGHT_ITEM = {"code": "RightCode", "name": "Name", "discount_bp": "DiscountRate", "discount_fen": "DisAmt",
              "threshold_fen": "MinAmt", "voucher": "IsVoucher"}

_PARSERS = {
    "GetVipInfo": _get_vip_info,
    "VipSaleSheet": _vip_sale_sheet,
    "VipPaySheet": _vip_pay_sheet,
    "VipRetSheet": _vip_ret_sheet,
    "VipSheetCancel": _vip_sheet_cancel,
    "QuerySheet": _query_sheet,
    "DayEnd": _day_end,
}


# The ParmJson keys each method takes; any other key is refused. The KEY does not cover the
# method (it is in the path), so without this a body signed for one method (VipSaleSheet) would
# be accepted by another (VipSheetCancel, reversing the sale).
PARAMS = {
    "GetVipInfo": ("BranchJg", "PosID", "OperID", "Code"),
    "VipSaleSheet": ("BranchJg", "PosID", "OperID", "SheetNo", "VipNo", "SheetAmt", "sDateTime", "Memo",
                     "RightsUsed"),
    "VipPaySheet": ("BranchJg", "PosID", "OperID", "SheetNo", "VipNo", "PayIntegral", "PayAmt"),
    "VipRetSheet": ("BranchJg", "PosID", "OperID", "RetSheetNo", "SheetNo", "RetAmt", "RetIntegral"),
    "VipSheetCancel": ("BranchJg", "PosID", "SheetNo"),
    "QuerySheet": ("SheetNo",),
    "DayEnd": ("BranchJg", "PosID", "BizDate", "SaleCount", "SaleIntegral", "PayCount", "PayIntegral", "RetCount",
               "RetIntegral"),
}


def parse_params(method: str, params: dict) -> TillCommand:
    unknown = [name for name in params if name not in PARAMS[method]]
    if unknown:
        raise ParamError(f"不支持的参数：{str(unknown[0])[:32]}（{method} 不接受该参数）")
    return TillCommand(op=METHODS[method], **_PARSERS[method](params))


# ---- TillCommand -> ParmJson (the till's side: tests, benchmarks, simulator) ---------------


def build_params(command: TillCommand, *, sent_at: datetime) -> tuple[str, dict]:
    """The method and ParmJson fields a Zhibaiwei till would send for ``command``.

    Fields are in the order of the contract's test vector; ``None`` values are left out, and an
    earn without a business time is stamped with ``sent_at``.
    """
    c = command
    if c.op not in OP_METHODS:
        raise ValueError(f"Zhibaiwei has no method for {c.op!r}")
    site = {"BranchJg": c.store_code, "OperID": c.operator or None, "PosID": c.terminal_code}
    bare_site = {"BranchJg": c.store_code, "PosID": c.terminal_code}
    if c.op == "identify":
        fields = {**site, "Code": c.member}
    elif c.op == "earn":
        when = (c.business_time or sent_at).astimezone(SHANGHAI)
        fields = {**site, "SheetNo": c.request_no, "VipNo": c.member, "SheetAmt": _yuan(c.amount_fen),
                  "sDateTime": when.strftime("%Y-%m-%d %H:%M:%S"), "Memo": c.memo,
                  "RightsUsed": rights_used_out(c.rights_used, code_field="RightCode", amount_field="DisAmt", yuan=True)}
    elif c.op == "redeem":
        fields = {**site, "SheetNo": c.request_no, "VipNo": c.member, "PayIntegral": c.points,
                  "PayAmt": _yuan(c.amount_fen)}
    elif c.op == "refund":
        fields = {**site, "RetSheetNo": c.request_no, "SheetNo": c.original_request_no,
                  "RetAmt": _yuan(c.amount_fen), "RetIntegral": c.points}
    elif c.op == "reverse":
        fields = {**bare_site, "SheetNo": c.original_request_no}
    elif c.op == "query":
        fields = {"SheetNo": c.original_request_no}
    else:  # day_end
        t = c.totals or DayEndTotals()
        fields = {**bare_site, "BizDate": c.biz_date.isoformat() if c.biz_date else None,
                  "SaleCount": t.earn_count, "SaleIntegral": t.earn_points, "PayCount": t.redeem_count,
                  "PayIntegral": t.redeem_points, "RetCount": t.refund_count, "RetIntegral": t.refund_points}
    return OP_METHODS[c.op], {k: v for k, v in fields.items() if v is not None}


# ---- canonical result -> data ------------------------------------------------------------


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else fen_to_yuan(fen)


def _identify_data(r: dict) -> dict:
    return {
        "VipNo": r.get("member_ref"),
        "VipName": r.get("name_masked"),
        "Mobile": r.get("mobile_masked"),
        "Level": r.get("tier"),
        "Integral": r.get("points"),
        "IntegralValue": _yuan(r.get("points_value_fen")),
        "MaxPayIntegral": r.get("redeemable_points"),
        "Rights": rights_items(r.get("rights"), names=RIGHT_ITEM, rate="decimal", money="yuan"),
    }


def _earn_data(r: dict) -> dict:
    return {"SheetNo": r.get("request_no"), "AddIntegral": r.get("points_earned"), "Integral": r.get("points_balance")}


def _redeem_data(r: dict) -> dict:
    return {
        "SheetNo": r.get("request_no"),
        "PayIntegral": r.get("points"),
        "PayAmt": _yuan(r.get("amount_fen")),
        "Integral": r.get("points_balance"),
    }


def _refund_data(r: dict) -> dict:
    return {
        "RetSheetNo": r.get("refund_no"),
        "DecIntegral": r.get("points_clawed_back"),
        "BackIntegral": r.get("points_returned"),
        "Integral": r.get("points_balance"),
    }


def _reverse_data(r: dict) -> dict:
    return {"SheetNo": r.get("request_no"), "Status": "CANCELLED"}


def _query_data(r: dict) -> dict:
    kind, status = r.get("type"), r.get("status")
    data = {"SheetNo": r.get("request_no"), "Status": SHEET_STATUS.get(status, status),
            "SheetType": SHEET_TYPES.get(kind, kind)}
    points, amount = r.get("points"), _yuan(r.get("amount_fen"))
    if kind == "earn":
        data.update(SheetAmt=amount, AddIntegral=points)
    elif kind in ("redeem", "freeze"):
        data.update(PayIntegral=points, PayAmt=amount)
    elif kind == "refund":
        data.update(RetAmt=amount, RetIntegral=points)
    data["Refunds"] = [
        {"RetSheetNo": x.get("refund_no"), "RetAmt": _yuan(x.get("amount_fen")),
         "DecIntegral": x.get("points_clawed_back"), "BackIntegral": x.get("points_returned")}
        for x in r.get("refunds") or ()
    ]
    return data


def _day_end_data(r: dict) -> dict:
    return {
        "Matched": r.get("matched"),
        "Differences": [
            {"SheetNo": x.get("request_no"), "Field": x.get("field"), "Till": x.get("till"), "Hub": x.get("hub")}
            for x in r.get("differences") or ()
        ],
    }


_RENDERERS = {
    "identify": _identify_data,
    "earn": _earn_data,
    "redeem": _redeem_data,
    "refund": _refund_data,
    "reverse": _reverse_data,
    "query": _query_data,
    "day_end": _day_end_data,
}


def render_data(op: str, result: dict) -> dict:
    if op not in _RENDERERS:
        raise ValueError(f"Zhibaiwei has no method for {op!r}")
    return _RENDERERS[op](result)
