"""The aggregate job against itself and against till traffic, with real threads on PostgreSQL:
concurrent refreshes of one day serialise on the day's advisory lock and leave the same rows."""

from __future__ import annotations

import pytest

from hub.ops import aggregates
from hub.ops.models import DailyStat
from tests.hub.ops.conftest import DAY, at, seed_day
from tests.points.conftest import build_world
from tests.threads import race


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_a_day_and_a_late_sale_end_consistent():
    world = build_world()
    seed_day(world)
    aggregates.refresh_day(day=DAY)
    member = world.member()

    def work(i):
        if i == 0:  # a store-and-forward sale of DAY arrives while the day is being refreshed
            return world.earn(member, 10_000, "E-RACE", now=at(DAY, 23, 30), business_time=at(DAY, 21))
        return aggregates.refresh_day(day=DAY)

    results = race(5, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    aggregates.refresh_day(day=DAY)  # what the next run does
    assert DailyStat.objects.filter(business_date=DAY, store=world.store).count() == 1
    assert DailyStat.objects.get(business_date=DAY, store=world.store).points_earned == 323 + 100
    assert aggregates.check_aggregates(days=[DAY]) == {}
