"""Till gateway over HTTP, run the production way, under load from wrk with pre-signed requests.

    python -m hub.devdb run -- python bench/till_http.py --seconds 20 --connections 32

1. A scratch database ``<db>_http`` on the server in DATABASE_URL: migrated, the sandbox network
   and programs seeded, ``--members`` members with 100,000 points, each known to every bench
   merchant by an opaque member id (as after an identify with a dynamic code), and a warm-up of
   sales and payments for the refunds to refer to.
2. gunicorn (``--workers`` sync workers, DEBUG off, production-like settings) on 127.0.0.1.
3. Requests are signed beforehand in every registered dialect (40% identify, 30% earn, 20% redeem,
   10% refund, spread over the vendors and members), each with its own nonce and request number,
   so the load generator (wrk, a C program) spends no CPU on crypto; the cloud-POS till signs in
   one cashier session for the run, as a till keeps one for a shift (``--pos-session-per-call``: a
   new one per call).
4. Prints calls/s, p50/p95/p99 latency (wrk), and errors: transport errors and non-2xx from wrk,
   and every call the hub answered with anything but success (from its own TillCall record).
5. The reference, on the same gunicorn (bench/mp_settings.py: the hub's settings and middleware,
   plus a bare Django JSON view at /bench/bare that touches no database) with the same wrk
   connections and duration: the bare view's requests/s, and ``ratio to bare Django view``.
6. Batch upload: ``--batches`` native store-and-forward calls of 1,000 offline earns each, sent
   over ``--batch-connections`` connections; prints postings/s (two postings per earn), and
   ``pgbench -N`` on the same server for ``ratio to pgbench``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ledger import bench_url, pgbench, recreate_database, setup_django  # noqa: E402
from till_profile import profile_batches, profile_calls  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "fangxiang"
MIX = (("identify", 40), ("earn", 30), ("redeem", 20), ("refund", 10))

LUA = r"""
local requests = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  local file = io.open(args[1], "r")
  local threads = tonumber(args[2])
  local i = 0
  for line in file:lines() do
    if i % threads == tid then
      local method, path, ctype, headers, body = line:match("^(%S+)\t(%S+)\t([^\t]+)\t([^\t]*)\t(.*)$")
      local h = {["Content-Type"] = ctype}
      for k, v in headers:gmatch("([^\001]+)\002([^\001]*)\001") do h[k] = v end
      body = body:gsub("\\n", "\n"):gsub("\\t", "\t"):gsub("\\\\", "\\")
      table.insert(requests, wrk.format(method, path, h, body))
    end
    i = i + 1
  end
  file:close()
  idx = 0
end
function request()
  idx = idx + 1
  if idx > #requests then idx = 1 end
  return requests[idx]
end
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50=%d p95=%d p99=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def seed(members: int, warmup: int) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from hub.credentials import issue_credential
    from hub.demo import seed as seed_demo
    from hub.gateway.base import CredentialKeys
    from hub.gateway.registry import adapters
    from hub.models import Merchant, Vendor
    from points.models import Program

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    seed_demo()
    program = Program.objects.get(code="POSTAL")
    tills = {}
    for code, adapter in adapters().items():
        sandbox = adapter.sandbox  # every registered dialect, as it describes itself
        merchant = Merchant.objects.get(code=sandbox.merchant)
        vendor = Vendor.objects.get(code=code)
        if sandbox.secret is None:  # the vendor signs with its RSA key: register the sandbox's public key
            public = sandbox.public_key_file.read_text()
            issue_credential(merchant=merchant, vendor=vendor, app_key=f"bench_{code}", rsa_public_key=public)
            keys = CredentialKeys(app_key=f"bench_{code}", public_key_pem=public,
                                  private_key_pem=sandbox.private_key_file.read_text())
        else:
            secret = secrets.token_hex(16)
            issue_credential(merchant=merchant, vendor=vendor, app_key=f"bench_{code}", secret=secret)
            keys = CredentialKeys(app_key=f"bench_{code}", secrets=(secret,), secret=secret)
        tills[code] = {"keys": keys, "store": sandbox.store, "till": sandbox.till, "merchant": merchant.pk,
                       "merchant_code": merchant.code, "names_merchant": bool(adapter.merchant_field)}

    with connection.cursor() as c:
        c.execute("SELECT id FROM members_tier WHERE code = 'standard'")
        tier = c.fetchone()[0]
        c.execute("SELECT coalesce(max(id), 0) FROM members_member")
        base = c.fetchone()[0]
        c.execute("""INSERT INTO members_member (id, postal_no, name, mobile, id_number, tier_id, status, created_at, updated_at)
                     SELECT %s + g, 'HTTP' || lpad(g::text, 10, '0'), '', '', '', %s, 'active', now(), now()
                       FROM generate_series(1, %s) g""", [base, tier, members])
        c.execute("SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [base + members])
        c.execute("SELECT points_account_id(10, %s, NULL, %s)", [program.pk, program.issuer_id])
        issuer_acc = c.fetchone()[0]
        c.execute("INSERT INTO points_txn (kind, created_at) VALUES ('adjust', now()) RETURNING id")
        txn = c.fetchone()[0]
        c.execute("""WITH acc AS (INSERT INTO points_account (program_id, kind, member_id, balance)
                                  SELECT %s, 1, %s + g, 100000 FROM generate_series(1, %s) g RETURNING id),
                          lots AS (INSERT INTO points_lot (account_id, original, remaining, expired, created_at)
                                   SELECT id, 100000, 100000, 0, now() FROM acc RETURNING account_id)
                     INSERT INTO points_posting (txn_id, account_id, amount, created_at)
                     SELECT %s, account_id, 100000, now() FROM lots
                     UNION ALL SELECT %s, %s, -100000::bigint * %s, now()""",
                  [program.pk, base, members, txn, txn, issuer_acc, members])
        for i, till in enumerate(tills.values()):
            # Each member's stable ref, and the strong ref an identify by code at this till would
            # have handed out (the bench's redeems need a strong naming).
            c.execute("""INSERT INTO members_memberref (member_id, merchant_id, ref, created_at)
                         SELECT %s + g, %s, 'M' || lpad((%s * 10000000 + g)::text, 11, '0'), now()
                           FROM generate_series(1, %s) g""", [base, till["merchant"], i + 1, members])
            c.execute("""INSERT INTO members_strongref (member_ref_id, merchant_id, ref, terminal_id, strong_until,
                                                        created_at)
                         SELECT r.id, r.merchant_id, 'M' || lpad((%s * 10000000 + r.member_id - %s)::text, 11, '0'),
                                (SELECT t.id FROM hub_terminal t JOIN hub_store s ON s.id = t.store_id
                                  WHERE s.merchant_id = r.merchant_id AND s.code = %s AND t.code = %s),
                                now() + interval '1 day', now()
                           FROM members_memberref r WHERE r.merchant_id = %s AND r.member_id > %s""",
                      [i + 51, base, till["store"], till["till"], till["merchant"], base])
            till["ref_prefix"] = i + 51
        c.execute("ANALYZE")
    originals = warm_up(tills, members, base, warmup)
    return {"tills": tills, "members": members, "base": base, "originals": originals}


def ref(till: dict, n: int) -> str:
    return f"M{till['ref_prefix'] * 10_000_000 + n:011d}"


def warm_up(tills: dict, members: int, base: int, count: int) -> list:
    """Sales and payments made beforehand through the services, for refunds to refer to."""
    from hub.models import Merchant, Store, Terminal
    from members.credentials import MemberName
    from members.models import Member
    from points import till as till_ops

    originals = []
    rng = random.Random(7)
    for code, till in tills.items():
        merchant = Merchant.objects.get(pk=till["merchant"])
        store = Store.objects.get(merchant=merchant, code=till["store"])
        terminal = Terminal.objects.get(store=store, code=till["till"])
        for i in range(count // len(tills)):
            member = Member.objects.select_related("tier").get(pk=base + rng.randint(1, members))
            no = f"WU{code[:2]}{i:07d}"
            place = till_ops.Place(merchant=merchant, store=store, terminal=terminal)
            if i % 2:
                till_ops.earn(place=place, member=MemberName.verified(member), amount_fen=20000, request_no=no)
                originals.append((code, no, 20000))
            else:
                till_ops.redeem(place=place, member=MemberName.verified(member), points=2000, request_no=no)
                originals.append((code, no, 2000))
    rng.shuffle(originals)
    return originals


def presign(world: dict, total: int, path: Path, *, pos_session_per_call: bool = False) -> dict:
    from django.utils import timezone

    from hub.gateway.canonical import TillCommand
    from hub.gateway.registry import adapters
    from hub.vendors.cloudpos.demo import sandbox_session

    # A cloud-POS till keeps its cashier's session for the shift: one per till, made now (its
    # idle stamp is then touched by the hub every half minute), unless asked for a new session
    # per call (as this bench did before: every call then also wrote its session).
    sessions = {code: sandbox_session(adapters()[code].sandbox, app_key=till["keys"].app_key)
                for code, till in world["tills"].items() if code == "cloudpos" and not pos_session_per_call}

    rng = random.Random(11)
    ops = [op for op, weight in MIX for _ in range(weight)]
    codes = list(world["tills"])
    refunds = {code: [o for o in world["originals"] if o[0] == code] for code in codes}
    now = timezone.now()
    counts: dict[str, int] = {}
    with path.open("w") as out:
        for i in range(total):
            code = codes[i % len(codes)]
            till, adapter = world["tills"][code], adapters()[code]
            op = rng.choice(ops)
            member = ref(till, rng.randint(1, world["members"]))
            extra = {"merchant_code": till["merchant_code"]} if till["names_merchant"] else {}
            if code in sessions:
                extra["session_key"] = sessions[code]
            common = {"store_code": till["store"], "terminal_code": till["till"], "operator": "1001", "extra": extra}
            if op == "identify":
                command = TillCommand(op="identify", member=member, **common)
            elif op == "earn":
                command = TillCommand(op="earn", request_no=f"H{i:08d}", member=member,
                                      amount_fen=rng.randint(100, 50000), **common)
            elif op == "redeem":
                command = TillCommand(op="redeem", request_no=f"H{i:08d}", member=member,
                                      points=rng.randint(1, 10) * 100, **common)
            else:
                if not refunds[code]:
                    continue
                _, original, amount = refunds[code].pop()
                command = TillCommand(op="refund", request_no=f"H{i:08d}", original_request_no=original,
                                      amount_fen=max(1, amount // 4), **common)
            spec = adapter.build_request(command, keys=till["keys"], nonce=f"{i:08d}"[-8:] + secrets.token_hex(4),
                                         timestamp=now + timedelta(seconds=i % 60))
            headers = "".join(f"{k}\002{v}\001" for k, v in spec.headers.items())
            body = spec.body.decode("latin-1").replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            out.write(f"{spec.method}\t{spec.path}\t{spec.content_type}\t{headers}\t{body}\n")
            counts[op] = counts.get(op, 0) + 1
    return counts


def presign_batches(world: dict, count: int) -> list:
    """Native batch calls of 1,000 queued earns each, signed beforehand."""
    from django.utils import timezone

    from hub.gateway.canonical import BATCH_OP, TillCommand
    from hub.gateway.registry import adapters

    if "native" not in world["tills"]:
        return []
    till, adapter = world["tills"]["native"], adapters()["native"]
    rng = random.Random(13)
    now = timezone.now()
    site = {"store_code": till["store"], "terminal_code": till["till"]}
    specs = []
    for b in range(count):
        items = [TillCommand(op="earn", request_no=f"Q{b:03d}{i:04d}", member=ref(till, rng.randint(1, world["members"])),
                             amount_fen=rng.randint(100, 50000), business_time=now - timedelta(hours=1), **site)
                 for i in range(1000)]
        specs.append(adapter.build_request(TillCommand(op=BATCH_OP, extra={"items": items}, **site), keys=till["keys"],
                                           nonce=secrets.token_hex(8), timestamp=now))
    return specs


def send_batches(specs: list, port: int, connections: int) -> tuple[int, float]:
    """Send the batches over a few connections; (earns written, seconds)."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    def send(spec) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request(spec.method, spec.path, body=spec.body, headers={"Content-Type": spec.content_type, **spec.headers})
        answer = json.loads(conn.getresponse().read())
        conn.close()
        return sum(1 for item in answer.get("data", {}).get("items", []) if item["code"] == "SUCCESS")

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        written = sum(pool.map(send, specs))
    return written, time.perf_counter() - started


def start_gunicorn(url: str, workers: int, port: int, key_file: Path) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, DEBUG="0", ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="WARNING",
               FANGXIANG_HUB_PRIVATE_KEY=key_file.read_text(), CONN_MAX_AGE="600",
               GATEWAY_RATE_LIMIT_PER_MINUTE="10000000", DJANGO_SETTINGS_MODULE="mp_settings",
               PYTHONPATH=f"{ROOT / 'bench'}{os.pathsep}{ROOT}")
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    proc = subprocess.Popen([gunicorn, "hub.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level",
                             "warning", "--backlog", "2048"], cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/gateway/fangxiang/public-key", timeout=1)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/bare", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def cpu_by_program() -> dict[str, float]:
    """CPU seconds (user + system, including reaped children) of every process on this machine,
    by program: gunicorn (its workers), postgres (its backends), wrk."""
    totals: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = rest.split()
        name = head.partition("(")[2]
        program = ("gunicorn" if any(b"gunicorn" in part for part in cmdline[:2]) else
                   "postgres" if name.startswith("postgres") else "wrk" if name.startswith("wrk") else None)
        if program:
            totals[program] = totals.get(program, 0.0) + sum(int(f) for f in fields[11:15]) / tick
    return totals


def wrk(args: argparse.Namespace, url: str, *script: str) -> tuple[dict, str]:
    """One wrk run of ``args.seconds`` over ``args.connections``; (RESULT figures, wrk's report)."""
    out = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s",
                          "--timeout", "5s", *(("-s", script[0]) if script else ()), url, "--", *script[1:]],
                         capture_output=True, text=True, check=True).stdout
    report, _, result = out.partition("RESULT")
    return dict(re.findall(r"(\w+)=(\d+)", result)), report.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=2500, help="requests to pre-sign per second of the run")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--batches", type=int, default=10, help="native batch uploads of 1,000 earns")
    parser.add_argument("--batch-connections", type=int, default=2)
    parser.add_argument("--pos-session-per-call", action="store_true",
                        help="sign every cloud-POS call in a new cashier session (the old, pessimistic mix)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="instead of the load: the first N pre-signed calls in this process through the "
                             "whole WSGI stack (middleware included) under cProfile, then where the time goes")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian: apt-get install wrk)")

    base_url = os.environ.get("DATABASE_URL") or (ROOT / ".pgdata" / "database_url").read_text().strip()
    url = bench_url(base_url, "_http")
    recreate_database(base_url, re.sub(r".*/", "", url.split("?")[0]))
    os.environ["FANGXIANG_HUB_PRIVATE_KEY"] = (FIXTURES / "hub_test_private.pem").read_text()
    # DEBUG off, as under gunicorn, so the in-process profile measures the served configuration
    # (Django's debug cursor logs every ORM statement; on the 2026-12-06 profile that changed little).
    os.environ["DEBUG"] = "0"
    setup_django(url)
    t0 = time.perf_counter()
    world = seed(args.members, warmup=args.rate * args.seconds // 10 + 200)
    work = Path(tempfile.mkdtemp(prefix="till_http_"))
    requests_file = work / "requests.tsv"
    counts = presign(world, args.rate * args.seconds, requests_file, pos_session_per_call=args.pos_session_per_call)
    batches = presign_batches(world, args.batches)
    print(f"seeded and signed {sum(counts.values()):,} requests {counts} and {len(batches)} batches "
          f"in {time.perf_counter() - t0:.0f}s")
    (work / "script.lua").write_text(LUA)
    (work / "bare.lua").write_text(LUA[LUA.index("function done"):])

    from django.db import connection

    if args.profile:
        profile_calls(requests_file, args.profile)
        if batches:
            profile_batches(batches)
        return
    connection.close()
    server = start_gunicorn(url, args.workers, args.port, FIXTURES / "hub_test_private.pem")
    try:
        cpu0 = cpu_by_program()
        result, report = wrk(args, f"http://127.0.0.1:{args.port}", str(work / "script.lua"), str(requests_file),
                             str(args.threads))
        cpu1 = cpu_by_program()
        bare, _ = wrk(args, f"http://127.0.0.1:{args.port}/bench/bare", str(work / "bare.lua"))
        written, batch_seconds = send_batches(batches, args.port, args.batch_connections) if batches else (0, 0.0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    sent = int(result["requests"])
    seconds = int(result["duration_us"]) / 1e6
    bare_per_s = int(bare["requests"]) / (int(bare["duration_us"]) / 1e6)
    print(report)
    tps = pgbench(base_url, args.workers, args.seconds) if batches else 0.0

    from django.db.models import Count

    from hub.models import TillCall

    answered = dict(TillCall.objects.values_list("code").annotate(n=Count("id")).values_list("code", "n"))
    failures = {code: n for code, n in answered.items() if code != "SUCCESS"}
    print("\n=== summary ===")
    print(f"{sent:,} calls in {seconds:.1f}s = {sent / seconds:,.0f} calls/s with {args.connections} connections, "
          f"{args.workers} gunicorn workers")
    print(f"latency p50 {int(result['p50']) / 1000:.1f} ms, p95 {int(result['p95']) / 1000:.1f} ms, "
          f"p99 {int(result['p99']) / 1000:.1f} ms")
    print(f"transport errors {result['errors']}, non-2xx {result['non2xx']}, hub refusals {failures or 'none'}")
    print("CPU per call: " + ", ".join(f"{name} {1000 * (cpu1.get(name, 0) - cpu0.get(name, 0)) / max(1, sent):.2f} ms"
                                       for name in ("gunicorn", "postgres", "wrk")) + f" ({os.cpu_count()} CPUs)")
    print(f"bare Django JSON view, same server: {bare_per_s:,.0f} req/s, p50 {int(bare['p50']) / 1000:.1f} ms, "
          f"p99 {int(bare['p99']) / 1000:.1f} ms (errors {bare['errors']}, non-2xx {bare['non2xx']})")
    print(f"ratio to bare Django view: {sent / seconds / bare_per_s:.2f}   (goal >= 0.5); "
          f"p99 {int(result['p99']) / max(1, int(bare['p99'])):.1f}x the bare view's   (goal <= 3)")
    if batches:
        postings_per_s = 2 * written / batch_seconds
        print(f"batch upload: {len(batches)} × 1,000 earns over {args.batch_connections} connections: {written:,} earns "
              f"in {batch_seconds:.2f}s = {postings_per_s:,.0f} postings/s")
        print(f"batch ratio to pgbench: {postings_per_s / tps:.2f}   (pgbench -N {tps:,.0f} tps; goal >= 3)")
    if sent > sum(counts.values()):
        print("note: the run outlasted the pre-signed requests; repeats were refused as replays — raise --rate")
    print(json.dumps({"calls_per_s": round(sent / seconds), "bare_per_s": round(bare_per_s), "answered": answered}))


if __name__ == "__main__":
    main()
