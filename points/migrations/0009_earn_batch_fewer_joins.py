from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_earn_batch: transaction ids from the sequence, answers without re-reading new rows."""

    dependencies = [("points", "0008_earn_batch_lateral_balances")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
