"""Store-and-forward: a batch of queued till records (earn, refund, reverse) in one call.

Each item is one canonical command with its own request number, idempotent like a single call,
and answered on its own (one item's refusal is that item's result only). Items run in their
order; consecutive earns whose member is named by an opaque id are written together by the
ledger's set-based path (points.batch.earn_many), the others one by one through dispatch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone

from hub.errors import DomainError, MemberNotFound, SystemError_
from hub.gateway.canonical import TillCommand
from members import codes
from members.models import Member
from members.selectors import load_members
from points.batch import EarnItem, earn_many

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


def _bulk_earns(credential, chunk: list[tuple[int, BatchItem]], place, results: list) -> None:
    from hub.gateway.dispatch import command_fingerprint

    store, terminal = place
    merchant = credential.merchant
    refs = sorted({item.command.member.strip() for _, item in chunk})
    found = {ref: member for member, ref in load_members(
        "JOIN members_memberref r ON r.member_id = m.id WHERE r.merchant_id = %s AND r.ref = ANY(%s)",
        [merchant.pk, refs], extra="r.ref")}
    earns, positions = [], []
    for position, item in chunk:
        member = found.get(item.command.member.strip())
        if member is None or member.status != Member.Status.ACTIVE:
            results[position] = _entry(item, MemberNotFound())
            continue
        earns.append(EarnItem(item.command.request_no, member, item.command.amount_fen,
                              item.command.business_time, command_fingerprint(item.command)))
        positions.append(position)
    if earns:
        by_position = dict(chunk)
        outcomes = earn_many(merchant=merchant, store=store, terminal=terminal, items=earns, now=timezone.now())
        for position, outcome in zip(positions, outcomes, strict=True):
            results[position] = _entry(by_position[position], outcome)


def run_batch(credential, command: TillCommand, place) -> dict:
    """``{"items": [...]}``: per item ``{"request_no", "op", "code", "message", "data"}``."""
    from hub.gateway.dispatch import dispatch

    items: list[BatchItem] = command.extra["items"]
    results: list = [None] * len(items)
    chunk: list[tuple[int, BatchItem]] = []

    def flush():
        if chunk:
            try:
                _bulk_earns(credential, chunk, place, results)
            except DomainError as exc:  # the whole chunk is refused (e.g. the merchant may not award)
                for position, item in chunk:
                    results[position] = _entry(item, exc)
            chunk.clear()

    for position, item in enumerate(items):
        if item.error is None and item.command.op == "earn" and item.command.amount_fen is not None \
                and codes.REF_RE.match((item.command.member or "").strip()):
            chunk.append((position, item))
            continue
        flush()
        if item.error is not None:
            results[position] = _entry(item, item.error)
            continue
        try:
            outcome = dispatch(credential, item.command, place)
        except DomainError as exc:
            outcome = exc
        except Exception:  # noqa: BLE001 - one item's failure must not hide the others' results
            logger.exception("batch item %s: unexpected error", item.request_no)
            outcome = SystemError_()
        results[position] = _entry(item, outcome)
    flush()
    return {"items": results}
