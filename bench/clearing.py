"""Clearing benchmark: close a batch of 1,000,000 clearing items and expire 1,000,000 lots.

    python -m hub.devdb run -- python bench/clearing.py                 # embedded PostgreSQL
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/hub python bench/clearing.py --statements

On a scratch database ``<db>_bench_clearing`` of the server in DATABASE_URL (or
.pgdata/database_url), dropped and re-created each run:

1. migrates it and seeds, with set-based SQL, 21 parties, two programs and clearing items spread
   over two days: a small day (``--small``, default 100,000 items) and a big day (``--items``,
   default 1,000,000) — a mix of redemptions with fees, merchant-funded earns, conversions and
   5% negative items (refunds, reversals);
2. closes the small day's batch, then the big day's, each in a fresh process, and prints seconds
   and that process's peak RSS (``resource.getrusage``) next to the RSS of a process that only
   starts Django: equal peaks for 10^5 and 10^6 items show memory is flat in the items;
3. optionally (``--statements``) writes the big batch's UTF-8 statements and instructions;
4. seeds ``--lots`` (default 1,000,000) expired lots over 100,000 members and runs the expiry
   sweep (``points.sweeps.expire_lots``) in a fresh process, printing seconds and peak RSS.

Goal: each of close and expire ≤ 60 s on the 2-core machine, RSS flat in the number of items.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.timezone import SHANGHAI  # noqa: E402  (after the path; needs no Django)

# Two clearing days well in the past; the batches close at 00:00 after each.
DAY1 = datetime(2026, 1, 5, tzinfo=SHANGHAI)
DAY2 = DAY1 + timedelta(days=1)
CUTOFF1, CUTOFF2 = DAY2, DAY2 + timedelta(days=1)


def base_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    path = ROOT / ".pgdata" / "database_url"
    if path.exists():
        return path.read_text().strip()
    sys.exit("set DATABASE_URL or run under `python -m hub.devdb run --`")


def scratch_url(base: str) -> tuple[str, str]:
    parsed = urlparse(base)
    name = f"{parsed.path.lstrip('/') or 'postgres'}_bench_clearing"
    return parsed._replace(path=f"/{name}").geturl(), name


def recreate_database(base: str, name: str) -> None:
    import psycopg

    admin = urlparse(base)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---- seeding (set-based SQL) ------------------------------------------------------------------

def seed_world() -> dict:
    from hub.models import Merchant
    from points.models import Program

    issuer = Merchant.objects.create(code="CPJX", name="中国邮政江西省分公司", kind=Merchant.Kind.ISSUER)
    merchants = [Merchant.objects.create(code=f"M{n:04d}", name=f"商户{n}") for n in range(1, 21)]
    postal = Program.objects.create(issuer=issuer, code="POSTAL", name="邮政金融积分")
    store = Program.objects.create(issuer=merchants[0], code="STORE", name="商户积分", value_fen=1, value_points=1)
    return {"issuer": issuer.pk, "merchants": [m.pk for m in merchants], "postal": postal.pk, "store": store.pk}


def seed_items(world: dict, count: int, day: datetime) -> None:
    """``count`` clearing items spread over ``day``: 50% redemptions (issuer -> merchant, 0.6%
    fee), 35% merchant-funded earns (merchant -> issuer), 10% store-points redemptions at other
    merchants, 5% conversions (store issuer -> postal issuer); every 20th item negative."""
    from django.db import connection

    m = world["merchants"]
    with connection.cursor() as c:
        c.execute("INSERT INTO points_txn (kind, created_at) VALUES ('adjust', now()) RETURNING id")
        txn = c.fetchone()[0]
        c.execute(
            """INSERT INTO points_clearing_item (txn_id, operation_id, payer_id, payee_id, program_id, kind, points,
                                                 amount_fen, fee_fen, created_at)
               SELECT %(txn)s, NULL,
                      CASE WHEN r < 50 THEN %(issuer)s WHEN r < 85 THEN mer WHEN r < 95 THEN %(m0)s ELSE %(m0)s END,
                      CASE WHEN r < 50 THEN mer WHEN r < 85 THEN %(issuer)s WHEN r < 95 THEN mer2 ELSE %(issuer)s END,
                      CASE WHEN r < 85 OR r >= 95 THEN %(postal)s ELSE %(store)s END,
                      CASE WHEN r < 50 OR (r >= 85 AND r < 95) THEN 'redemption' WHEN r < 85 THEN 'earn_funding'
                           ELSE 'conversion' END,
                      sign * pts, sign * pts,
                      CASE WHEN r < 50 OR (r >= 85 AND r < 95) THEN sign * ((pts * 60 + 5000) / 10000) ELSE 0 END,
                      %(day)s + (g %% 86400) * interval '1 second'
                 FROM (SELECT g, (g * 7919) %% 100 AS r, 100 + (g * 31) %% 900 AS pts,
                              CASE WHEN g %% 20 = 0 THEN -1 ELSE 1 END AS sign,
                              (%(ms)s::bigint[])[1 + (g %% 20)] AS mer,
                              (%(ms)s::bigint[])[1 + ((g / 20) %% 19) + 1] AS mer2
                         FROM generate_series(1::bigint, %(n)s) g) s""",
            {"txn": txn, "issuer": world["issuer"], "m0": m[0], "postal": world["postal"], "store": world["store"],
             "ms": m, "n": count, "day": day})
        c.execute("ANALYZE points_clearing_item")


def seed_lots(world: dict, lots: int, members: int, expired_at: datetime) -> None:
    """``members`` members, each with lots/members lots of 100 points that expired already."""
    from django.db import connection

    per = lots // members
    with connection.cursor() as c:
        c.execute("SELECT id FROM members_tier ORDER BY rank LIMIT 1")
        tier = c.fetchone()[0]
        c.execute(
            """INSERT INTO members_member (id, postal_no, name, mobile, id_number, tier_id, status, created_at,
                                           updated_at)
               SELECT g, 'BENCH' || lpad(g::text, 10, '0'), '', '', '', %s, 'active', now(), now()
                 FROM generate_series(1, %s) g""", [tier, members])
        c.execute("SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members])
        c.execute("SELECT points_account_id(10, %s, NULL, %s)", [world["postal"], world["issuer"]])
        issuer_account = c.fetchone()[0]
        c.execute("INSERT INTO points_txn (kind, created_at) VALUES ('adjust', now()) RETURNING id")
        txn = c.fetchone()[0]
        c.execute(
            """WITH acc AS (
                   INSERT INTO points_account (program_id, kind, member_id, balance)
                   SELECT %(program)s, 1, g, 100 * %(per)s FROM generate_series(1, %(members)s) g RETURNING id),
               lots AS (
                   INSERT INTO points_lot (account_id, original, remaining, expired, expires_at, created_at)
                   SELECT acc.id, 100, 100, 0, %(expired)s - (k || ' minutes')::interval, now()
                     FROM acc CROSS JOIN generate_series(1, %(per)s) k RETURNING account_id)
               INSERT INTO points_posting (txn_id, account_id, amount, created_at)
               SELECT %(txn)s, id, 100 * %(per)s, now() FROM acc
               UNION ALL SELECT %(txn)s, %(issuer_account)s, -100 * %(per)s * %(members)s, now()""",
            {"program": world["postal"], "per": per, "members": members, "expired": expired_at, "txn": txn,
             "issuer_account": issuer_account})
        c.execute("ANALYZE")


# ---- measured steps, each in a fresh process ----------------------------------------------------

def _child(url: str, step: str, out) -> None:
    setup_django(url)
    from django.db import connection

    connection.ensure_connection()
    baseline = peak_rss_mb()
    started = time.perf_counter()
    detail = ""
    if step == "django":
        pass
    elif step.startswith("close:"):
        from hub.clearing import services
        from hub.clearing.services import close_batch

        services.queue_documents = lambda batch_id: None  # no task to a broker: statements are step 3

        cutoff = datetime.fromisoformat(step.split(":", 1)[1])
        batch = close_batch(cutoff_at=cutoff, now=cutoff + timedelta(minutes=5))
        detail = (f"{batch.item_count:,} items -> {batch.lines.count()} lines, {batch.positions.count()} positions,"
                  f" {batch.instructions.count()} instructions")
    elif step.startswith("statements:"):
        from django.conf import settings

        from hub.clearing.models import ClearingBatch
        from hub.clearing.statements import build_documents

        settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="bench-clearing-")
        batch = ClearingBatch.objects.get(cutoff_at=datetime.fromisoformat(step.split(":", 1)[1]))
        docs = build_documents(batch=batch, encodings=["utf-8"])
        detail = f"{len(docs)} files, {sum(d.row_count for d in docs):,} detail rows, {sum(d.size for d in docs):,} bytes"
    elif step.startswith("expire:"):
        from points.sweeps import expire_lots

        count = expire_lots(now=datetime.fromisoformat(step.split(":", 1)[1]))
        detail = f"{count:,} lots expired"
    out.put((time.perf_counter() - started, baseline, peak_rss_mb(), detail))


def measure(url: str, step: str) -> tuple[float, float, float, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(url, step, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def report(label: str, result) -> None:
    seconds, baseline, peak, detail = result
    print(f"{label:<34} {seconds:8.2f} s   peak RSS {peak:7.1f} MB (after Django start {baseline:6.1f} MB)   {detail}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--statements", action="store_true", help="also write the big batch's UTF-8 files")
    args = parser.parse_args()

    base = base_url()
    url, name = scratch_url(base)
    print(f"scratch database {name}; seeding ...", flush=True)
    recreate_database(base, name)
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    world = seed_world()
    t0 = time.perf_counter()
    seed_items(world, args.small, DAY1)
    seed_items(world, args.items, DAY2)
    print(f"seeded {args.small + args.items:,} clearing items in {time.perf_counter() - t0:.1f} s", flush=True)
    from django.db import connections

    connections.close_all()

    report("start Django only", measure(url, "django"))
    report(f"close batch of {args.small:,} items", measure(url, f"close:{CUTOFF1.isoformat()}"))
    report(f"close batch of {args.items:,} items", measure(url, f"close:{CUTOFF2.isoformat()}"))
    if args.statements:
        report(f"statements of {args.items:,} items", measure(url, f"statements:{CUTOFF2.isoformat()}"))

    t0 = time.perf_counter()
    now = datetime.now(SHANGHAI)
    seed_lots(world, args.lots, args.members, now - timedelta(days=1))
    connections.close_all()
    print(f"seeded {args.lots:,} expired lots over {args.members:,} members in {time.perf_counter() - t0:.1f} s",
          flush=True)
    report(f"expire {args.lots:,} lots", measure(url, f"expire:{now.isoformat()}"))


if __name__ == "__main__":
    main()
