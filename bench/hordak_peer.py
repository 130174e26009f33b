"""Peer benchmark: django-hordak 2.0 transfers on the same PostgreSQL server as the hub's bench.

    python -m hub.devdb run -- .venv/bin/python bench/hordak_peer.py --workers 4 --seconds 20
    (bench/ledger.py runs it after pgbench unless --no-hordak, and prints the ratio to it)

django-hordak is not a dependency of the hub. This script installs it, with exact pins, into a
scratch virtualenv ``.bench-venvs/hordak/`` of the checkout (git-ignored; reused while the pins
are unchanged), writes a minimal Django project's settings to a temporary directory and runs
itself again under that virtualenv's interpreter, which:

1. recreates a scratch database ``<db>_hordak`` on the server in DATABASE_URL (the embedded server
   of ``python -m hub.devdb run``, as bench/ledger.py finds it) and applies hordak's migrations
   (its balance and currency triggers included);
2. seeds M member accounts (liability, CNY) and one pool account, plus H history transactions of
   two legs each (default: as many legs as bench/ledger.py's phase B has postings, ~10^6);
3. runs transfers from N worker processes for S seconds: per transfer, in one database
   transaction, the member's account is loaded (``Account.objects.get``) and
   ``Account.transfer_to`` moves a random amount between it and the pool (half each way); that is
   hordak 2.0's documented API: one ``Transaction`` and a credit and a debit ``Leg``;
4. checks that exactly one transaction was written per transfer it counted, each balanced, and
   prints ``[hordak] N transfers in Ss = X transfers/s, p50 .. ms, p99 .. ms``.

hordak keeps no stored balance and takes no lock, so a transfer is four statements that only
insert (plus the load); its deferred triggers check at commit that the legs sum to zero per
currency and that the account accepts the currency.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venvs" / "hordak"
# django-hordak 2.0.0 is the only 2.0.x release; it is tested on Django 4.2 and 5.0 (its README),
# so the newest 5.0. The rest is what pip resolves for these two, pinned.
PINS = [
    "django-hordak==2.0.0",
    "Django==5.0.14",
    "psycopg[binary]==3.3.9",
    "asgiref==3.13.0",
    "babel==2.19.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "diff-match-patch==20241021",
    "dj-database-url==3.1.2",
    "django-extensions==4.1",
    "django-import-export==4.4.3",
    "django-js-asset==5.0.0",
    "django-money==3.6.2",
    "django-mptt==0.20.0",
    "idna==3.20",
    "py-moneyed==3.0",
    "requests==2.34.2",
    "sqlparse==0.6.1",
    "tablib==3.10.0",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
]
RESULT_TAG = "HORDAK_RESULT "


class PeerUnavailable(Exception):
    """The peer could not be installed or run; the message says why."""


def base_database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    url_file = ROOT / ".pgdata" / "database_url"
    if url_file.exists():
        return url_file.read_text().strip()
    raise PeerUnavailable("no DATABASE_URL (run under `python -m hub.devdb run -- ...`)")


def scratch_url(base: str, suffix: str) -> str:
    parsed = urlparse(base)
    return parsed._replace(path=f"/{parsed.path.lstrip('/') or 'postgres'}{suffix}").geturl()


# ---- the driver: any interpreter (the hub's .venv from bench/ledger.py) -----------------------

def _tail(text: str, lines: int = 6) -> str:
    kept = [ln for ln in text.strip().splitlines() if "is ignored: it is neither" not in ln]
    kept = [ln for ln in kept if ln.startswith("ERROR")] or kept  # pip: its errors, not its retries
    return " | ".join(kept[-lines:]) or "(no output)"


def ensure_venv(log=print) -> Path:
    """The scratch virtualenv's interpreter, creating or refreshing the virtualenv when needed."""
    python = VENV / "bin" / "python"
    marker = VENV / "pins.txt"
    wanted = "\n".join(PINS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        probe = subprocess.run([str(python), "-c", "import hordak, django, psycopg"], capture_output=True)
        if probe.returncode == 0:
            return python
    log(f"[hordak] installing django-hordak 2.0.0 into {VENV.relative_to(ROOT)}/ ...")
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
    if made.returncode != 0:
        raise PeerUnavailable(f"cannot create the virtualenv: {_tail(made.stderr)}")
    try:
        pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--timeout", "30", *PINS], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        shutil.rmtree(VENV, ignore_errors=True)
        raise PeerUnavailable("pip install of django-hordak timed out (is PyPI reachable?)") from None
    if pip.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        raise PeerUnavailable(f"pip install of django-hordak failed: {_tail(pip.stderr)}")
    marker.write_text(wanted)
    return python


def run_peer(*, workers: int, seconds: int, members: int = 100_000, history: int = 500_000,
             base_url: str | None = None, log=print) -> dict:
    """Install (or reuse) the peer and run it; returns its figures. Raises PeerUnavailable."""
    base = base_url or base_database_url()
    python = ensure_venv(log)
    cmd = [str(python), str(Path(__file__).resolve()), "--inner", "--workers", str(workers),
           "--seconds", str(seconds), "--members", str(members), "--history", str(history)]
    result = None
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(cmd, env=dict(os.environ, DATABASE_URL=base), stdout=subprocess.PIPE,
                                stderr=errors, text=True)
        for line in proc.stdout:
            if line.startswith(RESULT_TAG):
                result = json.loads(line[len(RESULT_TAG):])
            else:
                log(line.rstrip("\n"))
        if proc.wait() != 0 or result is None:
            errors.seek(0)
            raise PeerUnavailable(f"the peer run failed (exit {proc.returncode}): {_tail(errors.read())}")
    return result


# ---- the peer itself: runs under the scratch virtualenv ---------------------------------------

SETTINGS = """\
import dj_database_url

SECRET_KEY = "hordak-peer-bench"
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "mptt", "hordak"]
DATABASES = {{"default": dj_database_url.parse({url!r})}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEFAULT_CURRENCY = "CNY"
HORDAK_INTERNAL_CURRENCY = "CNY"
CURRENCIES = ["CNY"]
"""


def _setup_django(settings_dir: str) -> None:
    sys.path.insert(0, settings_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hordak_peer_settings"
    import django

    django.setup()


def _recreate_database(base: str, name: str) -> None:
    import psycopg

    admin = urlparse(base)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _seed(members: int, history: int) -> dict:
    """One pool account and ``members`` member accounts (each a root of its own tree, as hordak's
    MPTT tree expects), then ``history`` transactions of 10.00 from the pool to a member, in
    batches through hordak's own triggers."""
    from django.db import connection, transaction
    from hordak.models import Account, AccountType

    pool = Account.objects.create(name="Points pool", type=AccountType.expense, currencies=["CNY"])
    with connection.cursor() as c:
        c.execute(
            """INSERT INTO hordak_account (uuid, name, parent_id, code, full_code, type, is_bank_account,
                                           currencies, lft, rght, tree_id, level)
               SELECT gen_random_uuid(), 'Member ' || g, NULL, NULL, NULL, %s, false, '["CNY"]'::jsonb,
                      1, 2, %s + g, 0
                 FROM generate_series(1, %s) g""", [AccountType.liability.value, pool.tree_id, members])
        c.execute("SELECT min(id), max(id), count(*) FROM hordak_account WHERE id <> %s", [pool.pk])
        first, last, count = c.fetchone()
        assert count == members and last - first + 1 == members, "member account ids are not contiguous"
        done = 0
        while done < history:
            batch = min(50_000, history - done)
            with transaction.atomic():
                c.execute(
                    """WITH t AS (
                           INSERT INTO hordak_transaction (uuid, timestamp, date, description)
                           SELECT gen_random_uuid(), now() - interval '30 days', current_date - 30, ''
                             FROM generate_series(1, %s) RETURNING id)
                       INSERT INTO hordak_leg (uuid, transaction_id, account_id, credit, debit, currency,
                                               description)
                       SELECT gen_random_uuid(), t.id,
                              CASE WHEN s.credit THEN %s + t.id %% %s ELSE %s END,
                              CASE WHEN s.credit THEN 10.00 END, CASE WHEN NOT s.credit THEN 10.00 END,
                              'CNY', ''
                         FROM t CROSS JOIN (VALUES (true), (false)) s(credit)""",
                    [batch, first, members, pool.pk])
            done += batch
        c.execute("ANALYZE")
        c.execute("SELECT coalesce(max(id), 0) FROM hordak_transaction")
        last_seeded = c.fetchone()[0]
        c.execute("SELECT count(*) FROM hordak_leg")
        legs = c.fetchone()[0]
    return {"pool": pool.pk, "first": first, "members": members, "last_seeded_txn": last_seeded, "legs": legs}


def _worker(settings_dir: str, world: dict, seconds: float, seed: int, out) -> None:
    _setup_django(settings_dir)
    from decimal import Decimal

    from django.db import DatabaseError, transaction
    from hordak.models import Account
    from moneyed import Money

    pool = Account.objects.get(pk=world["pool"])
    rng = random.Random(seed)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        account_id = world["first"] + rng.randrange(world["members"])
        amount = Money(Decimal(rng.randint(100, 50000)).scaleb(-2), "CNY")
        to_member = rng.random() < 0.5
        t0 = time.perf_counter()
        try:
            with transaction.atomic():
                member = Account.objects.get(pk=account_id)
                if to_member:
                    member.transfer_to(pool, amount)  # credits the member, debits the pool
                else:
                    pool.transfer_to(member, amount)
        except DatabaseError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            continue
        latencies.append(time.perf_counter() - t0)
    out.put((latencies, errors))


def _inner(args: argparse.Namespace) -> None:
    base = base_database_url()
    name = (urlparse(base).path.lstrip("/") or "postgres") + "_hordak"
    settings_dir = tempfile.mkdtemp(prefix="hordak-peer-")
    try:
        Path(settings_dir, "hordak_peer_settings.py").write_text(SETTINGS.format(url=scratch_url(base, "_hordak")))
        _recreate_database(base, name)
        _setup_django(settings_dir)
        from importlib.metadata import version

        import django
        from django.core.management import call_command
        from django.db import connection

        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)
        world = _seed(args.members, args.history)
        print(f"[hordak] django-hordak {version('django-hordak')} on Django {django.get_version()}, "
              f"database {name}: {args.members:,} member accounts, {world['legs']:,} legs "
              f"(migrated and seeded in {time.perf_counter() - t0:.0f}s)", flush=True)
        connection.close()

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(settings_dir, world, args.seconds,
                                                   7919 * (i + 1) + int(time.time()) % 1000, queue))
                 for i in range(args.workers)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=args.seconds + 120) for _ in procs]
        for p in procs:
            p.join()
        every = sorted(x for lat, _ in results for x in lat)
        errors: dict[str, int] = {}
        for _, err in results:
            for k, v in err.items():
                errors[k] = errors.get(k, 0) + v
        n = len(every)

        # What was counted is what is in the database: one balanced two-leg transaction per transfer.
        with connection.cursor() as c:
            c.execute("""SELECT count(*),
                                count(*) FILTER (WHERE legs <> 2 OR total <> 0)
                           FROM (SELECT t.id, count(l.id) AS legs,
                                        coalesce(sum(coalesce(l.debit, 0) - coalesce(l.credit, 0)), 0) AS total
                                   FROM hordak_transaction t LEFT JOIN hordak_leg l ON l.transaction_id = t.id
                                  WHERE t.id > %s GROUP BY t.id) x""", [world["last_seeded_txn"]])
            written, bad = c.fetchone()
        if written != n or bad:
            raise SystemExit(f"[hordak] counted {n} transfers but the database has {written} new transactions, "
                             f"{bad} of them not two balanced legs")
        result = {
            "transfers": n, "seconds": args.seconds, "workers": args.workers,
            "per_s": n / args.seconds,
            "p50_ms": statistics.median(every) * 1000 if every else 0.0,
            "p99_ms": every[int(0.99 * (n - 1))] * 1000 if every else 0.0,
            "errors": errors,
        }
        print(f"[hordak] {n} transfers in {args.seconds:.0f}s = {result['per_s']:.0f} transfers/s, "
              f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, errors {errors} "
              f"({args.workers} workers; {written} transactions written, all balanced)", flush=True)
        print(RESULT_TAG + json.dumps(result), flush=True)
    finally:
        shutil.rmtree(settings_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=500_000,
                        help="two-leg history transactions seeded before the run (default ~10^6 legs)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args)
        return
    try:
        run_peer(workers=args.workers, seconds=args.seconds, members=args.members, history=args.history)
    except PeerUnavailable as exc:
        raise SystemExit(f"[hordak] peer unavailable: {exc}") from None


if __name__ == "__main__":
    main()
