"""A real Celery worker and beat (subprocesses, not eager mode) against a real broker — Redis
when one answers at 127.0.0.1:6379 and the redis package is installed, else the filesystem
broker `make run` uses — prove that scheduled jobs fire and their effects land in the database:
beat sends "release expired holds" and "close clearing batches" every second; the worker
releases the hold, closes yesterday's batch, and (queued on commit) writes its documents."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from hub.clearing.models import ClearingBatch, ClearingDocument
from points import services
from points.models import Operation
from tests.points.conftest import build_world

ROOT = Path(settings.BASE_DIR)
TIMEOUT = 45


def redis_available() -> bool:
    if importlib.util.find_spec("redis") is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_database_url() -> str:
    """The server of DATABASE_URL (TCP or the embedded server's Unix socket), test database name."""
    db = connection.settings_dict
    base = urlparse(os.environ.get("DATABASE_URL") or settings_module_url())
    return urlunparse(base._replace(path=f"/{db['NAME']}"))


def settings_module_url() -> str:
    from hub import settings as hub_settings

    return hub_settings._database_url()


test_database_url.__test__ = False  # a helper, not a test


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.django_db(transaction=True)
def test_beat_fires_scheduled_jobs_on_a_real_worker(tmp_path):
    world = build_world()
    member = world.member()
    now = timezone.now()
    kw = {"merchant": world.shop, "store": world.store, "terminal": world.till, "member": member}
    services.earn(amount_fen=10000, request_no="E1", now=now - timedelta(days=1, hours=1), **kw)  # a clearing item
    services.freeze(points=10, request_no="F1", now=now - timedelta(minutes=20), **kw)  # a hold nobody confirmed

    queue = f"hub-test-{uuid.uuid4().hex[:10]}"
    PeriodicTask.objects.update(enabled=False)  # only this test's schedules
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    for task in ("points.release_expired_holds", "hub.close_clearing_batches"):
        PeriodicTask.objects.create(name=f"test {task}", task=task, interval=every_second, queue=queue)

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.hub.clearing.worker_settings",
               DATABASE_URL=test_database_url(), HUB_TEST_CELERY_QUEUE=queue,
               HUB_TEST_MEDIA_ROOT=str(tmp_path / "media"), LOG_LEVEL="INFO",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if redis_available():
        env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    else:
        folder = tmp_path / "broker"
        (folder / "processed").mkdir(parents=True)
        env.update(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(folder))
    py = sys.executable
    commands = {
        "worker": [py, "-m", "celery", "-A", "hub", "worker", "-P", "solo", "-Q", queue, "-n", f"{queue}@%h",
                   "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info"],
        "beat": [py, "-m", "celery", "-A", "hub", "beat", "--max-interval", "1", "-s", str(tmp_path / "beat"),
                 "-l", "info"],
    }
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in commands}  # noqa: SIM115
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
             for name, cmd in commands.items()]

    def done() -> bool:
        return (Operation.objects.filter(request_no="F1", status="released").exists()
                and ClearingDocument.objects.count() == 6)  # 2 parties + instructions, UTF-8 and GBK

    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and not done() and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        stop(procs)
        for fh in logs.values():
            fh.close()
    output = "\n".join(f"--- {name} ---\n" + (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]
                       for name in commands)
    assert done(), output
    batch = ClearingBatch.objects.get()
    assert (batch.status, batch.item_count, batch.closed_by) == ("closed", 1, None)
    assert "hub.close_clearing_batches" in output and "points.release_expired_holds" in output
    assert env["CELERY_BROKER_URL"].split(":")[0] in output  # the broker the worker connected to
