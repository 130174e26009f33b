"""`make run`: migrate, seed demo and sandbox data, create an admin, then serve the hub together
with a Celery worker and beat. Ctrl-C stops everything this command started.

The site is served the production way, by gunicorn (sync workers sized to the machine, a deep
listen queue), so the tills of a shop floor calling at the same moment are queued, not reset;
DEBUG stays on for the sandbox (sandbox credentials, static files served by the app). ``--dev``
serves with Django's auto-reloading runserver instead, for working on the code.

Run under ``python -m hub.devdb run --``, which owns the embedded PostgreSQL and stops it after
this command returns; this command owns its three children (web server, worker, beat).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from hub.staff import services

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-hub-2026"
STOP_TIMEOUT = 15


def ensure_admin() -> bool:
    """Create the development superuser unless it exists; True if created. An existing
    user (and a password someone changed) is left alone."""
    User = get_user_model()
    if User.objects.filter(username=ADMIN_USER).exists():
        return False
    User.objects.create_superuser(ADMIN_USER, "admin@example.invalid", ADMIN_PASSWORD)
    return True


def ensure_admin_totp():
    """The demo admin's authenticator (DEBUG sandbox only): enrolled once with a random secret,
    which `make run` prints so a person can add it to an authenticator app, or read today's code
    with ``manage.py demo_otp``. None when DEBUG is off (a real admin enrols on first login)."""
    if not settings.DEBUG:
        return None
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.filter(username=ADMIN_USER).first()
    if user is None:
        return None
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="演示管理员验证器", confirmed=True)


def ensure_broker_folders() -> None:
    """kombu's filesystem transport needs its folders before the worker or beat start."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        settings.CELERY_BROKER_FOLDER.mkdir(parents=True, exist_ok=True)
        (settings.CELERY_BROKER_FOLDER / "processed").mkdir(exist_ok=True)


def ensure_metrics_folder() -> None:
    """Prometheus multiprocess mode for the web workers and the Celery worker: one directory
    they all write, emptied before they start (hub.monitoring.metrics)."""
    folder = settings.BASE_DIR / ".run" / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)  # inherited by the children


BACKLOG = 2048  # connections the kernel queues while every worker is busy


def web_workers(cpus: int | None = None) -> int:
    """Sync workers for the machine: 2 × cores + 1 (gunicorn's rule), between 3 and 17, so the
    embedded PostgreSQL's 100 connections are never the limit."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(3, min(17, 2 * cpus + 1))


def web_command(addr: str, *, dev: bool = False, workers: int | None = None) -> list[str]:
    """The web server: gunicorn serving hub.wsgi, or with ``dev`` Django's auto-reloading runserver."""
    py = sys.executable
    if dev:
        return [py, str(settings.BASE_DIR / "manage.py"), "runserver", addr]
    gunicorn = shutil.which("gunicorn", path=str(os.path.dirname(py))) or "gunicorn"
    return [gunicorn, "hub.wsgi", "--bind", addr, "--workers", str(workers or web_workers()),
            "--backlog", str(BACKLOG), "--timeout", "60", "--graceful-timeout", "10",
            "--access-logfile", "-", "--chdir", str(settings.BASE_DIR),
            # the path without its query string (no mobile or token from a URL in the log), the request id
            "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s',
            "--config", "python:hub.monitoring.gunicorn"]


def child_commands(addr: str, *, celery: bool = True, dev: bool = False, workers: int | None = None) -> list[list[str]]:
    py = sys.executable
    commands = []
    if celery:
        commands.append([py, "-m", "celery", "-A", "hub", "worker", "-l", "info", "-c", "2", "-n", "devrun@%h"])
        # Schedules live in the database (django-celery-beat); beat keeps no state file.
        commands.append([py, "-m", "celery", "-A", "hub", "beat", "-l", "info"])
    commands.append(web_command(addr, dev=dev, workers=workers))
    return commands


def prepare(stdout=None) -> bool:
    """Everything before serving: migrations (the Vendor rows follow the adapter registry), the
    cache table, demo and sandbox data, the admin user, the broker folders. True if the admin was
    created now."""
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)  # the shared cache when CACHE_URL is unset
    if stdout is not None:
        stdout.write("数据库迁移完成 / migrations applied")
    call_command("seed_demo", stdout=stdout)
    created = ensure_admin()
    ensure_broker_folders()
    ensure_metrics_folder()
    return created


def pos_demo_lines(addr: str) -> str:
    """The smart cloud POS's demo cashier and a fresh enrolment code for the demo terminal."""
    from hub.vendors.cloudpos.demo import DEMO_PASSWORD, DEMO_PIN, DEMO_USER, demo_enrolment_code

    issued = demo_enrolment_code()
    line = (f"  智慧云POS: http://{addr}/pos/  收银员 {DEMO_USER}  密码 {DEMO_PASSWORD}（首次创建时的密码）"
            f"  主管密码 {DEMO_PIN}\n")
    if issued:
        terminal, code = issued
        line += f"  云POS设备登记码（{terminal.store.name} {terminal.code}，24 小时内有效）: {code}\n"
    return line


def stop_children(procs: list[subprocess.Popen], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every child still running, wait up to ``timeout`` in all, then SIGKILL."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Command(BaseCommand):
    help = "Development server with worker and beat (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-celery", action="store_true", help="serve the web site only")
        parser.add_argument("--dev", action="store_true",
                            help="Django's auto-reloading runserver instead of gunicorn (for working on the code)")
        parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: 2 x cores + 1)")

    def handle(self, *args, addr, no_celery, dev, workers, **options):
        created = prepare(self.stdout)
        pos = pos_demo_lines(addr)

        procs: list[subprocess.Popen] = []
        try:
            for command in child_commands(addr, celery=not no_celery, dev=dev, workers=workers):
                procs.append(subprocess.Popen(command))
            server = "runserver, auto-reload" if dev else f"gunicorn, {workers or web_workers()} workers"
            password = ADMIN_PASSWORD if created else f"{ADMIN_PASSWORD}（首次创建时的密码）"
            device = ensure_admin_totp()
            otp = (f"  双重验证 2FA: 密钥 secret {services.base32_secret(device)}（验证器中手动添加，基于时间）\n"
                   f"    或扫描/打开 {device.config_url}\n"
                   "    当前验证码 current code: .venv/bin/python -m hub.devdb run -- .venv/bin/python manage.py demo_otp\n"
                   if device is not None else "")
            self.stdout.write(
                self.style.SUCCESS(
                    f"\n  清算中心已启动 / hub running: http://{addr}/ ({server})\n"
                    f"  运营后台 admin: http://{addr}/admin/  用户名 {ADMIN_USER}  密码 {password}\n"
                    f"{otp}"
                    f"  API 文档: http://{addr}/api/docs/\n"
                    f"{pos}"
                    f"  Celery: {'worker + beat, broker ' + settings.CELERY_BROKER_URL if not no_celery else '未启动'}\n"
                    "  按 Ctrl-C 停止 / Ctrl-C stops everything.\n"
                )
            )
            while all(proc.poll() is None for proc in procs):
                time.sleep(0.5)
            exited = [" ".join(proc.args[1:5]) for proc in procs if proc.poll() is not None]
            self.stderr.write(f"a child process exited ({'; '.join(exited)}); stopping the others")
        except KeyboardInterrupt:
            pass
        finally:
            stop_children(procs)
            self.stdout.write("已停止 / stopped")
