"""The world of the cloud-POS browser tests: the demo network (hub.demo.seed: the fresh market
DEMO_MKT, its demo cashier and the device row of A01/CP01), a cashier signed in and the
browser enrolled through the pages themselves, member codes and a voucher right of the market."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from hub.demo import seed
from hub.models import Merchant, Terminal
from hub.vendors.cloudpos.demo import DEMO_PASSWORD, DEMO_PIN, DEMO_USER
from hub.vendors.cloudpos.services import issue_enrolment_code
from members.codes import issue_member_code
from members.selectors import find_member
from points.models import Operation

MOBILE = "13800000001"
PIN = DEMO_PIN


@dataclass
class World:
    merchant: Merchant
    terminal: Terminal


def build() -> World:
    import importlib

    from members.models import Tier

    # a transactional test before this one flushed the tiers the migrations made: put them back
    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})
    seed()
    merchant = Merchant.objects.get(code="DEMO_MKT")
    terminal = Terminal.objects.get(store__merchant=merchant, store__code="A01", code="CP01")
    return World(merchant, terminal)


def member(mobile: str = MOBILE):
    return find_member(mobile=mobile)


def member_code(mobile: str = MOBILE) -> str:
    code, _ = issue_member_code(member=member(mobile))
    return code


def sign_in(page, world: World, *, user: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
    """Log in and enrol this browser as A01/CP01 through the pages, ending on the till page."""
    page.goto("/pos/")
    page.get_by_label("收银员账号").fill(user)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/pos/enrol/$"))
    _, code = issue_enrolment_code(terminal=world.terminal)
    page.get_by_label("设备登记码").fill(code)
    page.get_by_role("button", name="登记").click()
    page.wait_for_url(re.compile(r"/pos/$"))
    page.get_by_label("扫码或输入：会员码、权益码、手机号或会员卡号").wait_for()


def identify(page, value: str) -> None:
    box = page.get_by_label("扫码或输入：会员码、权益码、手机号或会员卡号")
    box.fill(value)
    box.press("Enter")


def outcome(page, timeout: float = 30_000) -> str:
    """Wait for the result screen; its outcome: ok, fail or unknown."""
    result = page.locator("#result")
    result.wait_for(state="visible", timeout=timeout)
    return result.get_attribute("data-outcome")


def done(page) -> None:
    page.get_by_role("button", name="完成").click()


def balance(mobile: str = MOBILE) -> int:
    from points.common import agreement_for
    from points.selectors import balances

    merchant = Merchant.objects.get(code="DEMO_MKT")
    agreement, _ = agreement_for(merchant)
    return balances(member(mobile), agreement.program)["available"]


def operations(**filters):
    return Operation.objects.filter(merchant__code="DEMO_MKT", **filters)


def voucher_display_code(mobile: str = MOBILE, *, providers=("DEMO_MKT",), code: str = "POS_M30_5") -> str:
    """A 满 30 减 5 voucher right of ``providers``, one voucher of the member, a display code for it."""
    from rights import catalogue, vouchers
    from rights.demo import _checker
    from rights.models import Right

    right = Right.objects.filter(code=code).first()
    if right is None:
        right = catalogue.create_right(
            code=code, name="满 30 减 5 券", kind=Right.Kind.AMOUNT_OFF, off_fen=500, threshold_fen=3000,
            settlement_fen=500, valid_days=30, funder=Merchant.objects.get(code="CPJX"),
            providers=list(Merchant.objects.filter(code__in=providers)), description="菜场满 30 元可用")
        catalogue.submit_for_review(right=right, actor=None)
        catalogue.approve_right(right=right, actor=_checker())
    voucher = vouchers.claim(member=member(mobile), right=right, request_no=f"T-{code}-{Right.objects.count()}"
                             f"-{get_user_model().objects.count()}")
    shown, _ = vouchers.issue_display_code(voucher=voucher)
    return shown
