"""Two partner merchants, A (新阳光超市, supermarket) and B (绿野菜场, market), each with a store,
a till, operations, a right it provides and a write-off of it, a reconciliation difference, and a
closed clearing batch with statements and settlement instructions — every row of A named so a
test can look for it on B's pages, and the other way round."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from hub.clearing import services as clearing
from hub.clearing import statements
from hub.clearing.models import ClearingDocument, ReconciliationDifference, ReconciliationRun
from hub.models import Store, Terminal
from hub.ops.models import MerchantStaff
from hub.vendors.cloudpos.services import add_cashier
from members.roles import AUDIT, OPERATIONS
from rights import catalogue, redemption, vouchers
from rights.models import Right
from tests.hub.ops.conftest import DAY, at, seed_day
from tests.points.conftest import build_world


@dataclass
class Party:
    merchant: object
    store: object
    till: object
    user: object
    right: object
    marks: list[str] = field(default_factory=list)  # strings only this party's pages may show


@dataclass
class PortalWorld:
    points: object
    a: Party
    b: Party
    staff: object


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)


def build_portal_world() -> PortalWorld:
    w = build_world()
    seed_day(w)  # A: E-A1, E-A2, R-A1, R-A2, E-A3 (reversed), NEVER-SEEN; B: E-B1
    b_store = Store.objects.create(merchant=w.other, code="B-S9", name="绿野二号摊区")
    b_till = Terminal.objects.create(store=b_store, code="B-P9", kind=Terminal.Kind.CLOUD_POS)
    maker, checker = _user("ops-maker"), _user("ops-checker")
    parties = {}
    for key, merchant, store, till in (("a", w.shop, w.store, w.till), ("b", w.other, b_store, b_till)):
        right = catalogue.create_right(
            code=f"RIGHT-{key.upper()}", name=f"{merchant.name}满50减10", kind=Right.Kind.AMOUNT_OFF, off_fen=1000,
            threshold_fen=5000, settlement_fen=1000, valid_days=30, funder=w.issuer, providers=[merchant],
            actor=maker)
        catalogue.submit_for_review(right=right, actor=maker, now=at(DAY, 7))
        right = catalogue.approve_right(right=right, actor=checker, now=at(DAY, 7, 5))
        member = w.member()
        voucher = vouchers.claim(member=member, right=right, request_no=f"CLAIM-{key}", now=at(DAY, 13))
        redemption.redeem(merchant=merchant, store=store, terminal=till, request_no=f"WO-{key.upper()}1",
                          voucher=voucher, member=member, sale_fen=8000, discount_fen=1000, now=at(DAY, 14))
        run = ReconciliationRun.objects.create(source=ReconciliationRun.Source.FILE, merchant=merchant, biz_date=DAY,
                                               file_name=f"dayend-{key}.csv", sha256="0" * 64, matched=False,
                                               difference_count=1)
        ReconciliationDifference.objects.create(run=run, merchant=merchant, biz_date=DAY,
                                                kind=ReconciliationDifference.Kind.MISSING_AT_HUB,
                                                request_no=f"DIFF-{key.upper()}7", till_value="100")
        add_cashier(merchant=merchant, username=f"till-cashier-{key}", password="cashier-pw-2026", stores=[store],
                    display_name=f"收银员{key.upper()}")
        user = _user(f"portal-{key}")
        MerchantStaff.objects.create(user=user, merchant=merchant, role=MerchantStaff.Role.MANAGER)
        parties[key] = Party(merchant, store, till, user, right)
    batch = clearing.close_batch(cutoff_at=at(DAY + timedelta(days=1), 0), now=at(DAY + timedelta(days=1), 0, 10))
    if not ClearingDocument.objects.filter(batch=batch).exists():  # built on commit when tasks run eagerly
        statements.build_documents(batch=batch)
    a, b = parties["a"], parties["b"]
    a.marks = [a.merchant.code, a.merchant.name, a.store.name, a.store.code, "E-A1", "E-A2", "R-A1", "WO-A1",
               "DIFF-A7", a.right.code, "till-cashier-a"]
    b.marks = [b.merchant.code, b.merchant.name, b.store.name, b.store.code, b_till.code, "E-B1", "WO-B1", "DIFF-B7",
               b.right.code, "till-cashier-b"]
    staff = _user("ops-staff", is_staff=True)
    staff.groups.add(*Group.objects.filter(name__in=[OPERATIONS, AUDIT]))  # 审计 reads rights and clearing
    return PortalWorld(w, a, b, staff)
