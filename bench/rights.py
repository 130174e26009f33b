"""Rights benchmark: claims/s and write-offs/s under concurrency (real threads, one database
connection each), printed beside the ledger's till mix (bench/ledger.py) and pgbench -N measured
in the same run on the same server.

    python -m hub.devdb run -- python bench/rights.py --threads 4 --seconds 10

What it does, on a scratch database ``<db>_bench_rights`` of the server in DATABASE_URL:
1. migrates it and seeds the ledger bench's world (bench/ledger.py: an issuer, a supermarket with
   a store and a till, the postal program) and N members with 100,000 points each;
2. makes two active rights through the catalogue's maker-checker workflow: a free 满 50 减 10
   coupon and the same coupon for 100 points (the points to the issuer, its funder), both with a
   budget far above what the run can spend (every use still goes through the budget counter);
3. claims: T threads for S seconds, each claiming for a random member (half free, half for
   points: the points debit through the ledger and the voucher in one transaction) with
   ``rights.vouchers.claim`` — claims/s, p50/p99;
4. write-offs: T threads for S seconds writing off the vouchers claimed in 3 (each thread its own
   share) at the till with ``rights.redemption.redeem`` (guarded state change, store-day and
   budget counters, redemption row, funding row and its clearing item) — write-offs/s, p50/p99;
5. the reference: bench/ledger.py's till mix (earn, redeem, freeze + confirm, refund) with T
   worker processes for S seconds on the same members, and ``pgbench -N`` with T clients;
6. runs check_rights and check_ledger on the result.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ledger import (  # noqa: E402  (after the path)
    bench_url,
    pgbench,
    recreate_database,
    run_mix,
    seed_members,
    seed_world,
    setup_django,
)


def make_rights(world: dict) -> dict:
    from django.contrib.auth import get_user_model

    from hub.models import Merchant
    from points.models import Program
    from rights import catalogue
    from rights.models import Right

    users = get_user_model().objects
    maker = users.create_user(username="bench-maker", password=None)
    checker = users.create_user(username="bench-checker", password=None)
    issuer, shop = Merchant.objects.get(pk=world["issuer"]), Merchant.objects.get(pk=world["shop"])
    made = {}
    for code, terms in (("FREE", {}), ("POINTS", {"claim_mode": Right.ClaimMode.POINTS,
                                                  "claim_program": Program.objects.get(pk=world["program"]),
                                                  "claim_points": 100})):
        right = catalogue.create_right(funder=issuer, providers=[shop], tiers=[], actor=maker, code=f"BENCH_{code}",
                                       name=f"满50减10（{code}）", kind=Right.Kind.AMOUNT_OFF, off_fen=1000,
                                       threshold_fen=5000, settlement_fen=1000, valid_days=30,
                                       budget_fen=10**12, **terms)
        catalogue.submit_for_review(right=right, actor=maker)
        made[code] = catalogue.approve_right(right=right, actor=checker).pk
    return made


def run_threads(threads: int, seconds: float, job, label: str) -> dict:
    """``job(thread_index, n, rng)`` called in a loop by each thread until the time is up; returns
    the merged latencies. Each thread has its own connection (closed at its end)."""
    from django.db import connection

    from hub.errors import DomainError

    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    deadline: list[float] = []

    def loop(i: int) -> None:
        rng = random.Random(1000 + i)
        try:
            barrier.wait()
            if i == 0:
                deadline.append(time.perf_counter() + seconds)
            while not deadline:
                time.sleep(0.0001)
            n = 0
            while time.perf_counter() < deadline[0]:
                n += 1
                t0 = time.perf_counter()
                try:
                    if job(i, n, rng) is False:
                        return  # nothing left for this thread
                    latencies[i].append(time.perf_counter() - t0)
                except DomainError as exc:
                    with lock:
                        errors[exc.code] = errors.get(exc.code, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = min(time.perf_counter() - started, seconds) or seconds
    every = sorted(x for lat in latencies for x in lat)
    report = {"label": label, "ops": len(every), "per_s": len(every) / elapsed,
              "p50_ms": statistics.median(every) * 1000 if every else 0.0,
              "p99_ms": every[int(0.99 * (len(every) - 1))] * 1000 if every else 0.0, "errors": errors}
    print(f"[{label}] {report['ops']} in {elapsed:.1f}s = {report['per_s']:.0f}/s, p50 {report['p50_ms']:.2f} ms, "
          f"p99 {report['p99_ms']:.2f} ms, refusals {errors}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--members", type=int, default=20_000)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL") or (ROOT / ".pgdata" / "database_url").read_text().strip()
    name = (urlparse(base).path.lstrip("/") or "postgres") + "_bench_rights"
    url = bench_url(base, "_bench_rights")
    print(f"database {name}; {args.threads} threads × {args.seconds}s; {os.cpu_count()} CPUs")
    recreate_database(base, name)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    world = seed_world()
    seed_members(world, args.members, 0)
    rights = make_rights(world)
    connection.close()

    from hub.models import Merchant, Store, Terminal
    from members.models import Member
    from rights import redemption, vouchers
    from rights.models import Right, Voucher

    shop = Merchant.objects.get(pk=world["shop"])
    store, till = Store.objects.get(pk=world["store"]), Terminal.objects.get(pk=world["till"])
    free, paid = Right.objects.get(pk=rights["FREE"]), Right.objects.get(pk=rights["POINTS"])

    def claim(i: int, n: int, rng: random.Random):
        member = Member.objects.get(pk=rng.randint(1, args.members))
        vouchers.claim(member=member, right=free if n % 2 else paid, request_no=f"B{i}-{n}")

    claims = run_threads(args.threads, args.seconds, claim, "claims (half free, half for points)")
    available = list(Voucher.objects.filter(state="available").values_list("pk", flat=True))
    pools = [available[i::args.threads] for i in range(args.threads)]
    connection.close()

    def write_off(i: int, n: int, rng: random.Random):
        if not pools[i]:
            return False
        redemption.redeem(merchant=shop, store=store, terminal=till, request_no=f"W{i}-{n}", voucher=pools[i].pop(),
                          sale_fen=5000 + rng.randint(0, 5000), discount_fen=1000)
        return None

    uses = run_threads(args.threads, args.seconds, write_off, "write-offs at the till")
    left = sum(len(p) for p in pools)

    ledger = run_mix(url, world, args.members, args.threads, args.seconds, "ledger till mix (bench/ledger.py)")
    tps = pgbench(base, args.threads, args.seconds)

    print("\n=== summary (same run, same server) ===")
    print(f"claims/s:                {claims['per_s']:.0f}   p50 {claims['p50_ms']:.2f} ms   p99 {claims['p99_ms']:.2f} ms")
    print(f"write-offs/s:            {uses['per_s']:.0f}   p50 {uses['p50_ms']:.2f} ms   p99 {uses['p99_ms']:.2f} ms"
          f"{'   (ran out of vouchers: ' + str(left) + ' left)' if left == 0 else ''}")
    print(f"ledger till mix ops/s:   {ledger['ops_per_s']:.0f}   p50 {ledger['p50_ms']:.2f} ms   "
          f"p99 {ledger['p99_ms']:.2f} ms")
    print(f"pgbench -N tps:          {tps:.0f}")
    print(f"claims / ledger mix:     {claims['per_s'] / ledger['ops_per_s']:.2f}   "
          f"write-offs / ledger mix: {uses['per_s'] / ledger['ops_per_s']:.2f}")
    from points.checks import check_ledger
    from rights.checks import check_rights

    problems = {**check_rights(), **check_ledger()}
    print(f"check_rights + check_ledger on the bench database: {'OK' if not problems else problems}")


if __name__ == "__main__":
    main()
