"""The ledger primitive's contract, named once: account kinds, lot modes and the payload keys of
``points_apply`` (points/sql/ledger.sql). Plain Python (no Django models), so migrations can read it.

- ``AccountKind`` is the one definition of the account kinds: ``points.models.Account.Kind`` takes
  its values from here, and the SQL is rendered from it (``__AVAILABLE__`` etc. in ledger.sql are
  replaced by these numbers when a migration loads the file, see ``render_sql``).
- ``LotMode`` names what a leg does to lots; ``points.ledger.Posting`` refuses any other, and a test
  asserts the SQL handles exactly these.
- ``PAYLOAD_KEYS`` / ``LEG_KEYS`` / ``MODE_KEYS`` are the keys ``points_apply`` reads; the payload
  builder validates against them, so a misspelt key fails loudly in Python instead of being ignored
  by the database.

docs/ledger.md describes every key.
"""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum


class AccountKind(IntEnum):
    AVAILABLE = 1  # member: spendable points (open lots)
    PENDING = 2  # member: earned, inside the return window (lots with matures_at)
    HELD = 3  # member: frozen for an open sale
    ISSUER_LIABILITY = 10  # shared: the issuer's liability for its points in members' hands
    MERCHANT_REDEEMED = 11  # shared: points a merchant accepted as payment
    BREAKAGE = 12  # shared: expired points, the issuer's


MEMBER_KINDS = (AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD)
SHARED_KINDS = (AccountKind.ISSUER_LIABILITY, AccountKind.MERCHANT_REDEEMED, AccountKind.BREAKAGE)
LOT_KINDS = (AccountKind.AVAILABLE, AccountKind.PENDING)  # the accounts whose balance is their open lots


class LotMode(StrEnum):
    """What a leg does to lots (at most one per leg; a leg without one touches no lot)."""

    TAKE = "take"  # take -amount from the account's unexpired lots, earliest expiry first
    TAKE_LOT = "take_lot"  # take -amount from this one lot (id), in this account
    NEW_LOT = "new_lot"  # {expires_at, matures_at}: a new lot of +amount
    RESTORE = "restore"  # {operation, grace_days}: give +amount back to the lots `operation` took
    CLAW = "claw"  # {lot, owed, counter}: take back an earned lot's points (see ledger.md)
    RECLAIM = "reclaim"  # {lots: [[lot, n], ...], usage_operation, breakage}: undo a give-back


PAYLOAD_KEYS = frozenset({
    "now", "op", "op_id", "txn_operation", "refuse", "guard", "txn_kind", "legs", "clearing", "daily_cap",
    "balance_of", "result", "reverse",
})
OP_KEYS = frozenset({
    "merchant_id", "request_no", "kind", "status", "fingerprint", "store_id", "terminal_id", "member_id",
    "program_id", "original_id", "points", "amount_fen", "hold_expires_at", "business_time", "business_date",
})
LEG_KEYS = frozenset({"account", "amount", "usage_operation", *LotMode})
MODE_KEYS = {
    LotMode.TAKE: None,  # true
    LotMode.TAKE_LOT: None,  # a lot id
    LotMode.NEW_LOT: frozenset({"expires_at", "matures_at"}),
    LotMode.RESTORE: frozenset({"operation", "grace_days"}),
    LotMode.CLAW: frozenset({"lot", "owed", "counter"}),
    LotMode.RECLAIM: frozenset({"lots", "usage_operation", "breakage"}),
}
GUARD_KEYS = frozenset({"op", "status", "refunded_fen", "refunded_points", "unexpired", "add_fen", "add_points",
                        "new_status"})
CLEARING_KEYS = frozenset({"payer", "payee", "program", "kind", "points", "amount_fen", "fee_fen"})
DAILY_CAP_KEYS = frozenset({"limit", "merchant", "program", "member", "date", "points"})
REVERSE_KEYS = frozenset({"original", "fen", "points"})


_KIND_VALUES = frozenset(kind.value for kind in AccountKind)


class ContractError(ValueError):
    """A payload that does not follow the contract: a programming error, never a till's."""


def _keys(name: str, value, allowed: frozenset, required: frozenset = frozenset()) -> None:
    if not isinstance(value, dict):
        raise ContractError(f"{name} must be an object")
    unknown = set(value) - allowed
    if unknown:
        raise ContractError(f"{name}: unknown keys {sorted(unknown)}")
    missing = required - set(value)
    if missing:
        raise ContractError(f"{name}: missing keys {sorted(missing)}")


def validate(payload: dict) -> dict:
    """Check a points_apply payload against the contract; returns it unchanged."""
    _keys("payload", payload, PAYLOAD_KEYS, frozenset({"now", "txn_kind", "legs"}))
    if ("op" in payload) == ("op_id" in payload):
        raise ContractError("payload: exactly one of op and op_id")
    if "op" in payload:
        _keys("op", payload["op"], OP_KEYS, frozenset({"merchant_id", "request_no", "kind", "status",
                                                         "fingerprint", "business_date"}))
    if "guard" in payload:
        _keys("guard", payload["guard"], GUARD_KEYS, frozenset({"op", "status"}))
    if "daily_cap" in payload:
        _keys("daily_cap", payload["daily_cap"], DAILY_CAP_KEYS, DAILY_CAP_KEYS)
    if "reverse" in payload:
        _keys("reverse", payload["reverse"], REVERSE_KEYS)
    for item in payload.get("clearing", ()):
        _keys("clearing item", item, CLEARING_KEYS, CLEARING_KEYS - {"fee_fen"})
    legs = payload["legs"]
    for i, leg in enumerate(legs):
        _keys(f"leg {i}", leg, LEG_KEYS, frozenset({"account", "amount"}))
        account = leg["account"]
        if not (isinstance(account, list) and len(account) == 4 and account[0] in _KIND_VALUES):
            raise ContractError(f"leg {i}: account must be [kind, program, member, party] with a known kind")
        member_kind = account[0] in MEMBER_KINDS
        if member_kind != (account[2] is not None and account[3] is None):
            raise ContractError(f"leg {i}: member accounts name a member, shared accounts a party")
        modes = [mode for mode in LotMode if mode in leg]
        if len(modes) > 1:
            raise ContractError(f"leg {i}: one lot mode at most, got {modes}")
        if modes:
            mode = modes[0]
            if account[0] not in LOT_KINDS:
                raise ContractError(f"leg {i}: lot mode {mode} on an account without lots")
            if MODE_KEYS[mode] is not None:
                _keys(f"leg {i} {mode}", leg[mode], MODE_KEYS[mode], MODE_KEYS[mode])
            positive = mode in (LotMode.NEW_LOT, LotMode.RESTORE)
            if (leg["amount"] > 0) != positive:
                raise ContractError(f"leg {i}: {mode} needs a {'positive' if positive else 'negative'} amount")
            if mode == LotMode.CLAW and not 0 <= leg[mode]["counter"] < len(legs):
                raise ContractError(f"leg {i}: claw counter must be the index of another leg")
    return payload


_TOKEN = re.compile(r"__([A-Z_]+)__")


def sql_constants() -> dict[str, str]:
    constants = {kind.name: str(kind.value) for kind in AccountKind}
    constants["MEMBER_KINDS"] = ", ".join(str(kind.value) for kind in MEMBER_KINDS)
    constants["SHARED_KINDS"] = ", ".join(str(kind.value) for kind in SHARED_KINDS)
    return constants


def render_sql(text: str) -> str:
    """Replace ``__NAME__`` tokens in the ledger's SQL by the constants above; an unknown token is an
    error (so the SQL can never use a kind Python does not know)."""
    constants = sql_constants()

    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in constants:
            raise ContractError(f"ledger.sql: unknown constant __{name}__")
        return constants[name]

    return _TOKEN.sub(sub, text)
