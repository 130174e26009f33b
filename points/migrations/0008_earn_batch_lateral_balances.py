from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_earn_batch: balances by one index probe per account (never a scan of the lots)."""

    dependencies = [("points", "0007_earn_batch_set_based_balances")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
