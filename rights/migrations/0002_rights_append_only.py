"""The voucher event log and the funding rows are append-only: triggers refuse UPDATE and DELETE
(TRUNCATE, used by test teardown only, is a statement the triggers do not see)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION rights_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rights history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END $$;

DROP TRIGGER IF EXISTS voucher_event_append_only ON rights_voucherevent;
CREATE TRIGGER voucher_event_append_only BEFORE UPDATE OR DELETE ON rights_voucherevent
    FOR EACH ROW EXECUTE FUNCTION rights_forbid_change();
DROP TRIGGER IF EXISTS rights_funding_append_only ON rights_rightsfunding;
CREATE TRIGGER rights_funding_append_only BEFORE UPDATE OR DELETE ON rights_rightsfunding
    FOR EACH ROW EXECUTE FUNCTION rights_forbid_change();
DROP TRIGGER IF EXISTS right_history_append_only ON rights_righthistory;
CREATE TRIGGER right_history_append_only BEFORE UPDATE OR DELETE ON rights_righthistory
    FOR EACH ROW EXECUTE FUNCTION rights_forbid_change();
"""

DROP = """
DROP TRIGGER IF EXISTS voucher_event_append_only ON rights_voucherevent;
DROP TRIGGER IF EXISTS rights_funding_append_only ON rights_rightsfunding;
DROP TRIGGER IF EXISTS right_history_append_only ON rights_righthistory;
DROP FUNCTION IF EXISTS rights_forbid_change();
"""


class Migration(migrations.Migration):
    dependencies = [("rights", "0001_rights_initial")]

    operations = [migrations.RunSQL(SQL, DROP)]
