from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_earn_batch: store-and-forward earns written set-based in one call."""

    dependencies = [("points", "0005_ledger_sql_guard")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, "DROP FUNCTION IF EXISTS points_earn_batch(jsonb)")]
