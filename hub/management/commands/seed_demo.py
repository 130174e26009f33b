"""Idempotent demo and sandbox data for `make run`."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load demo and sandbox data (safe to run again: existing rows are left as they are)."

    def handle(self, *args, **options):
        from hub.demo import seed

        created = seed()
        summary = ", ".join(f"{kind} +{count}" for kind, count in created.items())
        self.stdout.write(f"演示与沙箱数据就绪 / demo and sandbox data ready (created: {summary})")
