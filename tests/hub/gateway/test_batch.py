"""Store-and-forward through the gateway: earns named by opaque id take the set-based path and
answer exactly as single calls would; the order of items is kept."""

from datetime import timedelta

from django.utils import timezone

from hub.gateway.canonical import BATCH_OP
from hub.models import Merchant
from members.codes import ref_for
from members.selectors import find_member
from points import selectors
from points.checks import check_ledger
from points.models import Operation, Program
from tests.hub.gateway.conftest import unique


def test_batch_of_offline_records(sandbox):
    till = sandbox["native"]
    merchant = Merchant.objects.get(code=till.merchant_code)
    member = find_member(mobile="13800000002")
    ref = ref_for(member=member, merchant=merchant)
    program = Program.objects.get(code="POSTAL")
    start = selectors.balances(member, program)["available"]
    when = timezone.now() - timedelta(hours=3)
    sale, other = unique("B"), unique("B")

    def item(op, **fields):  # what the till queued (the native dialect builds batch items from commands)
        return till.command(op, business_time=when, **fields)

    items = [
        item("earn", request_no=sale, member=ref, amount_fen=10000),
        item("earn", request_no=other, member=ref, amount_fen=2550),
        item("refund", request_no=unique("R"), original_request_no=sale, amount_fen=5000),
        item("earn", request_no=unique("B"), member="M00000000000", amount_fen=100),
        item("reverse", original_request_no=unique("GONE")),
        item("earn", request_no=sale, member=ref, amount_fen=9999),
    ]
    command = till.command(BATCH_OP, extra={"items": items})
    _, response = till.send_raw(command)
    read = till.read(response)
    assert read.ok, read
    codes = [entry["code"] for entry in read.data["items"]]
    assert codes == ["SUCCESS", "SUCCESS", "SUCCESS", "MEMBER_NOT_FOUND", "SUCCESS", "IDEMPOTENCY_KEY_REUSED"]
    first = read.data["items"][0]["data"]
    assert first["points_earned"] == 100 and first["points_balance"] == start + 100
    assert read.data["items"][1]["data"]["points_balance"] == start + 125
    assert selectors.balances(member, program)["available"] == start + 125 - 50
    assert Operation.objects.get(request_no=sale).business_time == when.replace(microsecond=0)  # RFC 3339, seconds

    _, again = till.send_raw(command, timestamp=timezone.now() + timedelta(seconds=1))
    assert [e["code"] for e in till.read(again).data["items"]] == codes
    assert till.read(again).data["items"][0] == read.data["items"][0]
    assert selectors.balances(member, program)["available"] == start + 125 - 50
    assert check_ledger() == {}
