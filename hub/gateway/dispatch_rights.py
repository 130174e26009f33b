"""The dispatch table's rows for the native API's voucher and gate operations (canonical
``NATIVE_OPS``): each moves the command's fields into the keyword arguments of rights.platforms
or rights.gates, as hub.gateway.dispatch does for the till operations (registered there)."""

from __future__ import annotations

from collections.abc import Callable

from hub.errors import ParamError
from hub.gateway.canonical import TillCommand
from points.till import Place
from rights import gates, platforms


def _required(value, message: str):
    if value is None or value == "":
        raise ParamError(message)
    return value


def _query(place: Place, c: TillCommand) -> dict:
    return platforms.query(merchant=place.merchant, store=place.store, voucher=c.extra.get("voucher"),
                           now=place.received_at)


def _redeem(place: Place, c: TillCommand) -> dict:
    return platforms.redeem(merchant=place.merchant, store=place.store, terminal=place.terminal,
                            request_no=_required(c.request_no, "缺少请求单号"), voucher=c.extra.get("voucher"),
                            order_no=c.extra.get("order_no", ""), amount_fen=c.extra.get("amount_fen", 0),
                            discount_fen=c.extra.get("discount_fen", 0), now=place.received_at)


def _reverse(place: Place, c: TillCommand) -> dict:
    return platforms.reverse(merchant=place.merchant, request_no=_required(c.original_request_no, "缺少原核销单号"),
                             now=place.received_at)


def _return(place: Place, c: TillCommand) -> dict:
    return platforms.return_use(merchant=place.merchant, request_no=_required(c.request_no, "缺少退回单号"),
                                original_request_no=_required(c.original_request_no, "缺少原核销单号"),
                                amount_fen=c.amount_fen, now=place.received_at)


def _gate_verify(place: Place, c: TillCommand) -> dict:
    return gates.verify(merchant=place.merchant, gate_code=c.extra.get("gate_id"), request_no=c.request_no,
                        code=c.extra.get("code"), people=c.extra.get("people"), now=place.received_at)


def _gate_revocations(place: Place, c: TillCommand) -> dict:
    return gates.revocations(merchant=place.merchant, since=c.extra.get("since"), now=place.received_at)


def _gate_scans(place: Place, c: TillCommand) -> dict:
    return gates.upload_scans(merchant=place.merchant, gate_code=c.extra.get("gate_id"), scans=c.extra.get("scans"),
                              now=place.received_at)


OPERATIONS: dict[str, Callable[[Place, TillCommand], dict]] = {
    "voucher_query": _query,
    "voucher_redeem": _redeem,
    "voucher_reverse": _reverse,
    "voucher_return": _return,
    "gate_verify": _gate_verify,
    "gate_keys": lambda place, c: gates.keys(),
    "gate_revocations": _gate_revocations,
    "gate_scans": _gate_scans,
}
