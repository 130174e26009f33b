"""对账: till day-end totals and day-end files against the hub's operations."""

from __future__ import annotations

from datetime import date

import pytest

from hub.clearing.models import ReconciliationDifference, ReconciliationRow, ReconciliationRun
from hub.clearing.reconciliation import reconcile_file, record_day_end, resolve_difference
from hub.errors import NoAuth, ParamError
from hub.gateway.canonical import DayEndTotals
from hub.models import Store, Terminal
from points import refunds, reversal, services
from tests.hub.clearing.conftest import DAY, at, make_user, next_day


@pytest.fixture
def shop_day(world):
    """The shop's business day as the hub saw it."""
    w = world
    m = w.member()
    kw = {"merchant": w.shop, "store": w.store, "terminal": w.till}
    services.earn(member=m, amount_fen=100000, request_no="E1", now=at("09:00"), **kw)  # 1000 points
    services.earn(member=m, amount_fen=10000, request_no="E2", now=at("09:10"), **kw)  # 100 points
    services.earn(member=m, amount_fen=20000, request_no="E3", now=at("09:20"), **kw)  # 200 points
    services.redeem(member=m, points=300, request_no="R1", now=at("10:00"), **kw)  # 300 fen
    services.redeem(member=m, points=100, request_no="R2", now=at("10:10"), **kw)
    reversal.reverse(merchant=w.shop, request_no="R2", now=at("10:11"))  # reversed at the hub
    services.redeem(member=m, points=50, request_no="R3", now=at("10:20"), **kw)
    services.freeze(member=m, points=200, request_no="F1", now=at("11:00"), **kw)
    services.confirm(merchant=w.shop, request_no="F1", now=at("11:01"))  # a redemption in two steps
    refunds.refund(refund_no="T1", original_request_no="E1", amount_fen=50000, now=at("12:00"), **kw)  # 500 back
    services.earn(member=m, amount_fen=40000, request_no="E4", now=at("13:00"), **kw)
    reversal.reverse(merchant=w.shop, request_no="E4", now=at("13:01"))
    services.freeze(member=m, points=10, request_no="F2", now=at("14:00"), **kw)
    services.unfreeze(merchant=w.shop, request_no="F2", now=at("14:01"))  # released: not a redemption
    # another merchant and another day are not the shop's day
    services.earn(merchant=w.other, store=None, terminal=None, member=m, amount_fen=10000, request_no="O1",
                  now=at("09:00"))
    services.earn(member=m, amount_fen=10000, request_no="N1", now=next_day("09:00"), **kw)
    return w


FILE = """#新阳光超市日结文件
#营业日：2026-03-02
请求单号,类型,积分,金额（分）,时间,状态
E1,累计,1000,100000,2026-03-02 09:00:00,成功
E2,累计,99,10000,2026-03-02 09:10:00,成功
R1,抵扣,300,301,2026-03-02 10:00:00,成功
R2,抵扣,100,100,2026-03-02 10:10:00,成功
R3,抵扣,50,50,2026-03-02 10:20:00,冲正
F1,抵扣,200,200,2026-03-02 11:00:00,成功
T1,退货,500,50000,2026-03-02 12:00:00,成功
E4,累计,400,40000,2026-03-02 13:00:00,冲正
X1,累计,10,1000,2026-03-02 15:00:00,成功
X2,抵扣,10,10,2026-03-02 15:10:00,冲正
"""


def differences(run) -> set[tuple]:
    return set(ReconciliationDifference.objects.filter(run=run).values_list("kind", "request_no", "field",
                                                                            "till_value", "hub_value"))


def test_a_till_file_lists_exactly_its_differences(shop_day):
    w = shop_day
    run = reconcile_file(merchant=w.shop, biz_date=DAY, file=FILE.encode("gbk"), file_name="rj20260302.csv")
    assert (run.row_count, run.matched, run.difference_count) == (10, False, 6)
    assert differences(run) == {
        ("points_differ", "E2", "points", "99", "100"),
        ("amount_differ", "R1", "amount_fen", "301", "300"),
        ("status_differ", "R2", "status", "success", "reversed"),  # reversed at the hub, success at the till
        ("status_differ", "R3", "status", "reversed", "success"),  # the other way round
        ("missing_at_till", "E3", "", "", "earn 200积分 20000分"),
        ("missing_at_hub", "X1", "", "earn 10积分 1000分", ""),
    }
    # X2 reversed at the till and never seen by the hub: both agree nothing happened
    assert ReconciliationRow.objects.filter(run=run).count() == 10
    # the same file again is the same run; nothing is corrected anywhere
    assert reconcile_file(merchant=w.shop, biz_date=DAY, file=FILE.encode("gbk")) == run
    assert ReconciliationRun.objects.count() == 1


def test_type_and_day_differences_and_utf8_with_bom(shop_day):
    w = shop_day
    body = "\ufeffrequest_no,type,points,amount_fen,time\n" + "\n".join([
        "E1,earn,1000,100000,2026-03-02 09:00:00",
        "E2,redeem,100,10000,2026-03-02 09:10:00",
        "E3,earn,200,20000,2026-03-02 09:20:00",
        "R1,redeem,300,300,2026-03-02 10:00:00",
        "R3,redeem,50,50,2026-03-02 10:20:00",
        "F1,redeem,200,200,2026-03-02 11:00:00",
        "T1,refund,500,50000,2026-03-02 12:00:00",
        "N1,earn,100,10000,2026-03-03 09:00:00",
    ]) + "\n"
    run = reconcile_file(merchant=w.shop, biz_date=DAY, file=body.encode("utf-8"), encoding="utf-8")
    assert differences(run) == {
        ("type_differ", "E2", "type", "redeem", "earn"),
        ("date_differ", "N1", "business_date", "2026-03-02", "2026-03-03"),
    }


def test_a_matching_file_is_matched(shop_day):
    body = "\n".join(line for line in FILE.splitlines() if line.split(",")[0] not in ("E2", "R1", "R2", "R3", "X1"))
    body += "\nE2,累计,100,10000,2026-03-02 09:10:00\nE3,累计,200,20000,2026-03-02 09:20:00\n"
    body += "R1,抵扣,300,300,2026-03-02 10:00:00\nR3,抵扣,50,50,2026-03-02 10:20:00\n"
    run = reconcile_file(merchant=shop_day.shop, biz_date=DAY, file=body.encode())
    assert (run.matched, run.difference_count, differences(run)) == (True, 0, set())


@pytest.mark.parametrize("line, message", [
    ("E9,累计,abc,100,2026-03-02 09:00:00", "第 2 行：积分必须为非负整数"),
    ("E9,兑换,1,100,2026-03-02 09:00:00", "第 2 行：类型应为"),
    ("E9,累计,1,100,昨天", "第 2 行：时间格式"),
    ("E9,累计,1,100", "第 2 行：应为"),
    ("E1,累计,1,100,2026-03-02 09:00:00", "请求单号 E1 与第 1 行重复"),
    ("E9,累计,1,100,2026-03-02 09:00:00,失败", "第 2 行：状态应为"),
])
def test_a_bad_file_is_refused_whole(shop_day, line, message):
    body = f"E1,累计,1000,100000,2026-03-02 09:00:00\n{line}\n"
    with pytest.raises(ParamError, match=message):
        reconcile_file(merchant=shop_day.shop, biz_date=DAY, file=body.encode())
    assert not ReconciliationRun.objects.exists()


def test_record_day_end_matched_and_unmatched(shop_day):
    w = shop_day
    # the hub's day for the shop's store and till: earns E1 E2 E3 (1300), redemptions R1 R3 F1 (550), refund T1 (500)
    hub = DayEndTotals(earn_count=3, earn_points=1300, redeem_count=3, redeem_points=550, refund_count=1,
                       refund_points=500)
    answer = record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=DAY, totals=hub)
    assert answer == {"matched": True, "differences": []}
    run = ReconciliationRun.objects.get()
    assert (run.source, run.matched, run.terminal, run.difference_count) == ("day_end", True, w.till, 0)

    till = DayEndTotals(earn_count=4, earn_points=1700, redeem_count=3, redeem_points=550, refund_count=1,
                        refund_points=500)
    answer = record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=DAY, totals=till)
    assert answer == {"matched": False, "differences": [
        {"request_no": "", "field": "earn_count", "till": 4, "hub": 3},
        {"request_no": "", "field": "earn_points", "till": 1700, "hub": 1300},
    ]}
    run = ReconciliationRun.objects.latest("id")
    assert differences(run) == {("totals_differ", "", "earn_count", "4", "3"),
                                ("totals_differ", "", "earn_points", "1700", "1300")}
    # the till sends it again: the same answer, nothing recorded twice
    assert record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=DAY, totals=till) == answer
    assert ReconciliationRun.objects.count() == 2

    # another till of the store has done nothing that day
    till2 = Terminal.objects.create(store=w.store, code="P04")
    assert record_day_end(merchant=w.shop, store=w.store, terminal=till2, biz_date=DAY,
                          totals=DayEndTotals())["matched"]
    other_store = Store.objects.create(merchant=w.shop, code="S002", name="二号店")
    assert not record_day_end(merchant=w.shop, store=other_store, terminal=None, biz_date=DAY,
                              totals=DayEndTotals(earn_count=1, earn_points=5))["matched"]
    with pytest.raises(ParamError):
        record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=DAY,
                       totals=DayEndTotals(earn_count=-1))
    with pytest.raises(ParamError, match="营业日"):
        record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=date(2999, 1, 1),
                       totals=DayEndTotals())


def test_a_person_resolves_a_difference(shop_day):
    run = reconcile_file(merchant=shop_day.shop, biz_date=DAY, file=FILE.encode("gbk"))
    difference = ReconciliationDifference.objects.filter(run=run, kind="missing_at_hub").get()
    with pytest.raises(NoAuth):
        resolve_difference(difference=difference, user=make_user(), note="看过了")
    finance = make_user("财务")
    with pytest.raises(ParamError, match="处理说明"):
        resolve_difference(difference=difference, user=finance, note="  ")
    done = resolve_difference(difference=difference, user=finance, note="收银机重复上传，已与商户确认")
    assert (done.resolved_by, done.resolution_note) == (finance, "收银机重复上传，已与商户确认")
    assert done.resolved_at is not None
    with pytest.raises(ParamError, match="已处理"):
        resolve_difference(difference=difference, user=make_user("运营"), note="again")


def test_management_command(shop_day, tmp_path):
    from io import StringIO

    from django.core.management import CommandError, call_command

    path = tmp_path / "rj.csv"
    path.write_bytes(FILE.encode("gbk"))
    out = StringIO()
    call_command("reconcile_file", shop_day.shop.code, "2026-03-02", str(path), "--encoding", "gbk", stdout=out)
    text = out.getvalue()
    assert "10 行，差异 6 条" in text and "中心无此交易\tX1" in text
    with pytest.raises(CommandError, match="不存在"):
        call_command("reconcile_file", "NOPE", "2026-03-02", str(path))
