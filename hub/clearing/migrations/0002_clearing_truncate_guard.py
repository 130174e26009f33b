"""Refuse TRUNCATE on the tables of a closed batch and on the clearing items (BEFORE TRUNCATE
statement triggers, hub/clearing/sql/clearing.sql run again: it is idempotent)."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "clearing.sql").read_text()

TABLES = ("hub_clearing_batch", "hub_clearing_batch_item", "hub_clearing_line", "hub_clearing_position",
          "hub_settlement_instruction", "hub_clearing_document", "points_clearing_item")
DROP = "".join(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};\n" for t in TABLES) + \
    "DROP FUNCTION IF EXISTS hub_clearing_truncate_guard();\n"


class Migration(migrations.Migration):
    dependencies = [("clearing", "0001_initial")]

    operations = [migrations.RunSQL(SQL, DROP)]
