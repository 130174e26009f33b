from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_apply: claw and reclaim lot modes decided under the locks, reverse through the primitive,
    expired unswept holds out of the daily cap; points_earn_batch: operation rows before accounts
    (one lock order); account kinds rendered from points/contract.py."""

    dependencies = [("points", "0011_account_balance_help")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
