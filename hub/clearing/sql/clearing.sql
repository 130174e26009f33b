-- A closed clearing batch never changes. Enforced here, so that it also holds for a raw UPDATE.
--
-- * hub_clearing_batch: an open batch may be closed (its totals are written in the same
--   UPDATE); after that only the workflow moves forward, closed -> approved -> settled, and only
--   the workflow's own columns change. A closed batch cannot be deleted.
-- * Its lines, positions, settlement instructions and item list: no UPDATE or DELETE once the
--   batch is closed, and no INSERT into a batch that is not open.
-- * Its documents (statements, instructions): written once for a closed batch, never changed.
-- * The clearing items a closed batch took: no UPDATE or DELETE (the ledger never does either;
--   this only fires on UPDATE/DELETE, so the till's INSERTs pay nothing for it).
--
-- Loaded by migrations (hub/migrations/0005_clearing_sql.py, then hub/clearing/migrations/0002_…);
-- safe to run again.

CREATE OR REPLACE FUNCTION hub_clearing_batch_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    workflow text[] := ARRAY['status', 'approved_by_id', 'approved_at', 'settled_by_id', 'settled_at',
                             'bank_reference'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'open' THEN
            RAISE EXCEPTION 'clearing batch % is %: DELETE refused', OLD.id, OLD.status USING ERRCODE = 'P0001';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'open' THEN
        IF NEW.status NOT IN ('open', 'closed') THEN
            RAISE EXCEPTION 'clearing batch % is open: change to % refused, it must be closed first', OLD.id,
                NEW.status USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
    END IF;
    IF (to_jsonb(NEW) - workflow) IS DISTINCT FROM (to_jsonb(OLD) - workflow) THEN
        RAISE EXCEPTION 'clearing batch % is %: its period, totals and closing never change', OLD.id, OLD.status
            USING ERRCODE = 'P0001';
    END IF;
    IF to_jsonb(NEW) = to_jsonb(OLD) THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'closed' AND NEW.status = 'approved'
       AND NEW.settled_by_id IS NULL AND NEW.settled_at IS NULL AND NEW.bank_reference = '' THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'approved' AND NEW.status = 'settled'
       AND NEW.approved_by_id IS NOT DISTINCT FROM OLD.approved_by_id
       AND NEW.approved_at IS NOT DISTINCT FROM OLD.approved_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'clearing batch % is %: change to % refused', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'P0001';
END $$;

DROP TRIGGER IF EXISTS clearing_batch_guard ON hub_clearing_batch;
CREATE TRIGGER clearing_batch_guard BEFORE UPDATE OR DELETE ON hub_clearing_batch
    FOR EACH ROW EXECUTE FUNCTION hub_clearing_batch_guard();

-- Rows that belong to a batch (batch_id): frozen once the batch is no longer open.
CREATE OR REPLACE FUNCTION hub_clearing_part_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM hub_clearing_batch WHERE id = OLD.batch_id;
    IF v_status IS DISTINCT FROM 'open' THEN
        RAISE EXCEPTION 'clearing batch % is %: % on % refused', OLD.batch_id, v_status, TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'P0001';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- After each INSERT statement: every batch it wrote into is still open. One check per
-- statement, not per row (closing writes a row per clearing item into hub_clearing_batch_item).
CREATE OR REPLACE FUNCTION hub_clearing_part_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT b.id, b.status INTO bad
      FROM (SELECT DISTINCT batch_id FROM new_rows) n JOIN hub_clearing_batch b ON b.id = n.batch_id
     WHERE b.status <> 'open' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'clearing batch % is %: INSERT into % refused', bad.id, bad.status, TG_TABLE_NAME
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['hub_clearing_batch_item', 'hub_clearing_line', 'hub_clearing_position',
                             'hub_settlement_instruction'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_frozen', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION hub_clearing_part_guard()', t || '_frozen', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_open_only', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION hub_clearing_part_insert_guard()', t || '_open_only', t);
    END LOOP;
END $$;

-- Documents: only for a closed batch, and written once.
CREATE OR REPLACE FUNCTION hub_clearing_document_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF (SELECT status FROM hub_clearing_batch WHERE id = NEW.batch_id) = 'open' THEN
            RAISE EXCEPTION 'clearing batch % is open: documents are made after it closes', NEW.batch_id
                USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'clearing documents are written once: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END $$;

DROP TRIGGER IF EXISTS clearing_document_guard ON hub_clearing_document;
CREATE TRIGGER clearing_document_guard BEFORE INSERT OR UPDATE OR DELETE ON hub_clearing_document
    FOR EACH ROW EXECUTE FUNCTION hub_clearing_document_guard();

-- The clearing items a batch took stay as they were when it closed.
CREATE OR REPLACE FUNCTION hub_clearing_item_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_batch bigint;
    v_status text;
BEGIN
    SELECT m.batch_id, b.status INTO v_batch, v_status
      FROM hub_clearing_batch_item m JOIN hub_clearing_batch b ON b.id = m.batch_id
     WHERE m.item_id = OLD.id;
    IF FOUND AND v_status <> 'open' THEN
        RAISE EXCEPTION 'clearing item % belongs to clearing batch %, which is %: % refused',
            OLD.id, v_batch, v_status, TG_OP USING ERRCODE = 'P0001';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

DROP TRIGGER IF EXISTS clearing_item_batched_frozen ON points_clearing_item;
CREATE TRIGGER clearing_item_batched_frozen BEFORE UPDATE OR DELETE ON points_clearing_item
    FOR EACH ROW EXECUTE FUNCTION hub_clearing_item_guard();

-- TRUNCATE bypasses row triggers: refuse it on every table a closed batch is made of, and on the
-- clearing items. The one exception is a session that says so (SET hub.allow_truncate = 'on'):
-- the test runner's flush between transactional tests sets it for the test database
-- (tests/conftest.py). In production the application's role should not hold TRUNCATE on these
-- tables either (docs/clearing.md); this trigger also stops a role that does.
CREATE OR REPLACE FUNCTION hub_clearing_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('hub.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE on % refused: clearing batches and their items never change', TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['hub_clearing_batch', 'hub_clearing_batch_item', 'hub_clearing_line',
                             'hub_clearing_position', 'hub_settlement_instruction', 'hub_clearing_document',
                             'points_clearing_item'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_no_truncate', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION hub_clearing_truncate_guard()', t || '_no_truncate', t);
    END LOOP;
END $$;
