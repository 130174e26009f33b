"""A small world for ledger tests: the postal issuer, two merchants, a store program, members."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from hub.models import Merchant, Store, Terminal, Vendor
from members.credentials import MemberName
from members.models import Member, Tier
from points import till
from points.common import clear_caches
from points.models import Agreement, ConversionRate, Program

_seq = itertools.count(1)


@dataclass
class World:
    issuer: Merchant
    shop: Merchant
    other: Merchant
    store: Store
    till: Terminal
    postal: Program
    store_points: Program
    agreement: Agreement

    def member(self, *, tier: str = "standard") -> Member:
        n = next(_seq)
        tier_obj, _ = Tier.objects.get_or_create(code=tier, defaults={"name": f"{tier}-name", "rank": 10 + n})
        return Member.objects.create(postal_no=f"PN{n:08d}", name="张小明", mobile=f"139{n:08d}", tier=tier_obj)

    def place(self, merchant=None, now=None, **kw) -> till.Place:
        """The shop's till (or ``merchant`` with no store), received ``now`` (default: now)."""
        merchant = merchant or self.shop
        site = {"store": self.store, "terminal": self.till} if merchant == self.shop else {}
        return till.Place(merchant=merchant, **site, **({"received_at": now} if now else {}))

    @staticmethod
    def named(member) -> MemberName:
        return member if isinstance(member, MemberName) else MemberName.verified(member)

    def earn(self, member, amount_fen: int, request_no: str | None = None, *, merchant=None, now=None, **kw):
        return till.earn(place=self.place(merchant, now), member=self.named(member), amount_fen=amount_fen,
                         request_no=request_no or f"E{next(_seq)}", **kw)

    def redeem(self, member, points: int, request_no: str | None = None, *, merchant=None, now=None, **kw):
        return till.redeem(place=self.place(merchant, now), member=self.named(member), points=points,
                           request_no=request_no or f"R{next(_seq)}", **kw)

    def freeze(self, member, points: int, request_no: str | None = None, *, merchant=None, now=None, **kw):
        return till.freeze(place=self.place(merchant, now), member=self.named(member), points=points,
                           request_no=request_no or f"F{next(_seq)}", **kw)

    def confirm(self, request_no: str, *, merchant=None, now=None):
        return till.confirm(place=self.place(merchant, now), request_no=request_no)

    def unfreeze(self, request_no: str, *, merchant=None, now=None):
        return till.unfreeze(place=self.place(merchant, now), request_no=request_no)

    def reverse(self, request_no: str, *, merchant=None, now=None):
        return till.reverse(place=self.place(merchant, now), request_no=request_no)

    def convert(self, member, points: int, request_no: str | None = None, *, from_program=None, to_program=None,
                merchant=None, now=None):
        return till.convert(place=self.place(merchant, now), member=self.named(member),
                            from_program=from_program or self.store_points, to_program=to_program or self.postal,
                            points=points, request_no=request_no or f"C{next(_seq)}")

    def grant(self, member, points: int, request_no: str | None = None, *, program=None, now=None):
        program = program or self.postal
        return till.grant(place=self.place(program.issuer, now), member=self.named(member), program=program,
                          points=points, request_no=request_no or f"G{next(_seq)}")

    def refund(self, original: str, amount_fen: int, refund_no: str | None = None, *, merchant=None, now=None,
               **kw):
        return till.refund(place=self.place(merchant, now), refund_no=refund_no or f"T{next(_seq)}",
                           original_request_no=original, amount_fen=amount_fen, **kw)


def build_world(**agreement_terms) -> World:
    clear_caches()
    vendor, _ = Vendor.objects.get_or_create(code="kemai", defaults={"name": "科脉"})
    issuer = Merchant.objects.create(code=f"ISS{next(_seq)}", name="中国邮政江西省分公司", kind=Merchant.Kind.ISSUER)
    shop = Merchant.objects.create(code=f"M{next(_seq)}", name="新阳光超市", vendor=vendor)
    other = Merchant.objects.create(code=f"M{next(_seq)}", name="绿野菜场", vendor=vendor, scene=Merchant.Scene.MARKET)
    store = Store.objects.create(merchant=shop, code="S001", name="一号店")
    till = Terminal.objects.create(store=store, code="P03")
    postal = Program.objects.create(issuer=issuer, code=f"POSTAL{next(_seq)}", name="邮政金融积分", value_fen=100,
                                    value_points=100, expiry_policy=Program.Expiry.NEVER)
    store_points = Program.objects.create(issuer=shop, code=f"STORE{next(_seq)}", name="新阳光积分", value_fen=1,
                                          value_points=1, expiry_policy=Program.Expiry.NEVER)
    terms = {"is_default": True, "earn_points": 1, "earn_per_fen": 100, "acceptance_fee_bp": 60,
             "issue_value_fen": 80, "issue_value_points": 100, **agreement_terms}
    agreement = Agreement.objects.create(merchant=shop, program=postal, **terms)
    Agreement.objects.create(merchant=other, program=postal, is_default=True)
    ConversionRate.objects.create(from_program=store_points, to_program=postal, from_points=10, to_points=1)
    return World(issuer, shop, other, store, till, postal, store_points, agreement)


@pytest.fixture
def world(db) -> World:
    return build_world()


def roll_up_finished_days() -> None:
    """What the 00:30 job would have done by now for a test that dated postings in the past."""
    from django.db import connection
    from django.utils import timezone

    from points import rules, sweeps

    today = rules.business_date(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT (created_at AT TIME ZONE 'Asia/Shanghai')::date FROM points_posting")
        days = sorted(day for (day,) in cursor.fetchall() if day < today)
    for day in days:
        sweeps.rollup_counterparties(business_day=day)


@pytest.fixture
def assert_ledger_ok():
    from points.checks import check_ledger

    def check():
        roll_up_finished_days()
        problems = check_ledger()
        assert problems == {}, problems

    return check
