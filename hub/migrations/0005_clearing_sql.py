from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "clearing" / "sql" / "clearing.sql").read_text()

DROP = """
DROP TRIGGER IF EXISTS clearing_item_batched_frozen ON points_clearing_item;
DROP FUNCTION IF EXISTS hub_clearing_item_guard();
DROP TRIGGER IF EXISTS clearing_document_guard ON hub_clearing_document;
DROP FUNCTION IF EXISTS hub_clearing_document_guard();
DROP TRIGGER IF EXISTS hub_clearing_batch_item_frozen ON hub_clearing_batch_item;
DROP TRIGGER IF EXISTS hub_clearing_batch_item_open_only ON hub_clearing_batch_item;
DROP TRIGGER IF EXISTS hub_clearing_line_frozen ON hub_clearing_line;
DROP TRIGGER IF EXISTS hub_clearing_line_open_only ON hub_clearing_line;
DROP TRIGGER IF EXISTS hub_clearing_position_frozen ON hub_clearing_position;
DROP TRIGGER IF EXISTS hub_clearing_position_open_only ON hub_clearing_position;
DROP TRIGGER IF EXISTS hub_settlement_instruction_frozen ON hub_settlement_instruction;
DROP TRIGGER IF EXISTS hub_settlement_instruction_open_only ON hub_settlement_instruction;
DROP FUNCTION IF EXISTS hub_clearing_part_insert_guard();
DROP FUNCTION IF EXISTS hub_clearing_part_guard();
DROP TRIGGER IF EXISTS clearing_batch_guard ON hub_clearing_batch;
DROP FUNCTION IF EXISTS hub_clearing_batch_guard();
"""


class Migration(migrations.Migration):
    """A closed clearing batch never changes: triggers in hub/clearing/sql/clearing.sql (idempotent).

    A later change to clearing.sql ships with a new migration that runs the file again."""

    dependencies = [("hub", "0004_clearing")]

    operations = [migrations.RunSQL(SQL, DROP)]
