"""A small world for rights tests: the postal issuer (funder), a supermarket with two stores,
a scenic spot, members of each tier, and rights made through the catalogue services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.contrib.auth import get_user_model

from hub.models import Merchant, Store, Terminal
from members import services
from members.models import Member, Tier
from rights import catalogue
from rights.models import Right
from rights.validity import TZ

_seq = itertools.count(1)
TIERS = {"standard": ("普卡", 1), "silver": ("银卡", 2), "gold": ("金卡", 3), "platinum": ("白金卡", 4),
         "diamond": ("钻石卡", 5)}


def tier(code: str) -> Tier:
    name, rank = TIERS[code]
    return Tier.objects.get_or_create(code=code, defaults={"name": name, "rank": rank})[0]


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@dataclass
class World:
    issuer: Merchant
    shop: Merchant
    other: Merchant
    store: Store
    store2: Store
    till: Terminal
    maker: object
    checker: object

    def member(self, *, tier_code: str = "gold") -> Member:
        n = next(_seq)
        return services.register_member(postal_no=f"RT{n:08d}", name="王小明", mobile=f"137{n:08d}",
                                        tier=tier(tier_code))

    def right(self, *, activate: bool = True, providers=None, tiers=(), **terms) -> Right:
        n = next(_seq)
        defaults = {"code": f"R{n}", "name": f"满50减10-{n}", "kind": Right.Kind.AMOUNT_OFF, "off_fen": 1000,
                    "threshold_fen": 5000, "settlement_fen": 1000, "valid_days": 30}
        defaults.update(terms)
        right = catalogue.create_right(funder=self.issuer, providers=providers or [self.shop],
                                       tiers=[tier(t) for t in tiers], actor=self.maker, **defaults)
        if activate:
            catalogue.submit_for_review(right=right, actor=self.maker)
            right = catalogue.approve_right(right=right, actor=self.checker)
        return right


def build_world() -> World:
    users = get_user_model().objects
    n = next(_seq)
    issuer = Merchant.objects.create(code=f"ISS{n}", name="中国邮政江西省分公司", kind=Merchant.Kind.ISSUER,
                                     scene=Merchant.Scene.OTHER)
    shop = Merchant.objects.create(code=f"SHOP{n}", name="新阳光超市")
    other = Merchant.objects.create(code=f"OTH{n}", name="绿野菜场", scene=Merchant.Scene.MARKET)
    store = Store.objects.create(merchant=shop, code="S001", name="一号店")
    store2 = Store.objects.create(merchant=shop, code="S002", name="二号店")
    till = Terminal.objects.create(store=store, code="P03")
    maker = users.create_user(username=f"maker{n}", password="x")
    checker = users.create_user(username=f"checker{n}", password="x")
    return World(issuer, shop, other, store, store2, till, maker, checker)


@pytest.fixture
def world(db) -> World:
    return build_world()
