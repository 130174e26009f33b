"""A day of mixed traffic for clearing tests, on top of the ledger tests' small world.

Parties: the postal issuer (ISS), 新阳光超市 (shop, also issuer of its store points) and 绿野菜场
(other). Programs: postal points (100 points = 1 yuan) and the shop's store points (1 point = 1 fen).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Group, User

from hub.clearing.services import SHANGHAI
from points import refunds, reversal, services
from points.common import clear_caches
from points.models import Agreement
from tests.points.conftest import World, build_world

DAY = date(2026, 3, 2)  # the clearing date of the batch under test (cut-off 2026-03-03 00:00)
_users = itertools.count(1)


def at(clock: str, day: date = DAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=SHANGHAI)


def next_day(clock: str) -> datetime:
    return at(clock, DAY + timedelta(days=1))


@dataclass
class Day:
    world: World
    m1: object
    m2: object
    store_agreement: Agreement
    other_store_agreement: Agreement
    request_nos: dict = field(default_factory=dict)


def build_day(world: World) -> Day:
    """Build the traffic of DAY; the expected batch is computed by hand in test_batches.py."""
    w = world
    store_agreement = Agreement.objects.create(merchant=w.shop, program=w.store_points, earn_points=10,
                                               earn_per_fen=100)
    other_store = Agreement.objects.create(merchant=w.other, program=w.store_points, acceptance_fee_bp=100)
    clear_caches()
    m1, m2 = w.member(), w.member()
    common = {"store": w.store, "terminal": w.till}
    other_common = {"store": None, "terminal": None}

    # 09:00 shop: m1 earns 1000 postal points on 1000 yuan -> shop owes ISS 800 fen (issue price 80/100)
    services.earn(merchant=w.shop, member=m1, amount_fen=100000, request_no="E1", now=at("09:00"), **common)
    # 09:30 other: m2 earns 500 postal points on 500 yuan -> other owes ISS 500 fen (issue price 100/100)
    services.earn(merchant=w.other, member=m2, amount_fen=50000, request_no="E2", now=at("09:30"), **other_common)
    # 10:00 shop: m1 redeems 300 postal points = 300 fen -> ISS owes shop 300, fee 0.6% = 1.8 -> 2 fen
    services.redeem(merchant=w.shop, member=m1, points=300, request_no="R1", now=at("10:00"), **common)
    # 10:30 other: m2 redeems 200 postal points = 200 fen -> ISS owes other 200, no fee
    services.redeem(merchant=w.other, member=m2, points=200, request_no="R2", now=at("10:30"), **other_common)
    # 11:00 shop: half of E1 returned -> 500 points clawed back, shop's funding -400 fen
    refunds.refund(merchant=w.shop, refund_no="T1", original_request_no="E1", amount_fen=50000, now=at("11:00"),
                    **common)
    # 11:30 shop: 1 yuan of R1's 3 yuan returned -> 100 points back, ISS owes shop -100, fee -0 (2*100/300 floors to 0)
    refunds.refund(merchant=w.shop, refund_no="T2", original_request_no="R1", amount_fen=100, now=at("11:30"),
                    **common)
    # 12:00 other: m2 earns 200 more (other owes ISS 200) and the till reverses it at 12:01 (-200)
    services.earn(merchant=w.other, member=m2, amount_fen=20000, request_no="E3", now=at("12:00"), **other_common)
    reversal.reverse(merchant=w.other, request_no="E3", now=at("12:01"))
    # 13:00 shop: m1 redeems 100 postal points (ISS owes 100, fee 0.6 -> 1) and the till reverses it (-100, -1)
    services.redeem(merchant=w.shop, member=m1, points=100, request_no="R3", now=at("13:00"), **common)
    reversal.reverse(merchant=w.shop, request_no="R3", now=at("13:01"))
    # 14:00 shop: store points, issued by the shop itself -> no clearing item
    services.earn(merchant=w.shop, member=m1, amount_fen=30000, request_no="S1", program=w.store_points,
                  now=at("14:00"), **common)
    services.earn(merchant=w.shop, member=m2, amount_fen=10000, request_no="S2", program=w.store_points,
                  now=at("14:10"), **common)
    # 15:00 m1 converts 1000 store points into 100 postal points -> shop (store points' issuer) owes ISS 100 fen
    services.convert(merchant=w.shop, member=m1, from_program=w.store_points, to_program=w.postal, points=1000,
                     request_no="C1", now=at("15:00"))
    # 16:00 other: m2 pays with 500 store points = 500 fen -> shop owes other 500, fee 1% = 5 fen
    services.redeem(merchant=w.other, member=m2, points=500, request_no="R4", program=w.store_points,
                    now=at("16:00"), **other_common)
    # 23:59:59.999999: the last instant of the day -> still this batch: shop owes ISS 80 (100 points)
    services.earn(merchant=w.shop, member=m1, amount_fen=10000, request_no="E4", now=at("23:59:59.999999"), **common)
    # 00:00:00 next day, exactly at the cut-off -> the next batch: shop owes ISS 8 fen (10 points)
    services.earn(merchant=w.shop, member=m1, amount_fen=1000, request_no="E5", now=next_day("00:00"), **common)
    return Day(w, m1, m2, store_agreement, other_store)


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def day(world) -> Day:
    return build_day(world)


def make_user(*groups: str, **extra) -> User:
    user = User.objects.create_user(f"user{next(_users)}", password="x", is_staff=True, **extra)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def finance_users(db) -> tuple[User, User]:
    return make_user("财务"), make_user("财务")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
