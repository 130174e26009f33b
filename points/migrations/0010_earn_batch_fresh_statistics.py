from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_earn_batch: fresh statistics on its work table after the inserts, index probes only."""

    dependencies = [("points", "0009_earn_batch_fewer_joins")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
