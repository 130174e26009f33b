from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_earn_batch computes the answers' balances in one set-based query."""

    dependencies = [("points", "0006_earn_batch")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
