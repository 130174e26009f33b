"""The member mini-program under load: signed-in members browsing and showing codes, beside a
bare Django view measured in the same run on the same server.

    python -m hub.devdb run -- python bench/miniprogram.py --seconds 10 --members 200

1. A scratch database ``<db>_mp``: migrated, the sandbox seeded (hub.demo), ``--members`` postal
   members with history (grants), each signed in through the fake WeChat and bound (the real
   services: sessions.login, sessions.bind_phone).
2. gunicorn (``--workers`` sync workers, DEBUG off) on 127.0.0.1 with bench/mp_settings.py.
3. ``--procs`` load processes × ``--threads`` keep-alive connections, each a member, for
   ``--seconds``: GET me 25 %, me/balances 25 %, me/transactions 20 %, rights 20 %,
   POST me/member-code 10 % (a fresh code and its PNG QR). Then the same connections on the bare
   view for the same time.
4. Prints requests/s, p50 and p99 latency and non-200 answers of both.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ledger import bench_url, recreate_database, setup_django  # noqa: E402

MIX = (("GET", "me", 25), ("GET", "me/balances", 25), ("GET", "me/transactions", 20), ("GET", "rights", 20),
       ("POST", "me/member-code", 10))


def prepare(members: int) -> list[str]:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from hub.demo import seed
    from members import services as member_services
    from members.credentials import MemberName
    from members.miniprogram import sessions
    from members.models import Tier
    from points import till
    from points.models import Program

    seed()
    tier = Tier.objects.get(code="gold")
    postal = Program.objects.get(code="POSTAL")
    tokens = []
    for n in range(members):
        member = member_services.register_member(postal_no=f"JXBENCH{n:05d}", name="压测", mobile=f"1370000{n:04d}",
                                                 tier=tier)
        for k in range(5):
            till.grant(place=till.Place(merchant=postal.issuer), member=MemberName.verified(member), program=postal,
                       points=1000 + k, request_no=f"BENCH-{n}-{k}")
        token, session = sessions.login(js_code=f"test:bench{n}")
        sessions.bind_phone(auth=sessions.Auth(session, session.identity), phone_code=f"phone:1370000{n:04d}",
                            version=sessions.consent_version())
        tokens.append(token)
    return tokens


def start_gunicorn(url: str, workers: int, port: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, DEBUG="0", ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="WARNING",
               CONN_MAX_AGE="600", DJANGO_SETTINGS_MODULE="mp_settings",
               PYTHONPATH=f"{ROOT / 'bench'}{os.pathsep}{ROOT}")
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    proc = subprocess.Popen([gunicorn, "hub.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level",
                             "warning", "--backlog", "2048"], cwd=ROOT, env=env, start_new_session=True)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/bare", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def load(port: int, tokens: list[str], threads: int, seconds: float, bare: bool, seed: int, out) -> None:
    import threading

    lat: list[float] = []
    bad = [0]
    lock = threading.Lock()
    weights = [w for _, _, w in MIX]

    def run(token: str, rng: random.Random) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, errors = [], 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if bare:
                method, path = "GET", "/bench/bare"
            else:
                method, rel, _ = rng.choices(MIX, weights)[0]
                path = "/api/mp/v1/" + rel
            started = time.perf_counter()
            conn.request(method, path, body=b"{}" if method == "POST" else None,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            errors += response.status != 200
        conn.close()
        with lock:
            lat.extend(mine)
            bad[0] += errors

    rng = random.Random(seed)
    workers = [threading.Thread(target=run, args=(rng.choice(tokens), random.Random(seed * 100 + i)))
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((lat, bad[0]))


def measure(port: int, tokens: list[str], procs: int, threads: int, seconds: float, bare: bool) -> dict:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    ps = [ctx.Process(target=load, args=(port, tokens, threads, seconds, bare, i + 1, queue)) for i in range(procs)]
    for p in ps:
        p.start()
    lat, bad = [], 0
    for _ in ps:
        part, errors = queue.get()
        lat += part
        bad += errors
    for p in ps:
        p.join()
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {"requests": len(lat), "rps": len(lat) / seconds, "p50": pick(0.50), "p99": pick(0.99), "non_200": bad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL") or (ROOT / ".pgdata" / "database_url").read_text().strip()
    url = bench_url(base, "_mp")
    from urllib.parse import urlparse

    recreate_database(base, urlparse(url).path.lstrip("/"))
    setup_django(url)
    started = time.monotonic()
    tokens = prepare(args.members)
    print(f"prepared {args.members} signed-in members in {time.monotonic() - started:.1f} s")
    from django.db import connections

    connections.close_all()
    server = start_gunicorn(url, args.workers, args.port)
    try:
        mp_result = measure(args.port, tokens, args.procs, args.threads, args.seconds, bare=False)
        bare_result = measure(args.port, tokens, args.procs, args.threads, args.seconds, bare=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"gunicorn {args.workers} workers; load {args.procs} processes x {args.threads} keep-alive connections; "
          f"{args.seconds:g} s each")
    print(f"{'':36} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8}")
    for label, r in (("mini-program mix (see the docstring)", mp_result),
                     ("bare Django view (same server)", bare_result)):
        print(f"{label[:36]:36} {r['rps']:11.0f} {r['p50']:8.1f} {r['p99']:8.1f} {r['non_200']:8d}")
    print(json.dumps({"miniprogram": mp_result, "bare": bare_result}))


if __name__ == "__main__":
    main()
