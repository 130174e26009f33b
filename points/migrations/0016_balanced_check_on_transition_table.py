"""The balance trigger sums only the inserting statement's own postings (points/sql/ledger.sql):
append-only postings make that equivalent, and it no longer joins points_posting per call."""

from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):

    dependencies = [
        ("points", "0015_till_fingerprint_hmac"),
    ]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
