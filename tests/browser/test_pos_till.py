"""The smart cloud POS in a real browser (Chromium, phone 360×780 and tablet 1024×768): a
cashier logs in, enrols the device, identifies a member by a typed code, earns, redeems with the
value shown first, writes off a voucher, refunds part of a sale, is refused with the Chinese
message, and cannot reach another merchant's members or vouchers. Every outcome the page shows
is checked against the ledger."""

from __future__ import annotations

import re

import pytest

from hub.models import Merchant
from members.codes import ref_for
from tests.browser import pos_world as w

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(transactional_db):
    return w.build()


def test_log_in_enrol_identify_earn_redeem(phone, world, shot):
    page = phone
    page.goto("/pos/")
    page.wait_for_url(re.compile(r"/pos/login/"))
    shot(page, "login")
    w.sign_in(page, world)
    shot(page, "till")
    before = w.balance()

    w.identify(page, w.member_code())
    card = page.locator("#member")
    card.wait_for(state="visible")
    assert page.locator("#m-mobile").inner_text() == "138****0001"
    assert page.locator("#m-points").inner_text() == f"{before} 分"
    shot(page, "member-card")

    page.get_by_role("button", name="积分累计").click()
    page.get_by_label("本单实付金额（元，不含积分抵扣）").fill("58.50")
    page.get_by_role("button", name="确认累计").click()
    assert w.outcome(page) == "ok"
    earn = w.operations(kind="earn").get()
    assert earn.amount_fen == 5850 and earn.status == "success" and earn.terminal_id == world.terminal.pk
    assert page.locator("#result-no").inner_text() == earn.request_no
    assert f"{earn.points} 分" in page.locator("#result-facts").inner_text()
    assert w.balance() == before + earn.points
    shot(page, "earn-result")
    w.done(page)

    page.get_by_role("button", name="积分抵扣").click()
    page.get_by_label("抵扣积分").fill("1000")
    page.get_by_role("button", name="计算抵扣金额").click()
    value = page.locator("#redeem-value")
    value.wait_for(state="visible")
    assert w.operations(kind="redeem").count() == 0  # the value is shown before anything is spent
    from points import rules
    from points.common import agreement_for

    agreement, _ = agreement_for(world.merchant)
    fen = rules.points_value_fen(agreement.program, 1000)
    assert f"¥{fen // 100}.{fen % 100:02d}" in value.inner_text()
    shot(page, "redeem-quote")
    page.get_by_role("button", name="确认抵扣").click()
    assert w.outcome(page) == "ok"
    redeem = w.operations(kind="redeem").get()
    assert (redeem.points, redeem.amount_fen, redeem.status) == (1000, fen, "success")
    assert w.balance() == before + earn.points - 1000
    assert page.locator("#result-no").inner_text() == redeem.request_no


def test_refused_redemption_shows_its_chinese_message(phone, world, shot):
    page = phone
    w.sign_in(page, world)
    before = w.balance()
    w.identify(page, w.member_code())
    page.get_by_role("button", name="积分抵扣").click()
    page.get_by_label("抵扣积分").fill(str(before + 1))
    page.get_by_role("button", name="计算抵扣金额").click()
    page.get_by_role("button", name="确认抵扣").click()
    assert w.outcome(page) == "fail"
    text = page.locator("#result").inner_text()
    refusal = w.operations(kind="redeem").get()
    assert refusal.status == "refused"
    from hub.errors import CODES

    assert refusal.error_code in ("POINTS_INSUFFICIENT", "REDEEM_LIMIT_EXCEEDED")
    assert CODES[refusal.error_code][1][:4] in text or "积分" in text
    assert refusal.error_code in text and "积分抵扣未成功" in text
    assert w.balance() == before
    shot(page, "refused")


def test_partial_refund_of_a_sale(phone, world):
    page = phone
    w.sign_in(page, world)
    w.identify(page, w.member_code())
    page.get_by_role("button", name="积分累计").click()
    page.get_by_label("本单实付金额（元，不含积分抵扣）").fill("100")
    page.get_by_role("button", name="确认累计").click()
    assert w.outcome(page) == "ok"
    sale = w.operations(kind="earn").get()
    w.done(page)
    page.get_by_role("button", name="退货").click()
    page.get_by_label("原交易单号").fill(sale.request_no)
    page.get_by_label("退货金额（元；全额退货填原单金额）").fill("40.00")
    page.get_by_role("button", name="确认退货").click()
    assert w.outcome(page) == "ok"
    sale.refresh_from_db()
    refund = w.operations(kind="refund").get()
    assert sale.refunded_fen == 4000 and refund.amount_fen == 4000 and refund.original_id == sale.pk
    assert refund.points == sale.points * 40 // 100
    assert f"{refund.points} 分" in page.locator("#result-facts").inner_text()
    w.done(page)
    page.get_by_role("button", name="退货").click()  # more than is left: refused, nothing written
    page.get_by_label("原交易单号").fill(sale.request_no)
    page.get_by_label("退货金额（元；全额退货填原单金额）").fill("60.01")
    page.get_by_role("button", name="确认退货").click()
    assert w.outcome(page) == "fail"
    assert "退货未成功" in page.locator("#result").inner_text()
    assert page.locator("#result-message").inner_text() == "可退金额 6000 分"
    assert w.operations(kind="refund", status="success").count() == 1


def test_write_off_a_voucher(tablet, world, shot):
    """A scanned 97… display code names the member and its voucher (contract v1.1); the write-off
    is the sale's earn carrying rights_used, in the earn's own transaction."""
    from rights.models import Redemption, Voucher
    from rights.redemption import sale_uses

    page = tablet
    w.sign_in(page, world)
    code = w.voucher_display_code()
    w.identify(page, code)
    page.locator("#voucher-panel").wait_for(state="visible")
    assert "满 30 减 5 券" in page.locator("#v-name").inner_text()
    rule = page.locator("#v-rule").inner_text()
    assert "立减 ¥5.00" in rule and "满 ¥30.00 可用" in rule
    assert page.locator("#v-discount").input_value() == "5.00"
    assert "138****0001" in page.locator("#v-member").inner_text()
    shot(page, "voucher-preview")
    assert not Redemption.objects.exists() and not w.operations(kind="earn").exists()  # shown, not used
    page.get_by_label("本单实付金额（元，优惠后）").fill("40.00")
    page.get_by_role("button", name="确认核销").click()
    assert w.outcome(page) == "ok"
    earn = w.operations(kind="earn").get()
    assert earn.amount_fen == 4000 and earn.status == "success"
    [use] = sale_uses(merchant=world.merchant, sale_request_no=earn.request_no)
    assert (use.status, use.discount_fen, use.terminal_id) == ("success", 500, world.terminal.pk)
    assert Voucher.objects.get(pk=use.voucher_id).state == "used"
    assert page.locator("#result-no").inner_text() == earn.request_no
    assert "满 30 减 5 券 已核销" in page.locator("#result-message").inner_text()
    shot(page, "voucher-result")
    w.done(page)
    w.identify(page, code)  # the same display code again: used up
    assert w.outcome(page) == "fail"
    assert Redemption.objects.filter(status="success").count() == 1


def test_a_voucher_below_its_threshold_is_refused_and_nothing_is_written(phone, world):
    from rights.models import Redemption, Voucher

    page = phone
    w.sign_in(page, world)
    w.identify(page, w.voucher_display_code())
    page.locator("#voucher-panel").wait_for(state="visible")
    page.get_by_label("本单实付金额（元，优惠后）").fill("10.00")  # 15 元 gross: under 满 30
    page.get_by_role("button", name="确认核销").click()
    assert w.outcome(page) == "fail"
    assert "权益核销未成功" in page.locator("#result").inner_text()
    assert not w.operations(kind="earn", status="success").exists()
    assert not Redemption.objects.filter(status="success").exists()
    assert Voucher.objects.get(right__code="POS_M30_5").state == "available"


def test_another_merchants_member_and_voucher_do_not_exist_here(phone, world):
    page = phone
    w.sign_in(page, world)
    other = Merchant.objects.get(code="DEMO_FOOD")
    w.identify(page, ref_for(member=w.member(), merchant=other))
    assert w.outcome(page) == "fail"
    assert "会员不存在" in page.locator("#result-message").inner_text()
    w.done(page)
    w.identify(page, w.voucher_display_code(providers=("DEMO_FOOD",), code="FOOD_M30_5"))
    assert w.outcome(page) == "fail"
    text = page.locator("#result").inner_text()
    assert "VOUCHER_NOT_FOUND" in text or "RIGHT_NOT_APPLICABLE" in text
    from rights.models import Redemption

    assert not Redemption.objects.exists() and not w.operations().exclude(kind="tombstone").exists()


def test_reverse_the_last_operation_needs_a_supervisor_pin(phone, world):
    page = phone
    w.sign_in(page, world)
    before = w.balance()
    w.identify(page, w.member_code())
    page.get_by_role("button", name="积分累计").click()
    page.get_by_label("本单实付金额（元，不含积分抵扣）").fill("20")
    page.get_by_role("button", name="确认累计").click()
    assert w.outcome(page) == "ok"
    w.done(page)
    page.get_by_role("button", name="冲正上一笔").click()
    page.get_by_label("主管密码").fill("1357")
    page.get_by_role("button", name="确认冲正").click()
    assert w.outcome(page) == "fail" and "主管密码错误" in page.locator("#result-message").inner_text()
    assert w.operations(kind="earn").get().status == "success"
    w.done(page)
    page.get_by_role("button", name="冲正上一笔").click()
    page.get_by_label("主管密码").fill(w.PIN)
    page.get_by_role("button", name="确认冲正").click()
    assert w.outcome(page) == "ok"
    assert w.operations(kind="earn").get().status == "reversed"
    assert w.balance() == before


def test_today_and_day_end_beside_the_hubs_totals(tablet, world, shot):
    page = tablet
    w.sign_in(page, world)
    w.identify(page, w.member_code())
    page.get_by_role("button", name="积分累计").click()
    page.get_by_label("本单实付金额（元，不含积分抵扣）").fill("30")
    page.get_by_role("button", name="确认累计").click()
    assert w.outcome(page) == "ok"
    w.done(page)
    page.get_by_role("button", name="今日交易").click()
    earn = w.operations(kind="earn").get()
    page.locator(f"#today-list li[data-request-no='{earn.request_no}']").wait_for()
    page.get_by_role("button", name=f"退货 {earn.request_no}").click()  # a recent sale, from the list
    assert page.get_by_label("原交易单号").input_value() == earn.request_no
    page.get_by_role("button", name="日结").click()
    rows = page.locator("#dayend-rows tr")
    rows.first.wait_for()
    assert rows.nth(0).inner_text().split() == ["累计笔数", "1", "1"]
    assert rows.nth(1).inner_text().split() == ["累计积分", str(earn.points), str(earn.points)]
    page.get_by_role("button", name="提交日结").click()
    from playwright.sync_api import expect

    expect(page.locator("#dayend-result")).not_to_be_empty()
    assert page.locator("#dayend-result").inner_text() == "日结成功：本机记录与中心一致"
    from hub.clearing.models import ReconciliationRun

    run = ReconciliationRun.objects.get(terminal=world.terminal)
    assert run.matched and run.till_totals["earn_points"] == earn.points
    shot(page, "day-end")


def test_accessibility_basics_at_360px(phone, world, shot):
    page = phone
    w.sign_in(page, world)
    w.identify(page, w.member_code())
    page.locator("#member").wait_for(state="visible")
    for panel in ("积分累计", "积分抵扣"):
        page.get_by_role("button", name=panel).click()
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden])')]
            .filter(i => i.offsetParent !== null && !(i.labels && i.labels.length) && !i.getAttribute('aria-label'))
            .map(i => i.id)""")
        assert unlabeled == []
        small = page.evaluate("""() => [...document.querySelectorAll('button, input:not([type=hidden])')]
            .filter(b => b.offsetParent !== null && b.getBoundingClientRect().height < 40).map(b => b.textContent || b.id)""")
        assert small == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    shot(page, "a11y-redeem-panel")


def test_signed_out_and_unenrolled_browsers_are_sent_to_log_in_and_enrolment(phone, world):
    page = phone
    response = page.request.post("/pos/api/earn", data={"nonce": "x", "ts": 0})
    assert response.status == 200 and response.json()["ok"] is False
    page.goto("/pos/")
    assert page.url.endswith("/pos/login/")
    page.get_by_label("收银员账号").fill("cashier")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    assert "用户名或密码错误" in page.locator(".error").inner_text()
    page.get_by_label("收银员账号").fill("cashier")
    page.get_by_label("密码").fill("cashier-hub-2026")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/pos/enrol/$"))
    page.get_by_label("设备登记码").fill("0000000000")
    page.get_by_role("button", name="登记").click()
    assert "登记码无效或已过期" in page.locator(".error").inner_text()
    page.goto("/pos/")
    assert page.url.endswith("/pos/enrol/")
