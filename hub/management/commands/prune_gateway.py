"""``manage.py prune_gateway``: what the daily ``hub.prune_gateway`` job does (hub.gateway.retention)."""

from django.core.management.base import BaseCommand

from hub.gateway.retention import prune


class Command(BaseCommand):
    help = "Delete expired till nonces, till call records past their retention and expired counters."

    def handle(self, *args, **options):
        deleted = prune()
        self.stdout.write(", ".join(f"{name} -{count}" for name, count in deleted.items()))
