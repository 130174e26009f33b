"""The canonical till vocabulary every dialect translates to and from.

A vendor adapter turns a request into a ``TillCommand`` and turns the outcome — a result ``dict``
with the keys listed in ``RESULT_FIELDS``, or a ``hub.errors.DomainError`` — back into its own
envelope. Money is always integer fen and points integers here; yuan strings, GBK and XML exist
only inside the adapters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime

OPS = (
    "identify",
    "earn",
    "redeem",
    "freeze",
    "confirm",
    "unfreeze",
    "refund",
    "reverse",
    "query",
    "day_end",
)

# Store-and-forward: queued earn/refund/reverse records in command.extra["items"] (a list of
# hub.gateway.batch.BatchItem), answered item by item (hub.gateway.batch.run_batch).
BATCH_OP = "batch"

# Operations of the native API only, answered through the same gateway: vouchers written off
# without a points sale (rights.platforms) and scenic-spot gates (rights.gates). Their fields
# other than the site and request numbers ride in ``extra``; no vendor dialect serves them.
NATIVE_OPS = ("voucher_query", "voucher_redeem", "voucher_reverse", "voucher_return",
              "gate_verify", "gate_keys", "gate_revocations", "gate_scans")


@dataclass(frozen=True)
class DayEndTotals:
    """A till's own totals for one business day: (count, points) per kind."""

    earn_count: int = 0
    earn_points: int = 0
    redeem_count: int = 0
    redeem_points: int = 0
    refund_count: int = 0
    refund_points: int = 0


@dataclass(frozen=True)
class TillCommand:
    """One till request in the hub's own words.

    - ``request_no``: the till's number of *this* request (sale/payment number; for a refund the
      refund number). Unique per merchant.
    - ``original_request_no``: the request this one acts on (refund, confirm, unfreeze, reverse,
      query).
    - ``member``: the member credential exactly as sent — the opaque id from identify, a dynamic
      member code, a mobile, or the merchant's own card number.
    - ``amount_fen``: earn: amount paid other than with points; refund: the refund amount;
      redeem/freeze: the value the till states for the points (optional; checked if present).
    """

    op: str
    store_code: str = ""
    terminal_code: str = ""
    operator: str = ""
    request_no: str = ""
    original_request_no: str = ""
    member: str = ""
    amount_fen: int | None = None
    points: int | None = None
    business_time: datetime | None = None
    biz_date: date | None = None
    totals: DayEndTotals | None = None
    memo: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.op not in OPS and self.op != BATCH_OP and self.op not in NATIVE_OPS:
            raise ValueError(f"unknown till operation {self.op!r}")

    def replace(self, **changes) -> TillCommand:
        return dataclasses.replace(self, **changes)


# The keys of the result dict per operation (all values JSON-friendly: str, int, bool, list, dict;
# datetimes as aware datetime objects for adapters to format in their own style).
RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "identify": (
        "member_ref",  # opaque member id, scoped to the merchant
        "name_masked",  # "*明"
        "mobile_masked",  # "138****1234"
        "tier",  # tier name, e.g. "金卡"
        "points",  # available points of the merchant's default program
        "points_value_fen",  # their cash value in fen
        "point_value_fen_per_100",  # fen per 100 points of that program
        "pending_points",
        "frozen_points",
        "redeemable_points",  # points usable now under the agreement
        "rights",  # [{"code", "name", "discount_rate": "0.95"}]
    ),
    "earn": ("request_no", "points_earned", "points_balance"),
    "redeem": ("request_no", "points", "amount_fen", "points_balance"),
    "freeze": ("request_no", "points", "amount_fen", "expires_at", "points_balance"),
    "confirm": ("request_no", "points", "amount_fen", "points_balance"),
    "unfreeze": ("request_no", "status", "points_balance"),  # status "UNFROZEN"
    "refund": ("refund_no", "request_no", "points_clawed_back", "points_returned", "amount_fen", "points_balance"),
    "reverse": ("request_no", "status", "action"),  # status "REVERSED"; action "reverse" | "tombstone"
    # status: SUCCESS, FROZEN, UNFROZEN, REVERSED, REFUNDED, PART_REFUNDED
    "query": ("request_no", "type", "status", "points", "amount_fen", "refunds"),
    "day_end": ("matched", "differences"),  # differences: [{"request_no", "field", "till", "hub"}]
    # NATIVE_OPS (rights.platforms, rights.gates; absent optional fields are left out by the adapter)
    "voucher_query": ("voucher_ref", "right_code", "right_name", "kind", "state", "usable", "valid_from",
                      "expires_at", "valid_until", "discount_bp", "discount_fen", "threshold_fen", "cap_fen",
                      "people", "used_at"),
    "voucher_redeem": ("request_no", "status", "voucher_ref", "right_code", "right_name", "discount_fen",
                       "order_no", "people"),
    "voucher_reverse": ("request_no", "status", "action"),
    "voucher_return": ("request_no", "original_request_no", "status", "amount_fen", "voucher_returned"),
    "gate_verify": ("request_no", "status", "gate_id", "right_code", "right_name", "people", "valid_day",
                    "valid_until"),
    "gate_keys": ("keys",),
    "gate_revocations": ("until", "items"),
    "gate_scans": ("gate_id", "items"),
}
