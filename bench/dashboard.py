"""Dashboard benchmark: the /ops/ pages over a year of daily aggregates for 1,000 stores.

    python -m hub.devdb run -- python bench/dashboard.py            # embedded PostgreSQL
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/hub python bench/dashboard.py --runs 100

On a scratch database ``<db>_bench_dashboard`` of the server in DATABASE_URL (or
.pgdata/database_url), dropped and re-created each run:

1. migrates it and bulk-inserts, with set-based SQL straight into the aggregate tables, 200
   merchants in the six scenes with 5 stores each (1,000 stores), and for each of 365 days one
   ``DailyStat`` row per store and per merchant, one ``DailyScopeStat`` row per scene and for
   the province (~440,000 rows), and the ``MonthlyStat`` ranking rows of each month, as the
   aggregate job would have written them;
2. signs a staff user in through Django's test client and times each page ``--runs`` times (after
   a warm-up): the province, a scene, a merchant and a store over 30 days and over the whole
   year, the scene/merchant filters, and the CSV export of the province, a scene and a merchant,
   next to a bare Django view (``HttpResponse("ok")``) through the same middleware and client in
   the same run (timed first and last);
3. prints the p50, p95 and p99 in milliseconds of each, the slowest p99 and whether the goal
   (every dashboard page's p99 under 300 ms) is met.

Goal: every dashboard page under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAST = date(2026, 11, 20)  # not a month end: ranges read whole months and the days around them
FIRST = LAST - timedelta(days=364)
SCENES = ["supermarket", "market", "campus", "restaurant", "medical", "other"]


def base_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    path = ROOT / ".pgdata" / "database_url"
    if path.exists():
        return path.read_text().strip()
    sys.exit("set DATABASE_URL or run under `python -m hub.devdb run --`")


def recreate_database(base: str) -> str:
    import psycopg

    parsed = urlparse(base)
    name = f"{parsed.path.lstrip('/') or 'postgres'}_bench_dashboard"
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed._replace(path=f"/{name}").geturl()


def seed(merchants: int, stores_per: int) -> dict:
    from django.db import connection

    from hub.ops.models import MEASURE_NAMES

    measures = [m for m in MEASURE_NAMES if m != "members_new"]
    # a deterministic pseudo-random figure per (day, row, measure): hashtext, non-negative, small
    values = ", ".join(f"(abs(hashtext(d::text || '/' || k::text || '{m}')) %% 500)::bigint" for m in measures)
    cols = ", ".join(measures)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO hub_merchant (code, name, kind, scene, status, created_at)
               SELECT 'B' || lpad(n::text, 4, '0'), '压测商户' || n, 'merchant', (%s::text[])[1 + n %% 6], 'active', now()
                 FROM generate_series(1, %s) n""", [SCENES, merchants])
        cursor.execute(
            """INSERT INTO hub_store (merchant_id, code, name, active)
               SELECT m.id, 'S' || s, m.name || '门店' || s, true
                 FROM hub_merchant m, generate_series(1, %s) s WHERE m.code LIKE 'B%%'""", [stores_per])
        cursor.execute(
            f"""INSERT INTO ops_daily_stat (business_date, merchant_id, store_id, scene, members_active, members_new,
                                            {cols})
                SELECT d, st.merchant_id, st.id, m.scene, (abs(hashtext(d::text || st.id::text)) %% 300)::bigint, 0,
                       {values.replace('k::text', 'st.id::text')}
                  FROM generate_series(%s::date, %s::date, '1 day') d
                  CROSS JOIN hub_store st JOIN hub_merchant m ON m.id = st.merchant_id""", [FIRST, LAST])
        cursor.execute(
            f"""INSERT INTO ops_daily_stat (business_date, merchant_id, store_id, scene, members_active, members_new,
                                            {cols})
                SELECT d, m.id, NULL, m.scene, (abs(hashtext(d::text || m.id::text)) %% 900)::bigint, 0,
                       {values.replace('k::text', "('m' || m.id)")}
                  FROM generate_series(%s::date, %s::date, '1 day') d CROSS JOIN hub_merchant m
                 WHERE m.code LIKE 'B%%'""", [FIRST, LAST])
        sums = ", ".join(f"sum({c})" for c in measures)
        cursor.execute(
            f"""INSERT INTO ops_daily_scope_stat (business_date, scene, members_active, members_new, {cols})
                SELECT business_date, CASE WHEN grouping(scene) = 1 THEN '' ELSE scene END,
                       sum(members_active) / 2, 0, {sums}
                  FROM ops_daily_stat GROUP BY GROUPING SETS ((business_date, scene), (business_date))""")
        cursor.execute(
            """INSERT INTO ops_monthly_stat (month, merchant_id, store_id, scene, earn_count, points_earned,
                                             points_redeemed)
               SELECT date_trunc('month', business_date)::date, merchant_id, store_id, max(scene), sum(earn_count),
                      sum(points_earned), sum(points_redeemed)
                 FROM ops_daily_stat GROUP BY 1, merchant_id, store_id""")
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(*) FROM ops_daily_stat")
        stat_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM ops_daily_scope_stat")
        scope_rows = cursor.fetchone()[0]
        cursor.execute("SELECT min(id) FROM hub_merchant WHERE code LIKE 'B%%' AND scene = 'market'")
        merchant = cursor.fetchone()[0]
        cursor.execute("SELECT min(id) FROM hub_store WHERE merchant_id = %s", [merchant])
        store = cursor.fetchone()[0]
    return {"stat_rows": stat_rows, "scope_rows": scope_rows, "merchant": merchant, "store": store}


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    return samples[min(len(samples) - 1, int(round(fraction * (len(samples) - 1))))]


def timed(client, url: str, runs: int) -> tuple[float, float, float]:
    for _ in range(3):
        assert client.get(url).status_code == 200, url
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    samples.sort()
    return statistics.median(samples), percentile(samples, 0.95), percentile(samples, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--stores-per-merchant", type=int, default=5)
    args = parser.parse_args()

    url = recreate_database(base_url())
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CONN_MAX_AGE"] = "600"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.http import HttpResponse
    from django.test import Client
    from django.urls import clear_url_caches, path

    import hub.urls

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    info = seed(args.merchants, args.stores_per_merchant)
    print(f"seeded {info['stat_rows']:,} DailyStat and {info['scope_rows']:,} DailyScopeStat rows "
          f"({args.merchants * args.stores_per_merchant:,} stores × 365 days) in {time.perf_counter() - started:.1f} s")

    def bare(request):
        return HttpResponse("ok")

    hub.urls.urlpatterns.append(path("bench-bare/", bare))
    clear_url_caches()
    user = get_user_model().objects.create_superuser("bench", password="bench-pass-2026")
    client = Client()  # no setup_test_environment(): its instrumented template rendering is not production
    client.force_login(user)
    # every staff session needs its second factor (hub.staff.middleware): a real TOTP device, the
    # session marked verified as django_otp.login marks it
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    year = f"from={FIRST}&to={LAST}"
    month = f"from={LAST - timedelta(days=29)}&to={LAST}"
    pages = [
        ("province, 30 days", f"/ops/?{month}"),
        ("province, 365 days", f"/ops/?{year}"),
        ("scene 菜场, 30 days", f"/ops/scene/market/?{month}"),
        ("scene 菜场, 365 days", f"/ops/scene/market/?{year}"),
        ("filter scene=餐饮, 365 days", f"/ops/?scene=restaurant&{year}"),
        ("merchant page, 30 days", f"/ops/merchant/{info['merchant']}/?{month}"),
        ("merchant page, 365 days", f"/ops/merchant/{info['merchant']}/?{year}"),
        ("filter merchant=, 365 days", f"/ops/?merchant={info['merchant']}&{year}"),
        ("store, 30 days", f"/ops/store/{info['store']}/?{month}"),
        ("store, 365 days", f"/ops/store/{info['store']}/?{year}"),
        ("CSV export province, 365 days", f"/ops/export.csv?{year}"),
        ("CSV export scene, 365 days", f"/ops/export.csv?scene=market&{year}"),
        ("CSV export merchant, 365 days", f"/ops/export.csv?merchant={info['merchant']}&{year}"),
    ]
    reference = ("bare Django view (reference)", "/bench-bare/")
    print(f"\n{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}   ({args.runs} runs each, Django test client)")
    worst_label, worst = "", 0.0
    # the reference is timed first and last, so a machine that got busier during the run shows
    for label, page in [reference, *pages, (reference[0] + ", again", reference[1])]:
        median, p95, p99 = timed(client, page, args.runs)
        if page != reference[1] and p99 > worst:
            worst_label, worst = label, p99
        print(f"{label:<34} {median:>8.1f} {p95:>8.1f} {p99:>8.1f}")
    print(f"\nslowest dashboard p99: {worst:.1f} ms ({worst_label})")
    print(f"goal p99 < 300 ms: {'met' if worst < 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
