"""The thin Python side of the ledger's atomic write: build a ``points_apply`` payload, call it.

A payload names accounts by (kind, program, member, party); the database resolves, creates and
locks them. The contract (account kinds, lot modes, payload keys) is named once in
points/contract.py and every payload is validated against it before the call; docs/ledger.md
describes it, points/sql/ledger.sql implements it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from psycopg.types.json import Jsonb

from hub.db import fetch_prepared
from points import contract
from points.contract import AccountKind, LotMode

AVAILABLE = AccountKind.AVAILABLE.value
PENDING = AccountKind.PENDING.value
HELD = AccountKind.HELD.value
ISSUER_LIABILITY = AccountKind.ISSUER_LIABILITY.value
MERCHANT_REDEEMED = AccountKind.MERCHANT_REDEEMED.value
BREAKAGE = AccountKind.BREAKAGE.value


def member_account(kind: int, program_id: int, member_id: int) -> list:
    return [kind, program_id, member_id, None]


def party_account(kind: int, program_id: int, party_id: int) -> list:
    return [kind, program_id, None, party_id]


@dataclass
class Posting:
    """One leg: ``amount`` points into (positive) or out of (negative) ``account``, with what it
    does to lots."""

    account: list
    amount: int
    lots: dict = field(default_factory=dict)  # {LotMode: its value} (points.contract.LotMode)

    def as_json(self) -> dict:
        return {"account": self.account, "amount": self.amount, **self.lots}


def claw(lot_id: int, *, owed: int, counter: int) -> dict:
    """Lot mode of a leg taking back an earned lot's points; ``counter`` is the index of the leg
    (the issuer's liability) that shrinks by the expired part, which is not taken again."""
    return {LotMode.CLAW.value: {"lot": lot_id, "owed": owed, "counter": counter}}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class Entry:
    """Everything one call of points_apply writes."""

    now: datetime
    txn_kind: str
    op: dict | None = None  # a new operation row
    op_id: int | None = None  # or an existing one the caller holds
    txn_operation: int | None = None  # the operation the transaction belongs to (default: op)
    legs: list[Posting] = field(default_factory=list)
    clearing: list[dict] = field(default_factory=list)
    daily_cap: dict | None = None
    balance_of: list | None = None
    result: dict | None = None
    refuse: dict | None = None
    guard: dict | None = None
    reverse: dict | None = None  # {"original", "fen", "points"}: the operation is reversed by this call

    def payload(self) -> dict:
        p: dict = {"now": iso(self.now), "txn_kind": self.txn_kind, "legs": [leg.as_json() for leg in self.legs]}
        if self.op is not None:
            p["op"] = self.op
        if self.op_id is not None:
            p["op_id"] = self.op_id
        if self.txn_operation is not None:
            p["txn_operation"] = self.txn_operation
        if self.clearing:
            p["clearing"] = self.clearing
        if self.daily_cap is not None:
            p["daily_cap"] = self.daily_cap
        if self.balance_of is not None:
            p["balance_of"] = self.balance_of
        if self.result is not None:
            p["result"] = self.result
        if self.refuse is not None:
            p["refuse"] = self.refuse
        if self.guard is not None:
            p["guard"] = self.guard
        if self.reverse is not None:
            p["reverse"] = self.reverse
        return contract.validate(p)


class Conflict(Exception):
    """The guarded operation changed between Python's read and the write: read again."""


def apply(entry: Entry) -> dict:
    """One round trip: record the operation and write its legs atomically (see ledger.sql), as a
    prepared statement with the payload as a jsonb parameter (hub/db.py).

    Inside an outer transaction the call runs in a savepoint, so a guard conflict leaves the
    outer transaction usable; on its own it is a single autocommit statement.
    """
    payload = Jsonb(entry.payload())
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                raw = fetch_prepared("SELECT points_apply(%s)", [payload])[0][0]
        else:
            raw = fetch_prepared("SELECT points_apply(%s)", [payload])[0][0]
    except DatabaseError as exc:
        state = getattr(exc.__cause__, "sqlstate", None)
        if state == "P0020":
            raise Conflict() from exc
        raise
    # Django registers a jsonb loader that leaves the text to JSONField; decode it here.
    return json.loads(raw) if isinstance(raw, str) else raw


def spendable(account: list, now: datetime) -> int:
    """Spendable points of a member account (its unexpired open lots); 0 if it doesn't exist."""
    kind, program_id, member_id, _ = account
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT coalesce(sum(l.remaining), 0) FROM points_lot l
                 JOIN points_account a ON a.id = l.account_id
                WHERE a.member_id = %s AND a.program_id = %s AND a.kind = %s
                  AND l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > %s)""",
            [member_id, program_id, kind, now],
        )
        return int(cursor.fetchone()[0])
