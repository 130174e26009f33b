"""A seeded business day for the dashboard tests: two merchants in two scenes, earns, redemptions,
a reversal, till calls and a reconciliation difference, all on ``DAY`` (Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hub.timezone import SHANGHAI
from tests.points.conftest import build_world

DAY = date(2026, 11, 20)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def seed_day(world, day: date = DAY) -> dict:
    """Till traffic of one day at the shop (supermarket) and the other merchant (market)."""
    m1, m2, m3 = world.member(), world.member(), world.member()
    noon = at(day, 12)
    for member in (m1, m2, m3):
        world.grant(member, 5000, now=at(day, 8))
    world.earn(m1, 12_345, "E-A1", now=at(day, 9))
    world.earn(m2, 20_000, "E-A2", now=at(day, 9, 30))
    world.earn(m1, 5_000, "E-B1", merchant=world.other, now=at(day, 10))
    world.redeem(m1, 300, "R-A1", now=at(day, 11))
    world.redeem(m3, 200, "R-A2", now=at(day, 11, 30))
    world.earn(m3, 9_900, "E-A3", now=noon)
    world.reverse("E-A3", now=noon + timedelta(minutes=1))
    world.reverse("NEVER-SEEN", now=noon + timedelta(minutes=2))
    return {"members": (m1, m2, m3)}


@pytest.fixture
def seeded(db):
    world = build_world()
    seed_day(world)
    return world
