from django.db import migrations

from points.migrations._sql import LEDGER_SQL as SQL

DROP = """
DROP FUNCTION IF EXISTS points_mature_batch(timestamptz, int);
DROP FUNCTION IF EXISTS points_expire_batch(timestamptz, int);
DROP FUNCTION IF EXISTS points_apply(jsonb);
DROP FUNCTION IF EXISTS points_spendable(bigint, timestamptz);
DROP FUNCTION IF EXISTS points_account_id(int, bigint, bigint, bigint);
DROP TRIGGER IF EXISTS posting_balanced ON points_posting;
DROP FUNCTION IF EXISTS points_check_balanced();
DROP TRIGGER IF EXISTS posting_append_only ON points_posting;
DROP TRIGGER IF EXISTS lot_usage_append_only ON points_lot_usage;
DROP TRIGGER IF EXISTS txn_append_only ON points_txn;
DROP FUNCTION IF EXISTS points_forbid_change();
"""


class Migration(migrations.Migration):
    """The ledger's PL/pgSQL functions and triggers (points/sql/ledger.sql, idempotent).

    A later change to ledger.sql ships with a new migration that runs the file again."""

    dependencies = [("points", "0001_initial")]

    operations = [migrations.RunSQL(SQL, DROP)]
