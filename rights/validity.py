"""Validity in Asia/Shanghai days, stored as instants.

"Valid until 30 Nov" means until 1 Dec 00:00 +08:00 (exclusive): usable at 23:59:59 +08:00 on
30 Nov, refused at 00:00:00 on 1 Dec. Every boundary is computed here, never from UTC midnight.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hub.timezone import SHANGHAI

TZ = SHANGHAI


def local_date(at: datetime) -> date:
    return at.astimezone(TZ).date()


def start_of_day(day: date) -> datetime:
    """00:00 Asia/Shanghai of ``day`` as an aware instant."""
    return datetime.combine(day, time.min, tzinfo=TZ)


def end_of_day(day: date) -> datetime:
    """The exclusive end of ``day`` in Asia/Shanghai: 00:00 of the next day."""
    return start_of_day(day + timedelta(days=1))


def window(from_day: date | None, until_day: date | None) -> tuple[datetime | None, datetime | None]:
    """A fixed window of local days, both inclusive, as [start, end) instants."""
    return (start_of_day(from_day) if from_day else None, end_of_day(until_day) if until_day else None)


def voucher_validity(right, claimed_at: datetime) -> tuple[datetime, datetime]:
    """(valid_from, expires_at) of a voucher claimed at ``claimed_at``.

    N days after claim: valid from the claim through the end of the Nth local day, the claim day
    being day 1 (claimed 29 Nov 15:00 with N = 2 → until 1 Dec 00:00 +08:00). Always within the
    right's own window when it has one.
    """
    valid_from = claimed_at
    if right.valid_from and right.valid_from > valid_from:
        valid_from = right.valid_from
    if right.valid_days:
        expires = end_of_day(local_date(valid_from) + timedelta(days=right.valid_days - 1))
        if right.valid_until and right.valid_until < expires:
            expires = right.valid_until
    elif right.valid_until:
        expires = right.valid_until
    else:
        raise ValueError("a right needs valid_until or valid_days")
    return valid_from, expires


def weekday_allowed(right, at: datetime) -> bool:
    """Is ``at`` (in Asia/Shanghai) on one of the right's days of the week (1 = Monday)?"""
    return not right.weekdays or at.astimezone(TZ).isoweekday() in right.weekdays


def period_key(period: str, at: datetime) -> str:
    """The bucket of a period in Asia/Shanghai: 2026-12-01, 2026-W49, 2026-12."""
    day = local_date(at)
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day:%Y-%m}"
    raise ValueError(f"unknown period {period!r}")
