"""Idempotent demo and sandbox data for `make run`."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load demo and sandbox data (safe to run again)."

    def handle(self, *args, **options):
        from hub.demo import seed

        report = seed()
        self.stdout.write(f"演示与沙箱数据就绪 / demo data ready: {report}")
