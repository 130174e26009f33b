"""Batch upload (store-and-forward): up to 1,000 queued earn/refund/reverse records in one call.

The batch is one authenticated call; each item is one canonical command run through the same
``hub.gateway.dispatch.dispatch`` as a single call, so each is idempotent by its own request
number and a resent batch answers every item as the first time. One item's refusal (a bad field
included) is that item's result only; the others still run, in order.
"""

from __future__ import annotations

from hub.errors import ParamError
from hub.gateway.batch import MAX_ITEMS, BatchItem
from hub.gateway.canonical import BATCH_OP, TillCommand
from hub.vendors.native.endpoints import ENDPOINTS, build_body, rfc3339
from hub.vendors.native.fields import Fields

ITEM_OPS = ("earn", "refund", "reverse")
# The fields an item of each kind may carry (besides "op"); all others are refused.
ITEM_FIELDS = {
    "earn": ("request_no", "member", "amount_fen", "business_time"),
    "refund": ("request_no", "original_request_no", "amount_fen", "points", "business_time"),
    "reverse": ("request_no", "business_time"),
}
ALL_ITEM_FIELDS = ("op", "request_no", "member", "amount_fen", "original_request_no", "points", "business_time")


def _item(raw, index: int, site: dict) -> BatchItem:
    where = f"items[{index}]."
    request_no = raw.get("request_no") if isinstance(raw, dict) else None
    request_no = request_no if isinstance(request_no, str) and len(request_no) <= 64 else ""
    try:
        f = Fields(raw, allowed=ALL_ITEM_FIELDS, where=where)
        op = f.text("op", max_len=16)
        if op not in ITEM_OPS:
            raise ParamError(f"参数格式错误：{where}op（应为 earn、refund 或 reverse）")
        f = Fields(raw, allowed=("op", *ITEM_FIELDS[op]), where=where)
        number = f.code("request_no")
        # earn: points are computed at and dated by the original time. refund/reverse: required so
        # queued records are uniform; the ledger dates them when the hub processes them.
        when = f.time("business_time")
        if op == "earn":
            command = TillCommand(op=op, **site, request_no=number, member=f.text("member"),
                                  amount_fen=f.fen("amount_fen"), business_time=when)
        elif op == "refund":
            command = TillCommand(op=op, **site, request_no=number, original_request_no=f.code("original_request_no"),
                                  amount_fen=f.fen("amount_fen"), points=f.integer("points", required=False),
                                  business_time=when)
        else:  # reverse: the item's request number is the one to undo
            command = TillCommand(op=op, **site, original_request_no=number, business_time=when)
    except ParamError as exc:
        return BatchItem(request_no=request_no, error=exc)
    return BatchItem(request_no=number, command=command)


def parse_batch(data: dict) -> TillCommand:
    """The batch body as one command with op "batch"; the items ride in ``extra["items"]``."""
    f = Fields(data, allowed=ENDPOINTS["batch"].fields)
    site = f.site(required=True)
    items = data.get("items")
    if items is None:
        raise ParamError("缺少参数：items")
    if not isinstance(items, list):
        raise ParamError("参数类型错误：items（应为数组）")
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ParamError(f"参数超出范围：items（1 至 {MAX_ITEMS} 条）")
    return TillCommand(op=BATCH_OP, **site, extra={"items": [_item(raw, i, site) for i, raw in enumerate(items)]})


def build_items(items: list[TillCommand]) -> list[dict]:
    """The till's side: queued commands (earn/refund/reverse) as batch items."""
    built = []
    for c in items:
        when = {"business_time": rfc3339(c.business_time)} if c.business_time else {}
        if c.op == "reverse":
            built.append({"op": "reverse", "request_no": c.original_request_no, **when})
            continue
        body = build_body(c) or {}
        fields = {k: body[k] for k in ITEM_FIELDS[c.op] if k in body}
        built.append({"op": c.op, **fields, **when})
    return built
