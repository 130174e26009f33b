"""The fault suite, bounded: bench/faults.py run once against processes of its own (an embedded
PostgreSQL in a temporary directory, gunicorn, a Celery worker), then every phase's audit asserted.

    make test-faults                      # this module alone, counts printed
    python bench/faults.py --minutes 10   # the longer run

The run is a child process: it stops and starts its own PostgreSQL, never the suite's test
database, and its Django talks to that world only. FAULTS_SECONDS (default 12) sets the length of
each load phase; the whole module takes about 2 minutes on two idle cores, 4–5 on a loaded machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SECONDS = os.environ.get("FAULTS_SECONDS", "12")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("faults") / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    command = [sys.executable, str(ROOT / "bench" / "faults.py"), "--seconds", SECONDS, "--json", str(out),
               "--members", "600", "--warmup", "400", "--clients", "6", "--sweep-members", "6500",
               "--grant-members", "300", "--clearing-sales", "150", "--job-timeout", "90"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    print(done.stdout[-6000:])
    assert out.exists(), f"the fault run wrote no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    data = json.loads(out.read_text())
    data["stdout"], data["stderr"] = done.stdout, done.stderr
    return data


def phase(report: dict, name: str) -> dict:
    found = [p for p in report["phases"] if p["name"] == name]
    assert found, f"phase {name!r} did not run:\n{report['stdout'][-3000:]}\n{report['stderr'][-3000:]}"
    counts = found[0]["counts"]
    print(f"\n{name}: calls {counts['calls']}, operations {counts['operations']}, faults: {found[0].get('faults')}, "
          f"lost answers {counts['lost answers']}, recovered by retry and query "
          f"{counts.get('lost answers recovered by retry and query', 0)}, duplicates {counts['duplicates']}, "
          f"lost {counts['lost']}")
    return found[0]


def assert_nothing_lost_or_doubled(p: dict) -> None:
    counts = p["counts"]
    assert counts["write operations"] > 0, "no load ran"
    assert counts["duplicates"] == 0, p["problems"]
    assert counts["lost"] == 0, p["problems"]
    assert counts.get("balance mismatches", 0) == 0, p["problems"]
    assert counts.get("query disagrees", 0) == 0, p["problems"]
    assert counts["wrong answers"] == 0, p["wrong"]  # no 500 page, unreadable envelope or bad signature
    assert not [x for x in p["problems"] if "no client sent" in x], p["problems"]
    assert p["checks"] == {}, p["checks"]  # check_ledger, clearing's checks and check_rights


def test_gunicorn_workers_sigkilled_under_load(report):
    p = phase(report, "gunicorn worker SIGKILL")
    assert p["kills"] >= 2
    assert_nothing_lost_or_doubled(p)


def test_postgresql_stopped_immediately_and_started_under_load(report):
    p = phase(report, "PostgreSQL immediate stop and start")
    assert p["restarts"] == 2
    assert p["counts"]["lost answers"] > 0, "the restarts should have cost some answers"
    assert p["counts"].get("lost answers recovered by retry and query", 0) > 0
    assert p["jobs_after_restart"] == 4, "a Celery job sent right after the restart did not run"
    assert_nothing_lost_or_doubled(p)


def test_celery_worker_sigkilled_mid_job_ends_as_the_uninterrupted_run(report):
    p = phase(report, "Celery worker SIGKILL mid-job")
    assert p["kills"] == 4  # the close, its files, the expiry sweep, the tier grant
    assert p["jobs_match_control"], json.dumps(p["job_differences"], default=str)[:3000]
    assert_nothing_lost_or_doubled(p)


def test_totals(report):
    totals = report["totals"]
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(totals.items())))
    assert totals["duplicates"] == 0 and totals["lost"] == 0
    assert totals["deliberate retries"] > 0  # clients did resend answered requests on purpose
