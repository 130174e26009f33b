"""The cloud POS on a bad network: answers dropped by the test (the hub did the work, the page
never heard), requests that never leave, half of all calls failing, and a cashier tapping twice.
The page must end every operation in the state the ledger is in, and never do anything twice."""

from __future__ import annotations

import itertools

import pytest

from tests.browser import pos_world as w

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(transactional_db):
    return w.build()


def _earn(page, amount: str) -> None:
    page.get_by_role("button", name="积分累计").click()
    page.get_by_label("本单实付金额（元，不含积分抵扣）").fill(amount)
    page.get_by_role("button", name="确认累计").click()


def test_a_lost_answer_is_recovered_by_query_without_a_second_effect(phone, world, shot):
    page = phone
    w.sign_in(page, world)
    w.identify(page, w.member_code())
    page.locator("#member").wait_for(state="visible")
    before = w.balance()
    seen = []

    def drop_first_answer(route):
        seen.append(route.request.post_data_json)
        if len(seen) == 1:
            route.fetch()  # the hub does the earn ...
            route.abort("connectionreset")  # ... and its answer never reaches the page
        else:
            route.continue_()

    page.route("**/pos/api/earn", drop_first_answer)
    queries = []
    page.on("request", lambda r: queries.append(r.url) if r.url.endswith("/pos/api/query") else None)
    _earn(page, "88.00")
    assert w.outcome(page) == "ok"
    earn = w.operations(kind="earn").get()  # one operation in the ledger
    assert earn.amount_fen == 8800 and w.balance() == before + earn.points
    assert queries, "the page asked the hub for the request"
    assert {s["request_no"] for s in seen} == {earn.request_no}  # never a new number
    assert page.locator("#result-no").inner_text() == earn.request_no
    assert f"{earn.points} 分" in page.locator("#result-facts").inner_text()
    assert page.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':pending'))") == []
    shot(page, "recovered")


def test_a_request_that_never_left_is_sent_again_with_the_same_number(phone, world):
    page = phone
    w.sign_in(page, world)
    w.identify(page, w.member_code())
    page.locator("#member").wait_for(state="visible")
    sent = []

    def lose_first_request(route):
        sent.append(route.request.post_data_json["request_no"])
        if len(sent) == 1:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/pos/api/earn", lose_first_request)
    _earn(page, "12.00")
    assert w.outcome(page) == "ok"
    earn = w.operations(kind="earn").get()
    assert set(sent) == {earn.request_no} and len(sent) == 2


def test_a_double_tap_sends_nothing_twice(phone, world):
    page = phone
    w.sign_in(page, world)
    w.identify(page, w.member_code())
    page.locator("#member").wait_for(state="visible")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.url.endswith("/pos/api/earn") else None)
    page.get_by_role("button", name="积分累计").click()
    page.get_by_label("本单实付金额（元，不含积分抵扣）").fill("66.00")
    page.locator("#earn-go").dblclick()
    page.locator("#earn-form").evaluate("f => { f.requestSubmit(); f.requestSubmit(); }")
    assert w.outcome(page) == "ok", page.locator("#result").inner_text()
    page.wait_for_timeout(500)
    assert w.operations(kind="earn").count() == 1
    assert len(posts) == 1


def test_the_page_tells_the_truth_when_half_the_network_fails(phone, world, shot):
    """Every other call to the hub fails: alternately it never leaves the browser, or the hub
    does it and the answer is lost. Each operation still ends in the ledger's state, once."""
    page = phone
    w.sign_in(page, world)
    from points.common import agreement_for

    agreement, _ = agreement_for(world.merchant)
    agreement.phone_may_redeem = True  # the member is named by the stable ref: let it redeem here
    agreement.save(update_fields=["phone_may_redeem"])
    counter = itertools.count()
    failures = {"before": 0, "after": 0}

    def flaky(route):
        n = next(counter)
        if n % 2 == 0:
            route.continue_()
        elif n % 4 == 1:
            failures["before"] += 1
            route.abort("internetdisconnected")
        else:
            failures["after"] += 1
            route.fetch()
            route.abort("connectionreset")

    page.route("**/pos/api/**", flaky)
    page.route("**/pos/read/**", flaky)
    from hub.models import Merchant  # noqa: F401
    from members.codes import ref_for

    ref = ref_for(member=w.member(), merchant=world.merchant)
    before = w.balance()
    w.identify(page, ref)
    page.locator("#member").wait_for(state="visible")

    _earn(page, "50.00")
    assert w.outcome(page) == "ok"
    earn = w.operations(kind="earn").get()
    assert page.locator("#result-no").inner_text() == earn.request_no
    w.done(page)

    page.get_by_role("button", name="积分抵扣").click()
    page.get_by_label("抵扣积分").fill("500")
    page.get_by_role("button", name="计算抵扣金额").click()
    page.get_by_role("button", name="确认抵扣").click()
    assert w.outcome(page) == "ok"
    redeem = w.operations(kind="redeem").get()
    assert redeem.status == "success" and page.locator("#result-no").inner_text() == redeem.request_no
    w.done(page)

    page.get_by_role("button", name="积分抵扣").click()  # a refusal is a known state too
    page.get_by_label("抵扣积分").fill(str(10**9))
    page.get_by_role("button", name="计算抵扣金额").click()
    page.get_by_role("button", name="确认抵扣").click()
    assert w.outcome(page) == "fail"
    refused = w.operations(kind="redeem", status="refused").get()
    assert refused.error_code in page.locator("#result").inner_text()
    w.done(page)

    page.get_by_role("button", name="退货").click()
    page.get_by_label("原交易单号").fill(earn.request_no)
    page.get_by_label("退货金额（元；全额退货填原单金额）").fill("10.00")
    page.get_by_role("button", name="确认退货").click()
    assert w.outcome(page) == "ok"
    refund = w.operations(kind="refund").get()
    assert page.locator("#result-no").inner_text() == refund.request_no

    assert w.operations(kind="earn").count() == 1 and w.operations(kind="redeem").count() == 2
    assert w.operations(kind="refund").count() == 1
    assert w.balance() == before + earn.points - 500 - refund.points
    assert failures["before"] >= 2 and failures["after"] >= 2
    shot(page, "flaky-network")
