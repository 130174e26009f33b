"""Voucher state changes: one guarded statement each, and the event it appends.

Every move of a voucher goes through ``transition``: it locks the row, changes it only if its
state is one of ``frm`` and the extra SQL conditions hold, and appends a ``VoucherEvent`` in the
same transaction. No row back means the voucher was not in a state that allows the move.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from hub.errors import DomainError
from points.common import fingerprint as request_fingerprint
from rights.models import Voucher, VoucherEvent

State = Voucher.State

# the moves the design allows: action -> (from states, to state)
MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "activate": ((State.PENDING,), State.AVAILABLE),
    "use": ((State.AVAILABLE,), State.USED),
    "reserve": ((State.AVAILABLE,), State.RESERVED),
    "confirm": ((State.RESERVED,), State.USED),
    "release": ((State.RESERVED,), State.AVAILABLE),
    "reverse": ((State.USED,), State.AVAILABLE),
    "return": ((State.USED,), State.AVAILABLE),
    "expire": ((State.PENDING, State.AVAILABLE), State.EXPIRED),
    "deactivate": ((State.PENDING, State.AVAILABLE), State.DEACTIVATED),
}
_COLUMNS = {"used_at", "reserved_until"}


def fingerprint(kind: str, **fields) -> str:
    """The hub's one request fingerprint (keyed, see points.common.fingerprint), for claims and
    write-offs."""
    return request_fingerprint(f"rights.{kind}", **fields)


def recorded_refusal(code: str, message: str | None) -> DomainError:
    """A recorded refusal raised again as the class of its code (QuotaExhausted, VoucherUsed …)."""
    for cls in DomainError.__subclasses__():
        if cls.code == code:
            return cls(message or None)
    return DomainError(message or None, code=code)


def transition(voucher_id: int, action: str, *, now: datetime, to: str | None = None, where: str = "",
               params: tuple = (), merchant_id: int | None = None, request_no: str = "", actor=None,
               reason: str = "", set_columns: dict | None = None) -> str | None:
    """Move the voucher for ``action``; returns the old state, or None if the guard refused.

    ``to`` overrides the target (a reverse of a voucher past its expiry lands in ``expired``);
    ``where`` adds conditions on ``v`` (e.g. ``v.expires_at > %s``) with ``params``.
    """
    frm, target = MOVES[action]
    target = to or target
    sets = ["state = %s"]
    values: list = [target]
    for column, value in (set_columns or {}).items():
        if column not in _COLUMNS:
            raise ValueError(column)
        sets.append(f"{column} = %s")
        values.append(value)
    if action == "deactivate":
        sets.append("deactivated_reason = %s")
        values.append(reason[:200])
    sql = f"""WITH old AS (SELECT id, state FROM rights_voucher WHERE id = %s FOR UPDATE)
              UPDATE rights_voucher v SET {", ".join(sets)}
                FROM old WHERE v.id = old.id AND old.state = ANY(%s) {("AND " + where) if where else ""}
              RETURNING old.state"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [voucher_id, *values, list(frm), *params])
        row = cursor.fetchone()
    if row is None:
        return None
    VoucherEvent.objects.create(voucher_id=voucher_id, from_state=row[0], to_state=target, action=action,
                                merchant_id=merchant_id, request_no=request_no,
                                actor=actor if getattr(actor, "pk", None) else None, reason=reason[:200], at=now)
    return row[0]


def record_created(voucher: Voucher, *, now: datetime, action: str = "claim", request_no: str = "") -> None:
    VoucherEvent.objects.create(voucher=voucher, from_state="", to_state=voucher.state, action=action,
                                request_no=request_no, at=now)
