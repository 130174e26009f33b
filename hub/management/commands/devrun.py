"""`make run`: migrate, seed demo and sandbox data, create an admin, then serve the hub together
with a Celery worker and beat. Ctrl-C stops everything this command started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-hub-2026"


class Command(BaseCommand):
    help = "Development server with worker and beat (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-celery", action="store_true", help="serve the web site only")

    def handle(self, *args, addr, no_celery, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("数据库迁移完成 / migrations applied")
        call_command("seed_demo")
        self._ensure_admin()

        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            settings.CELERY_BROKER_FOLDER.mkdir(parents=True, exist_ok=True)
            (settings.CELERY_BROKER_FOLDER / "processed").mkdir(exist_ok=True)

        py = sys.executable
        procs: list[subprocess.Popen] = []
        env = dict(os.environ)
        if not no_celery:
            procs.append(subprocess.Popen([py, "-m", "celery", "-A", "hub", "worker", "-l", "info", "-c", "2"], env=env))
            procs.append(
                subprocess.Popen(
                    [py, "-m", "celery", "-A", "hub", "beat", "-l", "info", "-s", str(settings.BASE_DIR / ".run" / "beat")],
                    env=env,
                )
            )
        procs.append(subprocess.Popen([py, "manage.py", "runserver", addr, "--noreload"], env=env))

        self.stdout.write(
            self.style.SUCCESS(
                f"\n  清算中心已启动: http://{addr}/\n"
                f"  运营后台 admin: http://{addr}/admin/  用户名 {ADMIN_USER}  密码 {ADMIN_PASSWORD}\n"
                f"  API 文档: http://{addr}/api/docs/\n  按 Ctrl-C 停止。\n"
            )
        )
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            self.stderr.write("a child process exited; stopping the others")
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
            self.stdout.write("已停止 / stopped")

    def _ensure_admin(self):
        User = get_user_model()
        if not User.objects.filter(username=ADMIN_USER).exists():
            User.objects.create_superuser(ADMIN_USER, "admin@example.invalid", ADMIN_PASSWORD)
