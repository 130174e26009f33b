"""Re-key request fingerprints stored as a bare SHA-256 digest (see points.fingerprints).

    manage.py rekey_fingerprints

The migration that introduced the keyed fingerprint runs the same step; run this again after
restoring an old backup into an upgraded hub. Safe to repeat.
"""

from django.core.management.base import BaseCommand

from points.fingerprints import rekey_legacy_rows
from points.models import Operation


class Command(BaseCommand):
    help = "Re-key legacy (unkeyed SHA-256) request fingerprints with FINGERPRINT_KEY."

    def handle(self, *args, **options):
        changed = rekey_legacy_rows(Operation)
        self.stdout.write(f"re-keyed {changed} fingerprint(s)")
