from django.db import migrations

from points.migrations import _sql


class Migration(migrations.Migration):
    """points_apply learns the optimistic guard (refund, confirm, release in one call)."""

    dependencies = [("points", "0004_grant_operation")]

    operations = [migrations.RunSQL(_sql.LEDGER_SQL, migrations.RunSQL.noop)]
