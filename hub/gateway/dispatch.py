"""From a canonical command to the till operation that does it: one table.

``OPERATIONS`` maps each canonical operation to a function ``(place, command) -> result`` that
only moves the command's fields into the keyword arguments of ``points.till`` (or the day-end
reconciliation); the store-and-forward batch runs its items through the same table.
``dispatch(credential, command, (store, terminal))`` is the gateway service's one call.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from hub.clearing.reconciliation import record_day_end
from hub.errors import ParamError
from hub.gateway import batch, dispatch_rights
from hub.gateway.canonical import BATCH_OP, TillCommand
from members.credentials import MemberName
from points import till
from points.till import Place


def _required(value, message: str):
    if value is None or value == "":
        raise ParamError(message)
    return value


def _identify(place: Place, c: TillCommand) -> dict:
    return till.identify(place=place, member=MemberName.parse(c.member))


def _earn(place: Place, c: TillCommand) -> dict:
    return till.earn(place=place, member=MemberName.parse(c.member), request_no=_required(c.request_no, "缺少请求单号"),
                     amount_fen=_required(c.amount_fen, "缺少消费金额"), business_time=c.business_time,
                     rights_used=c.rights_used)


def _spend(operation):
    def run(place: Place, c: TillCommand) -> dict:
        return operation(place=place, member=MemberName.parse(c.member),
                         request_no=_required(c.request_no, "缺少请求单号"), points=_required(c.points, "缺少抵扣积分"),
                         stated_amount_fen=c.amount_fen, sale_amount_fen=c.extra.get("sale_amount_fen"))
    return run


def _target(c: TillCommand) -> str:
    return _required(c.original_request_no or c.request_no, "缺少原交易单号")


def _refund(place: Place, c: TillCommand) -> dict:
    return till.refund(place=place, refund_no=_required(c.request_no, "缺少退货单号"),
                       original_request_no=_required(c.original_request_no, "缺少原交易单号"),
                       amount_fen=_required(c.amount_fen, "缺少退货金额"), points=c.points)


def _day_end(place: Place, c: TillCommand) -> dict:
    if c.biz_date is None or c.totals is None:
        raise ParamError("缺少营业日或日结汇总")
    return record_day_end(merchant=place.merchant, store=place.store, terminal=place.terminal, biz_date=c.biz_date,
                          totals=c.totals)


OPERATIONS: dict[str, Callable[[Place, TillCommand], dict]] = {
    "identify": _identify,
    "earn": _earn,
    "redeem": _spend(till.redeem),
    "freeze": _spend(till.freeze),
    "confirm": lambda place, c: till.confirm(place=place, request_no=_target(c)),
    "unfreeze": lambda place, c: till.unfreeze(place=place, request_no=_target(c)),
    "refund": _refund,
    "reverse": lambda place, c: till.reverse(place=place, request_no=_target(c)),
    "query": lambda place, c: till.query(place=place, request_no=_target(c)),
    "day_end": _day_end,
    **dispatch_rights.OPERATIONS,  # the native API's voucher and gate operations
}


def run(place: Place, command: TillCommand) -> dict:
    """One command at one place: the table's function for its operation (a batch runs its items
    through the same table)."""
    if command.op == BATCH_OP:
        return batch.run_batch(place, command, OPERATIONS)
    operation = OPERATIONS.get(command.op)
    if operation is None:
        raise ParamError("不支持的操作")
    return operation(place, command)


def reads_ahead(merchant_id: int, command: TillCommand) -> list:
    """What the command's operation will read first (``points.till.reads_ahead``), for the
    gateway's admitting statement to read in the same round trip."""
    return till.reads_ahead(merchant_id, command.op, member=command.member,
                            request_no=command.request_no, original_request_no=command.original_request_no)


def dispatch(credential, command: TillCommand, place) -> dict:
    store, terminal = place
    return run(Place(merchant=credential.merchant, store=store, terminal=terminal, received_at=timezone.now()),
               command)
