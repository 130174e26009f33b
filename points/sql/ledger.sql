-- The atomic writes of the points ledger. Python decides *what* to write (points.services builds
-- the legs, clearing items and result); these functions write it in one round trip and enforce
-- what the database can: balanced transactions, append-only postings, non-negative balances and
-- lots, FIFO-by-expiry consumption, idempotency per merchant × request number.
--
-- Loaded by a migration (points/migrations/0002_ledger_sql.py); safe to run again. The file is a
-- template: __AVAILABLE__, __MEMBER_KINDS__ etc. are the account kinds of points/contract.py, put in
-- by points.contract.render_sql when a migration loads it (one definition, in Python).

-- ---------------------------------------------------------------------------------------------
-- Append-only: postings, lot usages and ledger transactions are never updated or deleted.
CREATE OR REPLACE FUNCTION points_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the points ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END $$;

DROP TRIGGER IF EXISTS posting_append_only ON points_posting;
CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON points_posting
    FOR EACH ROW EXECUTE FUNCTION points_forbid_change();
DROP TRIGGER IF EXISTS lot_usage_append_only ON points_lot_usage;
CREATE TRIGGER lot_usage_append_only BEFORE UPDATE OR DELETE ON points_lot_usage
    FOR EACH ROW EXECUTE FUNCTION points_forbid_change();
DROP TRIGGER IF EXISTS txn_append_only ON points_txn;
CREATE TRIGGER txn_append_only BEFORE UPDATE OR DELETE ON points_txn
    FOR EACH ROW EXECUTE FUNCTION points_forbid_change();

-- ---------------------------------------------------------------------------------------------
-- Balanced: every INSERT statement on points_posting adds, per transaction it touches, postings
-- that sum to zero. Postings are never updated or deleted (above), so by induction every
-- transaction sums to zero over all its postings, and the check needs only the statement's own
-- rows (the transition table), never a join with the whole of points_posting: it stays as cheap
-- at 10^7 postings as at 10^4. (Joining all of a transaction's postings here cost ~1 ms per call
-- under load, measured with track_functions = all; summing the transition table ~0.03 ms.)
-- check_ledger's balanced_transactions still sums everything, as the net for anything that went
-- around the trigger.
CREATE OR REPLACE FUNCTION points_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.txn_id, sum(n.amount) AS total INTO bad
      FROM new_postings n
     GROUP BY n.txn_id
    HAVING sum(n.amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', bad.txn_id, bad.total
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS posting_balanced ON points_posting;
CREATE TRIGGER posting_balanced AFTER INSERT ON points_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION points_check_balanced();

-- ---------------------------------------------------------------------------------------------
-- The account of (kind, program, member | party), created on first use.
CREATE OR REPLACE FUNCTION points_account_id(p_kind int, p_program bigint, p_member bigint, p_party bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    IF p_member IS NOT NULL THEN
        SELECT id INTO v FROM points_account
         WHERE member_id = p_member AND program_id = p_program AND kind = p_kind;
    ELSE
        SELECT id INTO v FROM points_account
         WHERE party_id = p_party AND program_id = p_program AND kind = p_kind;
    END IF;
    IF v IS NULL THEN
        INSERT INTO points_account (program_id, kind, member_id, party_id, balance)
        VALUES (p_program, p_kind, p_member, p_party, 0)
        ON CONFLICT DO NOTHING
        RETURNING id INTO v;
        IF v IS NULL THEN  -- created by a concurrent transaction meanwhile
            IF p_member IS NOT NULL THEN
                SELECT id INTO v FROM points_account
                 WHERE member_id = p_member AND program_id = p_program AND kind = p_kind;
            ELSE
                SELECT id INTO v FROM points_account
                 WHERE party_id = p_party AND program_id = p_program AND kind = p_kind;
            END IF;
        END IF;
    END IF;
    RETURN v;
END $$;

-- Spendable points of an account: its open lots that have not expired at p_now.
CREATE OR REPLACE FUNCTION points_spendable(p_account bigint, p_now timestamptz)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(remaining), 0)::bigint FROM points_lot
     WHERE account_id = p_account AND remaining > 0 AND (expires_at IS NULL OR expires_at > p_now)
$$;

-- ---------------------------------------------------------------------------------------------
-- points_apply(p jsonb) -> jsonb: record one operation and write its legs, in one call.
--
-- p = {
--   "now": timestamptz,
--   "op": {merchant_id, request_no, kind, status, fingerprint, store_id, terminal_id, member_id,
--          program_id, original_id, points, amount_fen, hold_expires_at, business_time,
--          business_date}            -- inserted unless "op_id" is given
--   "op_id": id,                     -- act for an operation the caller already holds (locked)
--   "refuse": {"code", "message"},   -- record a refusal decided in Python, write nothing else
--   "guard": {op, status, refunded_fen, refunded_points, unexpired, add_fen, add_points, new_status},
--   "txn_kind": "earn" | ...,
--   "legs": [{"account": [kind, program, member, party], "amount": n,
--             "take": true | "take_lot": lot_id | "new_lot": {expires_at, matures_at}
--             | "restore": {"operation": op_id, "grace_days": d}
--             | "claw": {"lot": lot_id, "owed": n, "counter": leg index}
--             | "reclaim": {"lots": [[lot_id, n], ...], "usage_operation": op_id,
--                           "breakage": [kind, program, member, party]}}],
--   "clearing": [{payer, payee, program, kind, points, amount_fen, fee_fen}],
--   "daily_cap": {"limit", "merchant", "program", "member", "date", "points"},
--   "balance_of": [kind, program, member],   -- points_balance in the result
--   "result": {...},                         -- stored as the operation's first answer
--   "reverse": {original, fen, points}       -- the operation is reversed by this call (see 3c)
-- }
-- The keys are named once in points/contract.py, which validates every payload before the call.
-- Returns {"op_id", "txn_id", "points_balance", "result"} on success,
--         {"op_id", "error_code"} on a refusal (recorded on an inserted operation),
--         {"replay": true, "op_id", "kind", "status", "fingerprint", "error_code", "result"} when
--         the merchant's request number exists already.
CREATE OR REPLACE FUNCTION points_apply(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o jsonb := p->'op';
    v_now timestamptz := coalesce((p->>'now')::timestamptz, now());
    v_op bigint;
    v_inserted boolean := false;
    v_txn bigint;
    v_existing record;
    v_leg jsonb;
    v_acc bigint;
    v_kind int;
    v_amount bigint;
    v_accounts bigint[] := '{}';
    v_amounts bigint[] := '{}';
    v_member_accounts bigint[] := '{}';
    v_left bigint;
    v_take bigint;
    v_lot record;
    v_new_lot bigint;
    v_used bigint;
    v_balance bigint;
    v_result jsonb;
    v_error text;
    v_legs int := coalesce(jsonb_array_length(p->'legs'), 0);
    v_pending bigint;
    v_chain bigint[];
    v_spent bigint;
    v_from_lots bigint;
    v_from_pending bigint;
    v_forgiven bigint;
    v_clawed bigint;
    v_unexpired bigint;
    v_counter int;
    v_pair jsonb;
    i int;
BEGIN
    -- 1. The operation row is the idempotency key.
    IF p ? 'op_id' THEN
        v_op := (p->>'op_id')::bigint;
    ELSE
        INSERT INTO points_operation (
            merchant_id, request_no, kind, status, fingerprint, store_id, terminal_id, member_id,
            program_id, original_id, points, amount_fen, refunded_fen, refunded_points,
            hold_expires_at, error_code, result, business_time, business_date, created_at)
        VALUES (
            (o->>'merchant_id')::bigint, o->>'request_no', o->>'kind',
            CASE WHEN p ? 'refuse' THEN 'refused' ELSE o->>'status' END,
            o->>'fingerprint', (o->>'store_id')::bigint, (o->>'terminal_id')::bigint,
            (o->>'member_id')::bigint, (o->>'program_id')::bigint, (o->>'original_id')::bigint,
            coalesce((o->>'points')::bigint, 0), coalesce((o->>'amount_fen')::bigint, 0), 0, 0,
            (o->>'hold_expires_at')::timestamptz,
            coalesce(p->'refuse'->>'code', ''), p->'refuse',
            (o->>'business_time')::timestamptz, (o->>'business_date')::date, v_now)
        ON CONFLICT (merchant_id, request_no) DO NOTHING
        RETURNING id INTO v_op;
        IF v_op IS NULL THEN
            SELECT id, kind, status, fingerprint, error_code, result INTO v_existing
              FROM points_operation
             WHERE merchant_id = (o->>'merchant_id')::bigint AND request_no = o->>'request_no';
            RETURN jsonb_build_object(
                'replay', true, 'op_id', v_existing.id, 'kind', v_existing.kind,
                'status', v_existing.status, 'fingerprint', v_existing.fingerprint,
                'error_code', v_existing.error_code, 'result', v_existing.result);
        END IF;
        v_inserted := true;
    END IF;
    IF p ? 'refuse' THEN
        RETURN jsonb_build_object('op_id', v_op, 'error_code', p->'refuse'->>'code');
    END IF;

    -- 2. Lock order, everywhere: the operation acted on, then the members' accounts in id
    --    order, then their lots. Resolve the accounts and take the locks.
    IF p ? 'guard' THEN
        PERFORM 1 FROM points_operation WHERE id = (p->'guard'->>'op')::bigint FOR UPDATE;
    END IF;
    FOR i IN 0 .. v_legs - 1 LOOP
        v_leg := p->'legs'->i;
        v_kind := (v_leg->'account'->>0)::int;
        v_acc := points_account_id(v_kind, (v_leg->'account'->>1)::bigint,
                                   (v_leg->'account'->>2)::bigint, (v_leg->'account'->>3)::bigint);
        v_accounts := v_accounts || v_acc;
        v_amounts := v_amounts || (v_leg->>'amount')::bigint;
        IF v_kind IN (__MEMBER_KINDS__) THEN
            v_member_accounts := v_member_accounts || v_acc;
        END IF;
        IF v_leg ? 'claw' THEN
            -- The earned lot may live in the member's pending account (or move there→available
            -- under the maturation sweep): lock that account too, if it exists.
            SELECT id INTO v_pending FROM points_account
             WHERE member_id = (v_leg->'account'->>2)::bigint AND program_id = (v_leg->'account'->>1)::bigint
               AND kind = __PENDING__;
            IF v_pending IS NOT NULL THEN
                v_member_accounts := v_member_accounts || v_pending;
            END IF;
        END IF;
    END LOOP;
    PERFORM 1 FROM points_account WHERE id = ANY (v_member_accounts) ORDER BY id FOR UPDATE;

    BEGIN
        -- 2b. Optimistic guard on the operation this one acts on (a refund's original, a hold being
        --     confirmed or released): it must still be as Python read it. The UPDATE locks that row,
        --     so concurrent actions on one original are serialised; a loser raises P0020 and the
        --     whole call rolls back for Python to read again and retry.
        IF p ? 'guard' THEN
            UPDATE points_operation
               SET refunded_fen = refunded_fen + coalesce((p->'guard'->>'add_fen')::bigint, 0),
                   refunded_points = refunded_points + coalesce((p->'guard'->>'add_points')::bigint, 0),
                   status = coalesce(p->'guard'->>'new_status', status)
             WHERE id = (p->'guard'->>'op')::bigint
               AND status = p->'guard'->>'status'
               AND refunded_fen = coalesce((p->'guard'->>'refunded_fen')::bigint, refunded_fen)
               AND refunded_points = coalesce((p->'guard'->>'refunded_points')::bigint, refunded_points)
               AND (NOT coalesce((p->'guard'->>'unexpired')::boolean, false) OR hold_expires_at > v_now);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'operation % changed meanwhile', p->'guard'->>'op' USING ERRCODE = 'P0020';
            END IF;
        END IF;

        -- 3. Limits that depend on other operations are checked under the member's lock.
        IF p ? 'daily_cap' THEN
            SELECT coalesce(sum(points - refunded_points), 0) INTO v_used FROM points_operation
             WHERE member_id = (p->'daily_cap'->>'member')::bigint
               AND merchant_id = (p->'daily_cap'->>'merchant')::bigint
               AND program_id = (p->'daily_cap'->>'program')::bigint
               AND business_date = (p->'daily_cap'->>'date')::date
               AND kind IN ('redeem', 'freeze') AND status IN ('success', 'frozen', 'confirmed')
               AND NOT (status = 'frozen' AND hold_expires_at <= v_now)  -- expired, not yet swept
               AND id <> v_op;
            IF v_used + (p->'daily_cap'->>'points')::bigint > (p->'daily_cap'->>'limit')::bigint THEN
                RAISE EXCEPTION 'REDEEM_LIMIT_EXCEEDED' USING ERRCODE = 'P0010';
            END IF;
        END IF;

        -- 3c. A reverse: the operation is reversed (a refused one keeps its status), and a reversed
        --     refund no longer counts in its original's refunded totals (the original is locked).
        IF p ? 'reverse' THEN
            UPDATE points_operation
               SET reversed_at = v_now, status = CASE WHEN status = 'refused' THEN status ELSE 'reversed' END
             WHERE id = v_op;
            IF p->'reverse'->>'original' IS NOT NULL THEN
                UPDATE points_operation
                   SET refunded_fen = refunded_fen - coalesce((p->'reverse'->>'fen')::bigint, 0),
                       refunded_points = refunded_points - coalesce((p->'reverse'->>'points')::bigint, 0)
                 WHERE id = (p->'reverse'->>'original')::bigint;
            END IF;
        END IF;

        -- A reverse that moves nothing (a tombstone, a refused request) writes no transaction.
        IF v_legs > 0 OR jsonb_array_length(coalesce(p->'clearing', '[]')) > 0 OR NOT p ? 'reverse' THEN
            INSERT INTO points_txn (kind, operation_id, created_at)
            VALUES (p->>'txn_kind', coalesce((p->>'txn_operation')::bigint, v_op), v_now)
            RETURNING id INTO v_txn;
        END IF;

        -- 4. Lots.
        FOR i IN 0 .. v_legs - 1 LOOP
            v_leg := p->'legs'->i;
            v_acc := v_accounts[i + 1];
            v_amount := v_amounts[i + 1];
            IF v_leg ? 'take_lot' THEN
                UPDATE points_lot SET remaining = remaining + v_amount
                 WHERE id = (v_leg->>'take_lot')::bigint AND account_id = v_acc AND remaining >= -v_amount;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'POINTS_INSUFFICIENT' USING ERRCODE = 'P0011';
                END IF;
                INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount)
                VALUES (v_txn, coalesce((v_leg->>'usage_operation')::bigint, v_op), (v_leg->>'take_lot')::bigint, -v_amount);
            ELSIF v_leg ? 'take' THEN
                v_left := -v_amount;
                FOR v_lot IN
                    SELECT id, remaining FROM points_lot
                     WHERE account_id = v_acc AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_now)
                     ORDER BY expires_at NULLS LAST, id
                       FOR UPDATE
                LOOP
                    EXIT WHEN v_left = 0;
                    v_take := least(v_left, v_lot.remaining);
                    UPDATE points_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
                    INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount)
                    VALUES (v_txn, coalesce((v_leg->>'usage_operation')::bigint, v_op), v_lot.id, v_take);
                    v_left := v_left - v_take;
                END LOOP;
                IF v_left > 0 THEN
                    RAISE EXCEPTION 'POINTS_INSUFFICIENT' USING ERRCODE = 'P0011';
                END IF;
            ELSIF v_leg ? 'claw' THEN
                -- Take back the points of an earned lot (a refund or reverse of an earn, the reverse
                -- of a conversion's target), decided here under the locks, not from an earlier read:
                --   1. from the lot itself and the lots its points were re-credited to (restored_from
                --      chain), in whichever member account each lives now (pending or available);
                --   2. the part of them the member has spent: from the member's other available lots,
                --      earliest expiry first (refused POINTS_INSUFFICIENT if they are not there);
                --   3. the part that expired is not taken again: it is already the issuer's breakage.
                --      It is forgiven, and the counter leg (the issuer's liability) shrinks by it.
                -- "owed" is what the earn still has outstanding (its points less the live refunds').
                v_left := -v_amount;
                WITH RECURSIVE chain(id) AS (
                    SELECT (v_leg->'claw'->>'lot')::bigint
                    UNION ALL
                    SELECT l.id FROM points_lot l JOIN chain c ON l.restored_from_id = c.id)
                SELECT array_agg(id) INTO v_chain FROM chain;
                SELECT coalesce(sum(remaining), 0), coalesce(sum(expired), 0) INTO v_take, v_unexpired
                  FROM (SELECT remaining, expired FROM points_lot WHERE id = ANY (v_chain) ORDER BY id FOR UPDATE) x;
                v_spent := greatest(0, (v_leg->'claw'->>'owed')::bigint - v_take - v_unexpired);
                v_from_lots := 0;
                v_from_pending := 0;
                FOR v_lot IN
                    SELECT l.id, l.account_id, l.remaining FROM points_lot l
                     WHERE l.id = ANY (v_chain) AND l.remaining > 0
                     ORDER BY l.id = (v_leg->'claw'->>'lot')::bigint DESC, l.expires_at NULLS LAST, l.id
                LOOP
                    EXIT WHEN v_left = 0;
                    IF NOT v_lot.account_id = ANY (v_member_accounts) THEN
                        RAISE EXCEPTION 'lot % is not the member''s', v_lot.id USING ERRCODE = 'P0012';
                    END IF;
                    v_take := least(v_left, v_lot.remaining);
                    UPDATE points_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
                    INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount)
                    VALUES (v_txn, coalesce((v_leg->>'usage_operation')::bigint, v_op), v_lot.id, v_take);
                    IF v_lot.account_id = v_acc THEN
                        v_from_lots := v_from_lots + v_take;
                    ELSE
                        v_from_pending := v_from_pending + v_take;
                    END IF;
                    v_left := v_left - v_take;
                END LOOP;
                v_take := least(v_left, v_spent);  -- what the member spent: from other lots
                v_forgiven := v_left - v_take;
                v_left := v_take;
                FOR v_lot IN
                    SELECT id, remaining FROM points_lot
                     WHERE account_id = v_acc AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_now)
                     ORDER BY expires_at NULLS LAST, id
                       FOR UPDATE
                LOOP
                    EXIT WHEN v_left = 0;
                    v_take := least(v_left, v_lot.remaining);
                    UPDATE points_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
                    INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount)
                    VALUES (v_txn, coalesce((v_leg->>'usage_operation')::bigint, v_op), v_lot.id, v_take);
                    v_from_lots := v_from_lots + v_take;
                    v_left := v_left - v_take;
                END LOOP;
                IF v_left > 0 THEN
                    RAISE EXCEPTION 'POINTS_INSUFFICIENT' USING ERRCODE = 'P0011';
                END IF;
                v_amounts[i + 1] := -v_from_lots;
                IF v_from_pending > 0 THEN
                    SELECT id INTO v_pending FROM points_account
                     WHERE member_id = (v_leg->'account'->>2)::bigint AND program_id = (v_leg->'account'->>1)::bigint
                       AND kind = __PENDING__;
                    v_accounts := v_accounts || v_pending;
                    v_amounts := v_amounts || -v_from_pending;
                END IF;
                v_counter := (v_leg->'claw'->>'counter')::int + 1;
                v_amounts[v_counter] := v_amounts[v_counter] - sign(v_amounts[v_counter])::bigint * v_forgiven;
                v_clawed := coalesce(v_clawed, 0) + v_from_lots + v_from_pending;
            ELSIF v_leg ? 'reclaim' THEN
                -- Undo a give-back (the reverse of a refund of a payment): take the points back from
                -- exactly the lots the refund gave them to, for the operation they belong to again:
                --   1. what is left of them in that lot;
                --   2. what of them expired there meanwhile: from the issuer's breakage (the lot's
                --      expiry is undone for them; they were the merchant's, not breakage);
                --   3. what the member has spent of them: from the member's other lots, earliest
                --      expiry first (refused POINTS_INSUFFICIENT if they are not there).
                v_from_lots := 0;
                v_unexpired := 0;
                v_left := 0;
                FOR v_pair IN
                    SELECT x FROM jsonb_array_elements(v_leg->'reclaim'->'lots') x ORDER BY (x->>0)::bigint
                LOOP
                    SELECT id, account_id, remaining, expired INTO v_lot FROM points_lot
                     WHERE id = (v_pair->>0)::bigint FOR UPDATE;
                    IF NOT FOUND OR v_lot.account_id <> v_acc THEN
                        RAISE EXCEPTION 'lot % is not in account %', v_pair->>0, v_acc USING ERRCODE = 'P0012';
                    END IF;
                    v_take := least((v_pair->>1)::bigint, v_lot.remaining);
                    v_used := least((v_pair->>1)::bigint - v_take, v_lot.expired);
                    UPDATE points_lot SET remaining = remaining - v_take, expired = expired - v_used WHERE id = v_lot.id;
                    IF v_take + v_used > 0 THEN
                        INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount)
                        VALUES (v_txn, (v_leg->'reclaim'->>'usage_operation')::bigint, v_lot.id, v_take + v_used);
                    END IF;
                    v_from_lots := v_from_lots + v_take;
                    v_unexpired := v_unexpired + v_used;
                    v_left := v_left + (v_pair->>1)::bigint - v_take - v_used;
                END LOOP;
                IF v_from_lots + v_unexpired + v_left <> -v_amount THEN
                    RAISE EXCEPTION 'reclaim lots do not add up to the leg' USING ERRCODE = 'P0012';
                END IF;
                FOR v_lot IN
                    SELECT id, remaining FROM points_lot
                     WHERE account_id = v_acc AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_now)
                     ORDER BY expires_at NULLS LAST, id
                       FOR UPDATE
                LOOP
                    EXIT WHEN v_left = 0;
                    v_take := least(v_left, v_lot.remaining);
                    UPDATE points_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
                    INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount)
                    VALUES (v_txn, (v_leg->'reclaim'->>'usage_operation')::bigint, v_lot.id, v_take);
                    v_from_lots := v_from_lots + v_take;
                    v_left := v_left - v_take;
                END LOOP;
                IF v_left > 0 THEN
                    RAISE EXCEPTION 'POINTS_INSUFFICIENT' USING ERRCODE = 'P0011';
                END IF;
                v_amounts[i + 1] := -v_from_lots;
                IF v_unexpired > 0 THEN
                    v_accounts := v_accounts || points_account_id(
                        (v_leg->'reclaim'->'breakage'->>0)::int, (v_leg->'reclaim'->'breakage'->>1)::bigint,
                        NULL, (v_leg->'reclaim'->'breakage'->>3)::bigint);
                    v_amounts := v_amounts || -v_unexpired;
                END IF;
            ELSIF v_leg ? 'new_lot' THEN
                INSERT INTO points_lot (account_id, source_operation_id, restored_from_id, original,
                                        remaining, expired, expires_at, matures_at, created_at)
                VALUES (v_acc, v_op, NULL, v_amount, v_amount, 0,
                        (v_leg->'new_lot'->>'expires_at')::timestamptz,
                        (v_leg->'new_lot'->>'matures_at')::timestamptz, v_now);
            ELSIF v_leg ? 'restore' THEN
                -- Give points back to the lots this operation took that live in this account,
                -- latest expiry first; a lot that has expired meanwhile is re-credited here as a
                -- new lot with a grace expiry (never silently lost, never silently extended).
                v_left := v_amount;
                FOR v_lot IN
                    SELECT l.id, l.expires_at, u.net FROM (
                        SELECT lot_id, sum(amount) AS net FROM points_lot_usage
                         WHERE operation_id = (v_leg->'restore'->>'operation')::bigint
                         GROUP BY lot_id HAVING sum(amount) > 0) u
                      JOIN points_lot l ON l.id = u.lot_id
                     WHERE l.account_id = v_acc
                     ORDER BY l.expires_at DESC NULLS FIRST, l.id DESC
                       FOR UPDATE OF l
                LOOP
                    EXIT WHEN v_left = 0;
                    v_take := least(v_left, v_lot.net);
                    IF v_lot.expires_at IS NOT NULL AND v_lot.expires_at <= v_now THEN
                        INSERT INTO points_lot (account_id, source_operation_id, restored_from_id, original,
                                                remaining, expired, expires_at, matures_at, created_at)
                        VALUES (v_acc, v_op, v_lot.id, v_take, v_take, 0,
                                v_now + make_interval(days => (v_leg->'restore'->>'grace_days')::int),
                                NULL, v_now)
                        RETURNING id INTO v_new_lot;
                    ELSE
                        UPDATE points_lot SET remaining = remaining + v_take WHERE id = v_lot.id;
                        v_new_lot := NULL;
                    END IF;
                    INSERT INTO points_lot_usage (txn_id, operation_id, lot_id, amount, restored_to_id)
                    VALUES (v_txn, (v_leg->'restore'->>'operation')::bigint, v_lot.id, -v_take, v_new_lot);
                    v_left := v_left - v_take;
                END LOOP;
                IF v_left > 0 THEN
                    RAISE EXCEPTION 'cannot restore % points more than operation % took', v_left,
                        v_leg->'restore'->>'operation' USING ERRCODE = 'P0012';
                END IF;
            END IF;
        END LOOP;

        -- 5. Postings in one statement (the balance trigger checks the transaction), then the
        --    running balances of the members' own accounts (the CHECK keeps them >= 0).
        INSERT INTO points_posting (txn_id, account_id, amount, created_at)
        SELECT v_txn, a, n, v_now FROM unnest(v_accounts, v_amounts) AS t(a, n) WHERE n <> 0;
        UPDATE points_account acc SET balance = acc.balance + d.delta
          FROM (SELECT a, sum(n) AS delta FROM unnest(v_accounts, v_amounts) AS t(a, n)
                 WHERE a = ANY (v_member_accounts) GROUP BY a) d
         WHERE acc.id = d.a;

        -- 6. What the parties owe each other.
        IF jsonb_array_length(coalesce(p->'clearing', '[]')) > 0 THEN
            INSERT INTO points_clearing_item (txn_id, operation_id, payer_id, payee_id, program_id, kind,
                                              points, amount_fen, fee_fen, created_at)
            SELECT v_txn, coalesce((p->>'txn_operation')::bigint, v_op), x.payer, x.payee, x.program, x.kind,
                   x.points, x.amount_fen, coalesce(x.fee_fen, 0), v_now
              FROM jsonb_to_recordset(p->'clearing')
                AS x(payer bigint, payee bigint, program bigint, kind text, points bigint,
                     amount_fen bigint, fee_fen bigint);
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'P0010' THEN v_error := 'REDEEM_LIMIT_EXCEEDED';
        WHEN SQLSTATE 'P0011' THEN v_error := 'POINTS_INSUFFICIENT';
        WHEN check_violation THEN
            IF SQLERRM LIKE '%member_balance_never_negative%' OR SQLERRM LIKE '%lot_remaining_never_negative%' THEN
                v_error := 'POINTS_INSUFFICIENT';
            ELSE
                RAISE;
            END IF;
    END;

    IF v_error IS NOT NULL THEN
        v_result := jsonb_build_object('code', v_error);
        IF v_inserted THEN
            UPDATE points_operation SET status = 'refused', error_code = v_error, result = v_result
             WHERE id = v_op;
        END IF;
        RETURN jsonb_build_object('op_id', v_op, 'error_code', v_error);
    END IF;

    -- 7. The first answer, with the balance after.
    IF p ? 'balance_of' THEN
        v_balance := points_spendable(
            points_account_id((p->'balance_of'->>0)::int, (p->'balance_of'->>1)::bigint,
                              (p->'balance_of'->>2)::bigint, NULL), v_now);
    END IF;
    v_result := coalesce(p->'result', '{}'::jsonb);
    IF v_balance IS NOT NULL THEN
        v_result := v_result || jsonb_build_object('points_balance', v_balance);
    END IF;
    IF v_clawed IS NOT NULL AND p ? 'result' THEN  -- what claw legs actually took back
        v_result := v_result || jsonb_build_object('points_clawed_back', v_clawed);
    END IF;
    IF v_inserted THEN
        UPDATE points_operation SET result = v_result WHERE id = v_op;
    END IF;
    RETURN jsonb_build_object('op_id', v_op, 'txn_id', v_txn, 'points_balance', v_balance, 'result', v_result);
END $$;

-- ---------------------------------------------------------------------------------------------
-- Sweeps, set-based and bounded: each call handles at most p_limit lots in one transaction.

-- Expire lots whose expiry has passed: available -> the issuer's breakage account.
CREATE OR REPLACE FUNCTION points_expire_batch(p_now timestamptz, p_limit int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_accounts bigint[];
    v_txn bigint;
    v_count int;
BEGIN
    SELECT array_agg(DISTINCT s.account_id ORDER BY s.account_id) INTO v_accounts FROM (
        SELECT l.account_id FROM points_lot l
         WHERE l.remaining > 0 AND l.expires_at <= p_now AND l.matures_at IS NULL
         ORDER BY l.expires_at, l.id LIMIT p_limit) s;
    IF v_accounts IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM points_account WHERE id = ANY (v_accounts) AND kind = __AVAILABLE__ ORDER BY id FOR UPDATE;

    CREATE TEMP TABLE IF NOT EXISTS _expiring (lot_id bigint, account_id bigint, program_id bigint,
                                               issuer_id bigint, points bigint) ON COMMIT DROP;
    TRUNCATE _expiring;
    INSERT INTO _expiring
    SELECT l.id, l.account_id, a.program_id, pr.issuer_id, l.remaining
      FROM points_lot l
      JOIN points_account a ON a.id = l.account_id AND a.kind = __AVAILABLE__
      JOIN points_program pr ON pr.id = a.program_id
     WHERE l.account_id = ANY (v_accounts) AND l.remaining > 0 AND l.expires_at <= p_now
       FOR UPDATE OF l;
    SELECT count(*) INTO v_count FROM _expiring;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;

    UPDATE points_lot l SET expired = l.expired + e.points, remaining = 0
      FROM _expiring e WHERE l.id = e.lot_id;
    INSERT INTO points_txn (kind, operation_id, created_at) VALUES ('expire', NULL, p_now)
    RETURNING id INTO v_txn;
    INSERT INTO points_posting (txn_id, account_id, amount, created_at)
    SELECT v_txn, account_id, -sum(points), p_now FROM _expiring GROUP BY account_id
    UNION ALL
    SELECT v_txn, points_account_id(__BREAKAGE__, program_id, NULL, issuer_id), sum(points), p_now
      FROM _expiring GROUP BY program_id, issuer_id;
    UPDATE points_account a SET balance = a.balance - s.total
      FROM (SELECT account_id, sum(points) AS total FROM _expiring GROUP BY account_id) s
     WHERE a.id = s.account_id;
    RETURN v_count;
END $$;

-- Mature pending lots whose return window has passed: pending -> available.
CREATE OR REPLACE FUNCTION points_mature_batch(p_now timestamptz, p_limit int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_pending bigint[];
    v_all bigint[];
    v_txn bigint;
    v_count int;
BEGIN
    SELECT array_agg(DISTINCT s.account_id ORDER BY s.account_id) INTO v_pending FROM (
        SELECT l.account_id FROM points_lot l
         WHERE l.matures_at IS NOT NULL AND l.matures_at <= p_now
         ORDER BY l.matures_at, l.id LIMIT p_limit) s;
    IF v_pending IS NULL THEN
        RETURN 0;
    END IF;

    CREATE TEMP TABLE IF NOT EXISTS _maturing (lot_id bigint, pending_id bigint, available_id bigint,
                                               points bigint) ON COMMIT DROP;
    TRUNCATE _maturing;
    -- Resolve (and create) the available accounts first, then lock both sides in id order.
    SELECT array_agg(x ORDER BY x) INTO v_all FROM (
        SELECT a.id AS x FROM points_account a WHERE a.id = ANY (v_pending)
        UNION
        SELECT points_account_id(__AVAILABLE__, a.program_id, a.member_id, NULL) FROM points_account a
         WHERE a.id = ANY (v_pending)) ids;
    PERFORM 1 FROM points_account WHERE id = ANY (v_all) ORDER BY id FOR UPDATE;

    INSERT INTO _maturing
    SELECT l.id, l.account_id, points_account_id(__AVAILABLE__, a.program_id, a.member_id, NULL), l.remaining
      FROM points_lot l JOIN points_account a ON a.id = l.account_id
     WHERE l.account_id = ANY (v_pending) AND l.matures_at IS NOT NULL AND l.matures_at <= p_now
       FOR UPDATE OF l;
    SELECT count(*) INTO v_count FROM _maturing;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;

    UPDATE points_lot l SET account_id = m.available_id, matures_at = NULL
      FROM _maturing m WHERE l.id = m.lot_id;
    IF EXISTS (SELECT 1 FROM _maturing WHERE points > 0) THEN
        INSERT INTO points_txn (kind, operation_id, created_at) VALUES ('mature', NULL, p_now)
        RETURNING id INTO v_txn;
        INSERT INTO points_posting (txn_id, account_id, amount, created_at)
        SELECT v_txn, pending_id, -sum(points), p_now FROM _maturing GROUP BY pending_id HAVING sum(points) > 0
        UNION ALL
        SELECT v_txn, available_id, sum(points), p_now FROM _maturing GROUP BY available_id HAVING sum(points) > 0;
        UPDATE points_account a SET balance = a.balance + s.delta
          FROM (SELECT pending_id AS id, -sum(points) AS delta FROM _maturing GROUP BY pending_id
                UNION ALL
                SELECT available_id, sum(points) FROM _maturing GROUP BY available_id) s
         WHERE a.id = s.id;
    END IF;
    RETURN v_count;
END $$;

-- ---------------------------------------------------------------------------------------------
-- points_earn_batch(p jsonb) -> jsonb: many earns of one merchant and program in one call, set
-- based (store-and-forward uploads of tills that were offline). Same rows, same invariants and
-- the same idempotency as points_apply per item; the first of two items with one request number
-- wins, the other replays it.
--
-- p = {"now", "merchant", "program", "issuer", "store", "terminal", "funded_by_merchant": bool,
--      "items": [{"idx", "request_no", "fp", "member_id", "points", "amount_fen", "cost_fen", "funded_points",
--                 "business_time", "business_date", "expires_at", "matures_at"}]}
-- Returns [{"idx", "op_id", "result"} | {"idx", "replay": true, "kind", "status", "fingerprint",
--           "error_code", "result"}] in item order.
CREATE OR REPLACE FUNCTION points_earn_batch(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := (p->>'now')::timestamptz;
    v_program bigint := (p->>'program')::bigint;
    v_merchant bigint := (p->>'merchant')::bigint;
    v_issuer_acc bigint;
    v_out jsonb;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS _earn (
        idx int, request_no text, fp text, member_id bigint, points bigint, amount_fen bigint,
        cost_fen bigint, funded bigint, business_time timestamptz, business_date date, expires_at timestamptz,
        matures_at timestamptz, first boolean, later bigint, acc_id bigint, op_id bigint, txn_id bigint,
        balance bigint
    ) ON COMMIT DROP;
    TRUNCATE _earn;
    -- first: the first item with its request number (a later duplicate replays it);
    -- later: available points of the same member's following first items (for the answers).
    INSERT INTO _earn (idx, request_no, fp, member_id, points, amount_fen, cost_fen, funded, business_time,
                       business_date, expires_at, matures_at, first, later)
    SELECT y.idx, y.request_no, y.fp, y.member_id, y.points, y.amount_fen, y.cost_fen,
           coalesce(y.funded_points, y.points), y.business_time,
           y.business_date, y.expires_at, y.matures_at, y.first,
           coalesce(sum(CASE WHEN y.first AND y.matures_at IS NULL THEN y.points END)
                    OVER (PARTITION BY y.member_id ORDER BY y.idx DESC
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
      FROM (SELECT x.*, x.idx = min(x.idx) OVER (PARTITION BY x.request_no) AS first
              FROM jsonb_to_recordset(p->'items') AS x(idx int, request_no text, fp text, member_id bigint,
                   points bigint, amount_fen bigint, cost_fen bigint, funded_points bigint, business_time timestamptz,
                   business_date date, expires_at timestamptz, matures_at timestamptz)) y;
    ANALYZE _earn;

    v_issuer_acc := points_account_id(__ISSUER_LIABILITY__, v_program, NULL, (p->>'issuer')::bigint);
    INSERT INTO points_account (program_id, kind, member_id, balance)
    SELECT DISTINCT v_program, CASE WHEN matures_at IS NULL THEN __AVAILABLE__ ELSE __PENDING__ END, member_id, 0 FROM _earn
    ON CONFLICT DO NOTHING;
    UPDATE _earn e SET acc_id = a.id FROM points_account a
     WHERE a.member_id = e.member_id AND a.program_id = v_program
       AND a.kind = CASE WHEN e.matures_at IS NULL THEN __AVAILABLE__ ELSE __PENDING__ END;
    WITH ins AS (
        INSERT INTO points_operation (merchant_id, request_no, kind, status, fingerprint, store_id, terminal_id,
                                      member_id, program_id, original_id, points, amount_fen, refunded_fen,
                                      refunded_points, hold_expires_at, error_code, result, business_time,
                                      business_date, created_at)
        SELECT v_merchant, e.request_no, 'earn', 'success', e.fp, (p->>'store')::bigint, (p->>'terminal')::bigint,
               e.member_id, v_program, NULL, e.points, e.amount_fen, 0, 0, NULL, '', NULL, e.business_time,
               e.business_date, v_now
          FROM _earn e
         WHERE e.first
         ORDER BY e.request_no  -- one order for every writer of these numbers (no deadlock between batches)
        ON CONFLICT (merchant_id, request_no) DO NOTHING
        RETURNING id, request_no)
    UPDATE _earn e SET op_id = ins.id FROM ins WHERE ins.request_no = e.request_no AND e.first;
    -- The lock order of points_apply, everywhere: the operation rows first (inserted above: a number
    -- another request is inserting waits for it here), then the members' accounts in id order.
    PERFORM 1 FROM points_account WHERE id IN (SELECT acc_id FROM _earn) ORDER BY id FOR UPDATE;
    ANALYZE _earn;  -- op_id is set now: without fresh statistics the planner expects no new item
                    -- and joins the 1,000 rows below in nested loops

    -- Transaction ids drawn from the sequence first, so no join is needed to learn them.
    UPDATE _earn SET txn_id = nextval(pg_get_serial_sequence('points_txn', 'id'))
     WHERE op_id IS NOT NULL AND points > 0;
    INSERT INTO points_txn (id, kind, operation_id, created_at)
    SELECT txn_id, 'earn', op_id, v_now FROM _earn WHERE txn_id IS NOT NULL ORDER BY idx;

    INSERT INTO points_lot (account_id, source_operation_id, restored_from_id, original, remaining, expired,
                            expires_at, matures_at, created_at)
    SELECT acc_id, op_id, NULL, points, points, 0, expires_at, matures_at, v_now FROM _earn WHERE txn_id IS NOT NULL;
    INSERT INTO points_posting (txn_id, account_id, amount, created_at)
    SELECT txn_id, acc_id, points, v_now FROM _earn WHERE txn_id IS NOT NULL
    UNION ALL
    SELECT txn_id, v_issuer_acc, -points, v_now FROM _earn WHERE txn_id IS NOT NULL;
    UPDATE points_account a SET balance = a.balance + s.total
      FROM (SELECT acc_id, sum(points) AS total FROM _earn WHERE txn_id IS NOT NULL GROUP BY acc_id) s
     WHERE a.id = s.acc_id;
    IF coalesce((p->>'funded_by_merchant')::boolean, false) THEN
        INSERT INTO points_clearing_item (txn_id, operation_id, payer_id, payee_id, program_id, kind, points,
                                          amount_fen, fee_fen, created_at)
        SELECT txn_id, op_id, v_merchant, (p->>'issuer')::bigint, v_program, 'earn_funding', funded, cost_fen, 0, v_now
          FROM _earn WHERE txn_id IS NOT NULL AND funded > 0;  -- campaign bonus the issuer funds: no item
    END IF;

    -- Each new item's answer carries the available balance right after it: the balance now, less
    -- the available points of the batch's later items of the same member.
    --     (``later`` counted every first item; add back those already known, which wrote nothing.)
    WITH totals AS MATERIALIZED (  -- spendable points of each member's available account, set-based
        SELECT a.member_id, coalesce(l.total, 0) AS total
          FROM points_account a
          LEFT JOIN LATERAL (  -- one index probe per account (lot_open_by_expiry), never a scan
               SELECT sum(remaining) AS total FROM points_lot
                WHERE account_id = a.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_now)) l ON true
         WHERE a.kind = __AVAILABLE__ AND a.program_id = v_program
           AND a.member_id IN (SELECT member_id FROM _earn WHERE op_id IS NOT NULL)),
    unwritten AS MATERIALIZED (  -- first items that were already known: they wrote nothing now
        SELECT idx, member_id,
               sum(CASE WHEN op_id IS NULL AND matures_at IS NULL THEN points ELSE 0 END)
                 OVER (PARTITION BY member_id ORDER BY idx DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                 AS points
          FROM _earn WHERE first)
    UPDATE _earn e SET balance = coalesce(t.total, 0) - e.later + coalesce(u.points, 0)
      FROM unwritten u LEFT JOIN totals t ON t.member_id = u.member_id
     WHERE u.idx = e.idx AND e.op_id IS NOT NULL;
    UPDATE points_operation o
       SET result = jsonb_build_object('request_no', e.request_no, 'points_earned', e.points,
                                       'points_balance', e.balance)
      FROM _earn e WHERE o.id = e.op_id;

    SELECT jsonb_agg(CASE WHEN e.op_id IS NOT NULL
                          THEN jsonb_build_object('idx', e.idx, 'op_id', e.op_id, 'result',
                               jsonb_build_object('request_no', e.request_no, 'points_earned', e.points,
                                                  'points_balance', e.balance))
                          ELSE jsonb_build_object('idx', e.idx, 'replay', true, 'op_id', o.id, 'kind', o.kind,
                                                  'status', o.status, 'fingerprint', o.fingerprint,
                                                  'error_code', o.error_code, 'result', o.result) END
                     ORDER BY e.idx)
      INTO v_out
      FROM _earn e  -- only known numbers need their stored answer: one index probe each, no scan
      LEFT JOIN LATERAL (SELECT * FROM points_operation x
                          WHERE e.op_id IS NULL AND x.merchant_id = v_merchant AND x.request_no = e.request_no) o
             ON true;
    RETURN coalesce(v_out, '[]'::jsonb);
END $$;
