"""The daily aggregate job: figures equal the ledger's, a re-run changes nothing, a late posting
for a finished day updates it, and the agreement check catches a corrupted aggregate."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import Sum

from hub.ops import aggregates
from hub.ops.models import DailyScopeStat, DailyStat
from points.models import Operation
from tests.hub.ops.conftest import DAY, at, seed_day
from tests.points.conftest import build_world


def rows():
    return list(DailyStat.objects.order_by("business_date", "merchant_id", "store_id").values_list(
        "business_date", "merchant_id", "store_id", "scene", *aggregates.COLUMNS))


def ledger_figures(merchant, day=DAY):
    ops = Operation.objects.filter(merchant=merchant, business_date=day)
    earn = ops.filter(kind="earn", status="success")
    redeem = ops.filter(kind="redeem", status="success")
    return {
        "earn_count": earn.count(), "points_earned": earn.aggregate(s=Sum("points"))["s"] or 0,
        "redeem_count": redeem.count(), "points_redeemed": redeem.aggregate(s=Sum("points"))["s"] or 0,
        "reversal_count": ops.filter(status="reversed").exclude(kind="tombstone").count(),
        "tombstone_count": ops.filter(kind="tombstone").count(),
    }


def merchant_totals(merchant, day=DAY):
    return DailyStat.objects.filter(merchant=merchant, business_date=day).aggregate(
        **{name: Sum(name) for name in ("earn_count", "points_earned", "redeem_count", "points_redeemed",
                                        "reversal_count", "tombstone_count")})


def test_a_day_s_figures_are_the_ledger_s(seeded):
    world = seeded
    assert aggregates.refresh_day(day=DAY) > 0
    shop = ledger_figures(world.shop)
    assert shop == {"earn_count": 2, "points_earned": 123 + 200, "redeem_count": 2, "points_redeemed": 500,
                    "reversal_count": 1, "tombstone_count": 1}
    assert merchant_totals(world.shop) == shop
    assert merchant_totals(world.other) == ledger_figures(world.other)
    # the shop's store row holds the store's own figures, its distinct members are m1, m2, m3
    store_row = DailyStat.objects.get(business_date=DAY, store=world.store)
    assert (store_row.scene, store_row.members_active) == ("supermarket", 3)
    # scenes and the province are sums of the merchants, with their own distinct member counts
    province = DailyScopeStat.objects.get(business_date=DAY, scene="")
    market = DailyScopeStat.objects.get(business_date=DAY, scene="market")
    assert province.points_earned == 123 + 200 + 50
    assert market.points_earned == 50
    assert province.members_active == 3  # m1 was active in both scenes: counted once
    assert market.members_active == 1
    assert province.members_new == 0  # the members were created today, not on DAY


def test_refreshing_a_day_again_changes_nothing(seeded):
    aggregates.refresh_day(day=DAY)
    before = rows()
    aggregates.refresh_day(day=DAY)
    aggregates.refresh_day(day=DAY)
    assert rows() == before
    assert aggregates.check_aggregates(days=[DAY]) == {}


def test_the_incremental_job_picks_up_a_late_posting_for_a_finished_day(db, settings):
    world = build_world()
    seed_day(world)
    # the job ran on the evening of the day after
    aggregates.refresh_dirty(now=at(DAY + timedelta(days=1), 22))
    earned = DailyStat.objects.get(business_date=DAY, store=world.store).points_earned
    # a till that was offline forwards a sale of DAY five days later (store and forward)
    later = at(DAY + timedelta(days=5), 9)
    member = world.member()
    world.earn(member, 40_000, "E-LATE", now=later, business_time=at(DAY, 20))
    assert Operation.objects.get(request_no="E-LATE").business_date == DAY
    refreshed = aggregates.refresh_dirty(now=later + timedelta(minutes=15))
    assert DAY in refreshed
    row = DailyStat.objects.get(business_date=DAY, store=world.store)
    assert row.points_earned == earned + 400
    assert aggregates.check_aggregates(days=[DAY]) == {}


def test_a_reversal_of_an_old_operation_marks_its_day_dirty_outside_the_window(db, settings):
    settings.STORE_AND_FORWARD_DAYS = 1
    world = build_world()
    seed_day(world)
    aggregates.refresh_dirty(now=at(DAY, 23))
    # a refund of DAY's sale long after the window: its day is found by the ledger transaction
    much_later = at(DAY + timedelta(days=20), 9)
    world.refund("E-A1", 12_345, "T-OLD", now=much_later)
    aggregates.refresh_dirty(now=much_later + timedelta(minutes=15))
    assert aggregates.check_aggregates(days=[DAY, much_later.date()]) == {}


def test_the_check_reports_an_aggregate_corrupted_by_raw_sql(seeded):
    world = seeded
    aggregates.refresh_dirty(now=at(DAY, 23, 50))
    assert aggregates.check_aggregates() == {}
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ops_daily_stat SET points_earned = points_earned + 1 "
                       "WHERE business_date = %s AND store_id = %s", [DAY, world.store.pk])
    problems = aggregates.check_aggregates()
    offending = problems["dashboard_aggregates_match_ledger"]
    sides = {row[1] for row in offending}
    # the stored row, the row the ledger gives, and the month no longer the sum of its (corrupted) days
    assert sides == {"stat_stored", "stat_ledger", "monthly"}
    assert all(row[3] == world.store.pk for row in offending)
    assert {row[0] for row in offending if row[1] != "monthly"} == {DAY}


def test_the_check_reports_a_day_the_job_lost(seeded):
    aggregates.refresh_dirty(now=at(DAY, 23, 50))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ops_daily_scope_stat WHERE business_date = %s AND scene = ''", [DAY])
    problems = aggregates.check_aggregates()
    assert [row[1] for row in problems["dashboard_aggregates_match_ledger"]] == ["scope_ledger"]


def test_the_nightly_ledger_check_includes_the_aggregates(seeded):
    from hub.clearing.jobs import run_ledger_check

    aggregates.refresh_dirty(now=at(DAY, 23, 50))
    assert run_ledger_check().ok
    DailyStat.objects.filter(business_date=DAY).update(till_calls=99)
    run = run_ledger_check()
    assert not run.ok and "dashboard_aggregates_match_ledger" in run.problems


def test_monthly_ranking_rows_follow_their_days_and_rankings_span_months(seeded):
    from datetime import date

    from hub.ops import dashboard
    from hub.ops.models import MonthlyStat

    world = seeded
    aggregates.refresh_day(day=DAY)
    month = MonthlyStat.objects.get(month=DAY.replace(day=1), store=world.store)
    assert (month.points_earned, month.points_redeemed, month.earn_count) == (323, 500, 2)
    # a range of a whole month plus days either side reads months and days, with the same result
    for start, end in ((date(2026, 10, 25), date(2026, 12, 3)), (DAY, DAY), (date(2026, 11, 1), date(2026, 11, 30))):
        scope = dashboard.Scope(start=start, end=end)
        assert [(r["store_id"], r["points_earned"]) for r in dashboard.top_stores(scope)][:1] == \
            [(world.store.pk, 323)]
        assert dashboard.top_merchants(scope)[0]["merchant_id"] == world.shop.pk
    months, spans = dashboard._months(dashboard.Scope(start=date(2026, 10, 25), end=date(2026, 12, 3)))
    assert months == [date(2026, 11, 1)]
    assert spans == [(date(2026, 10, 25), date(2026, 10, 31)), (date(2026, 12, 1), date(2026, 12, 3))]
    # a corrupted month is reported by the check
    MonthlyStat.objects.filter(store=world.store).update(points_earned=1)
    problems = aggregates.check_aggregates(days=[DAY])["dashboard_aggregates_match_ledger"]
    assert {row[1] for row in problems} == {"monthly"}


def test_till_calls_errors_unknown_outcomes_and_latency(db):
    from hub.models import TillCall

    world = build_world()
    calls = [("SUCCESS", 40), ("SUCCESS", 60), ("POINTS_INSUFFICIENT", 20), ("SYSTEM_ERROR", 900), ("", None)]
    for n, (code, ms) in enumerate(calls):
        TillCall.objects.create(merchant=world.shop, vendor="kemai", op="redeem", request_no=f"C{n}", code=code,
                                duration_ms=ms, received_at=at(DAY, 15, n))
    TillCall.objects.create(merchant=world.shop, vendor="kemai", op="earn", code="SUCCESS", duration_ms=5,
                            received_at=at(DAY + timedelta(days=1), 0, 0))  # the next day
    aggregates.refresh_day(day=DAY)
    row = DailyStat.objects.get(business_date=DAY, merchant=world.shop, store__isnull=True)
    assert (row.till_calls, row.till_errors, row.till_unknown, row.till_ms_sum, row.till_timed) == (5, 3, 2, 1020, 4)
    from hub.ops import dashboard

    values = dashboard.figures(dashboard.Scope(start=DAY, end=DAY, merchant=world.shop))
    assert (values["error_rate_bp"], values["latency_ms"]) == (6000, 255)
    assert dashboard.percent(values["error_rate_bp"]) == "60.00%"


def test_expired_points_land_on_the_issuer_s_row(db):
    from points import sweeps
    from points.models import Program

    world = build_world()
    Program.objects.filter(pk=world.postal.pk).update(expiry_policy=Program.Expiry.DAYS, expiry_days=1)
    from points.common import clear_caches

    clear_caches()
    member = world.member()
    world.earn(member, 10_000, "E-EXP", now=at(DAY - timedelta(days=3), 10))
    sweeps.expire_lots(now=at(DAY, 1))
    aggregates.refresh_day(day=DAY)
    row = DailyStat.objects.get(business_date=DAY, merchant=world.issuer)
    assert (row.points_expired, row.scene) == (100, "")
    assert DailyScopeStat.objects.get(business_date=DAY, scene="").points_expired == 100


def test_the_job_is_scheduled_in_celery_beat_and_registered(db):
    from django_celery_beat.models import PeriodicTask

    from hub.celery import app

    task = PeriodicTask.objects.get(name="看板日汇总")
    assert (task.task, task.enabled, task.crontab.minute) == ("ops.refresh_dashboard", True, "*/15")
    app.loader.import_default_modules()
    assert {"ops.refresh_dashboard", "ops.refresh_dashboard_day"} <= set(app.tasks)


def test_the_task_refreshes_and_a_second_run_changes_nothing(seeded):
    from hub.ops.tasks import refresh_dashboard, refresh_dashboard_day

    assert refresh_dashboard_day(DAY.isoformat()) > 0
    before = rows()
    refresh_dashboard()
    refresh_dashboard()
    assert [r for r in rows() if r[0] == DAY] == [r for r in before if r[0] == DAY]
