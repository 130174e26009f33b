"""Store-and-forward: a batch of queued till records (earn, refund, reverse) in one call.

Each item is one canonical command with its own request number, idempotent like a single call,
and answered on its own (one item's refusal is that item's result only). Items run in their
order through the dispatch table the caller passes in (``hub.gateway.dispatch.OPERATIONS``);
consecutive earns whose member is named by a ref are written together by the set-based
``points.till.earn_batch``, which answers each exactly as ``points.till.earn`` would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from hub.errors import DomainError, SystemError_
from hub.gateway.canonical import TillCommand
from members.credentials import REF, MemberName
from points import till

logger = logging.getLogger("hub.gateway")

MAX_ITEMS = 1000


@dataclass(frozen=True)
class BatchItem:
    """One queued record: its command, or the refusal of its shape (then ``command`` is None)."""

    request_no: str
    command: TillCommand | None = None
    error: DomainError | None = None


def _entry(item: BatchItem, outcome) -> dict:
    op = item.command.op if item.command is not None else ""
    if isinstance(outcome, DomainError):
        return {"request_no": item.request_no, "op": op, "code": outcome.code, "message": outcome.message,
                "data": dict(outcome.detail)}
    return {"request_no": item.request_no, "op": op, "code": "SUCCESS", "message": "成功", "data": outcome}


def _bulk_name(item: BatchItem) -> MemberName | None:
    """The ref naming an earn that can take the set-based path, else None."""
    if item.error is not None or item.command.op != "earn" or item.command.amount_fen is None \
            or not item.command.request_no:
        return None
    try:
        name = MemberName.parse(item.command.member)
    except DomainError:
        return None
    return name if name.kind == REF else None


def run_batch(place: till.Place, command: TillCommand, operations: dict[str, Callable]) -> dict:
    """``{"items": [...]}``: per item ``{"request_no", "op", "code", "message", "data"}``."""
    items: list[BatchItem] = command.extra["items"]
    results: list = [None] * len(items)
    chunk: list[tuple[int, BatchItem, MemberName]] = []

    def flush():
        if chunk:
            earns = [till.EarnRequest(item.command.request_no, name, item.command.amount_fen,
                                      item.command.business_time) for _, item, name in chunk]
            for (position, item, _), outcome in zip(chunk, till.earn_batch(place=place, items=earns), strict=True):
                results[position] = _entry(item, outcome)
            chunk.clear()

    for position, item in enumerate(items):
        name = _bulk_name(item)
        if name is not None:
            chunk.append((position, item, name))
            continue
        flush()
        if item.error is not None:
            results[position] = _entry(item, item.error)
            continue
        operation = operations.get(item.command.op)
        try:
            if operation is None:
                raise DomainError("不支持的操作", code="PARAM_ERROR")
            outcome = operation(place, item.command)
        except DomainError as exc:
            outcome = exc
        except Exception:  # noqa: BLE001 - one item's failure must not hide the others' results
            logger.exception("batch item %s: unexpected error", item.request_no)
            outcome = SystemError_()
        results[position] = _entry(item, outcome)
    flush()
    return {"items": results}
