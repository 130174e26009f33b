"""The earn and redeem rules, as plain functions of an agreement/program and integers.

Nothing here touches the database; everything is integer arithmetic (points, fen, percentages
and basis points), so each rule can be read and tested on its own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hub.errors import RedeemLimitExceeded
from hub.timezone import SHANGHAI

# ---- rounding ---------------------------------------------------------------------------------

def divide(numerator: int, denominator: int, rounding: str = "floor") -> int:
    """Integer division of non-negative integers with the program's rounding rule."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if numerator < 0:
        return -divide(-numerator, denominator, rounding)
    if rounding == "half_up":
        return (2 * numerator + denominator) // (2 * denominator)
    return numerator // denominator


def cumulative_share(total: int, done_before: int, done_after: int, whole: int, rounding: str = "floor") -> int:
    """The part of ``total`` that belongs to the slice (done_before, done_after] of ``whole``.

    Computed as share(after) - share(before), so any sequence of partial slices adds up to
    exactly ``total`` once ``done_after == whole`` — repeated partial refunds reconcile to a
    full one with no rounding left over.
    """
    if not 0 <= done_before <= done_after <= whole:
        raise ValueError("slice outside the whole")
    if whole == 0:
        return 0
    return divide(total * done_after, whole, rounding) - divide(total * done_before, whole, rounding)


def largest_remainder_split(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` so the parts add back to ``total`` exactly."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0 for _ in weights]
    floors = [total * w // weight_sum for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for i in remainders[: total - sum(floors)]:
        floors[i] += 1
    return floors


# ---- value of points ----------------------------------------------------------------------------

def points_value_fen(program, points: int) -> int:
    """Cash value of ``points`` of ``program`` in fen (e.g. 100 points = 100 fen)."""
    return divide(points * program.value_fen, program.value_points, program.rounding)


def points_for_value_fen(program, fen: int) -> int:
    """Smallest number of points whose value covers ``fen`` (exact when the rate allows)."""
    return -(-fen * program.value_points // program.value_fen) if program.value_fen else 0


def issue_cost_fen(agreement, points: int) -> int:
    """What a merchant-funded earn costs the merchant, at the agreement's issue price."""
    return divide(points * agreement.issue_value_fen, agreement.issue_value_points, "half_up")


def acceptance_fee_fen(agreement, amount_fen: int) -> int:
    """The issuer's acceptance fee on a redemption worth ``amount_fen`` (basis points, half up)."""
    return divide(amount_fen * agreement.acceptance_fee_bp, 10000, "half_up")


# ---- earning --------------------------------------------------------------------------------------

def earn_multiplier_pct(agreement, tier_code: str | None, at: datetime, campaigns=()) -> int:
    """Tier multiplier × the best campaign running at ``at``, in percent (100 = 1×)."""
    tier_pct = int((agreement.tier_multipliers or {}).get(tier_code or "", 100))
    campaign_pct = max((c.multiplier_pct for c in campaigns if c.starts_at <= at < c.ends_at), default=100)
    return tier_pct * campaign_pct // 100


def best_campaign(at: datetime, campaigns=()):
    """The campaign that applies at ``at`` (the highest multiplier), or None."""
    running = [c for c in campaigns if c.starts_at <= at < c.ends_at]
    return max(running, key=lambda c: c.multiplier_pct, default=None)


def merchant_funded_points(agreement, program, *, points: int, amount_fen: int, tier_code: str | None, at: datetime,
                           campaigns=()) -> int:
    """Of ``points`` earned, those the merchant funds: all of them, except a campaign's bonus when
    the campaign's funder is the issuer (the issuer funds its own promotion and is owed nothing)."""
    campaign = best_campaign(at, campaigns)
    if campaign is None or campaign.multiplier_pct <= 100 or campaign.funder != "issuer":
        return points
    return min(points, earn_points(agreement, program, amount_fen=amount_fen, tier_code=tier_code, at=at))


def earn_points(agreement, program, *, amount_fen: int, tier_code: str | None, at: datetime, campaigns=()) -> int:
    """Points awarded for ``amount_fen`` paid other than with points."""
    pct = earn_multiplier_pct(agreement, tier_code, at, campaigns)
    return divide(amount_fen * agreement.earn_points * pct, agreement.earn_per_fen * 100, program.rounding)


def expiry_for(program, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire (None: never). Expiry is an instant; a lot
    with ``expires_at <= now`` can no longer be spent."""
    if program.expiry_policy == "never":
        return None
    if program.expiry_policy == "days":
        return earned_at + timedelta(days=program.expiry_days)
    local = earned_at.astimezone(SHANGHAI)
    return datetime(local.year + 2, 1, 1, tzinfo=SHANGHAI)  # the end of the year after


def earned_at(business_time: datetime | None, now: datetime) -> datetime:
    """When points are earned for expiry: the sale's business time (a store-and-forward sale of 31
    December uploaded on 1 January expires as a sale of 31 December), never later than now."""
    return min(business_time, now) if business_time is not None else now


def matures_at(agreement, earned_at: datetime) -> datetime | None:
    return earned_at + timedelta(days=agreement.maturation_days) if agreement.maturation_days else None


# ---- redeeming ------------------------------------------------------------------------------------

def check_redeem(agreement, program, *, points: int, sale_amount_fen: int | None = None) -> None:
    """Refuse a redemption that breaks the agreement's limits (the daily cap is checked by the
    ledger under the member's lock). A redemption worth 0 fen is refused: it could never be
    refunded (a refund is at least 1 fen) and would pay nothing."""
    if points_value_fen(program, points) == 0:
        raise RedeemLimitExceeded("抵扣积分价值不足 1 分，不能抵扣")
    if points < agreement.redeem_min_points:
        raise RedeemLimitExceeded(f"单笔最少抵扣 {agreement.redeem_min_points} 积分")
    if points % agreement.redeem_step_points:
        raise RedeemLimitExceeded(f"抵扣积分须为 {agreement.redeem_step_points} 的整数倍")
    if agreement.daily_cap_points is not None and points > agreement.daily_cap_points:
        raise RedeemLimitExceeded(f"每日最多抵扣 {agreement.daily_cap_points} 积分")
    if sale_amount_fen is not None:
        limit = sale_amount_fen * agreement.redeem_max_share_bp // 10000
        if points_value_fen(program, points) > limit:
            raise RedeemLimitExceeded("积分抵扣金额超过订单允许比例")


def redeemable_now(agreement, *, spendable: int, used_today: int) -> int:
    """Points the member can use at this merchant right now."""
    if not agreement.can_accept:
        return 0
    room = spendable
    if agreement.daily_cap_points is not None:
        room = min(room, max(0, agreement.daily_cap_points - used_today))
    room -= room % agreement.redeem_step_points
    return room if room >= max(agreement.redeem_min_points, 1) else 0


# ---- business days --------------------------------------------------------------------------------

def business_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def reverse_allowed(original_business_date: date, now: datetime) -> bool:
    """A reverse is allowed until the end of the business day after the one the hub received the
    original on (not the till's business time: a store-and-forward sale can be reversed the day
    it arrives, and a sale dated ahead gains no time)."""
    return business_date(now) <= original_business_date + timedelta(days=1)
