"""Each dialect end to end over HTTP: identify → earn → pay (freeze + confirm where the dialect
has it) → partial refund → query, and a reverse that arrives before its original."""

from __future__ import annotations

import pytest

from hub.gateway import registry
from members.codes import issue_member_code
from members.selectors import find_member
from points import selectors
from points.models import Operation, Program
from tests.hub.gateway.conftest import unique

VENDORS = sorted(registry.adapters())


def available(mobile: str) -> int:
    return selectors.balances(find_member(mobile=mobile), Program.objects.get(code="POSTAL"))["available"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_till_flow(sandbox, vendor):
    till = sandbox[vendor]
    member = find_member(mobile="13800000001")
    start = available("13800000001")
    code, _ = issue_member_code(member=member)

    seen = till.send("identify", member=code)
    assert seen.ok, seen
    ref = seen.data[till.member_field]
    assert ref.startswith("M") and "13800000001" not in str(seen.data)

    sale = unique("S")
    earned = till.send("earn", request_no=sale, member=ref, amount_fen=12850)
    assert earned.ok, earned
    assert available("13800000001") == start + 128

    pay = unique("P")
    if {"freeze", "confirm"} <= till.adapter.ops:
        held = till.send("freeze", request_no=pay, member=ref, points=1000)
        assert held.ok, held
        assert available("13800000001") == start + 128 - 1000
        confirmed = till.send("confirm", original_request_no=pay)
        assert confirmed.ok, confirmed
    else:
        paid = till.send("redeem", request_no=pay, member=ref, points=1000)
        assert paid.ok, paid
    assert available("13800000001") == start + 128 - 1000
    assert Operation.objects.get(request_no=pay).status in ("success", "confirmed")

    back = till.send("refund", request_no=unique("T"), original_request_no=pay, amount_fen=400)
    assert back.ok, back
    assert available("13800000001") == start + 128 - 600

    state = till.send("query", original_request_no=pay)
    assert state.ok, state
    assert "PART" in str(state.data) or "REFUND" in str(state.data)

    late = unique("L")
    rev = till.send("reverse", original_request_no=late)
    assert rev.ok, rev
    refused = till.send("earn", request_no=late, member=ref, amount_fen=1000)
    assert not refused.ok and refused.code.endswith("ORDER_REVERSED"), refused
    assert available("13800000001") == start + 128 - 600


@pytest.mark.parametrize("vendor", VENDORS)
def test_mobile_alone_cannot_redeem_by_default(sandbox, vendor):
    till = sandbox[vendor]
    start = available("13800000002")
    refused = till.send("redeem", request_no=unique("P"), member="13800000002", points=100)
    assert not refused.ok and refused.code.endswith("NO_AUTH"), refused
    assert available("13800000002") == start


@pytest.mark.parametrize("vendor", VENDORS)
def test_day_end_through_each_dialect(sandbox, vendor):
    from django.utils import timezone

    from hub.gateway.canonical import DayEndTotals
    from points import rules

    till = sandbox[vendor]
    till.send("earn", request_no=unique("D"), member="13800000001", amount_fen=1000)
    today = rules.business_date(timezone.now())
    matched = till.send("day_end", biz_date=today, totals=DayEndTotals(earn_count=1, earn_points=10))
    assert matched.ok, matched
    flag = till.adapter.helpers.matched_field
    yes, no = till.adapter.helpers.matched_values
    assert matched.data[flag] == yes, matched.data
    off = till.send("day_end", biz_date=today, totals=DayEndTotals(earn_count=2, earn_points=10))
    assert off.ok and off.data[flag] == no and "earn_count" in str(off.data), off
