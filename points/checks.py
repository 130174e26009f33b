"""The ledger's invariants, checked set-based in SQL (``manage.py check_ledger``, tests, nightly).

Every invariant holds per program (points of two programs never offset each other). The SQL uses
the account kinds of points/contract.py (``__AVAILABLE__`` etc., rendered once at import).
"""

from __future__ import annotations

from django.db import connection

from points.contract import render_sql

# name -> (description, SQL returning offending rows; empty means the invariant holds)
_INVARIANTS: dict[str, tuple[str, str]] = {
    "balanced_transactions": (
        "every ledger transaction sums to zero",
        "SELECT txn_id, sum(amount) FROM points_posting GROUP BY txn_id HAVING sum(amount) <> 0 LIMIT 20",
    ),
    "balanced_per_program": (
        "every ledger transaction sums to zero within each program (a conversion balances in both)",
        """SELECT p.txn_id, a.program_id, sum(p.amount) FROM points_posting p
             JOIN points_account a ON a.id = p.account_id
            GROUP BY p.txn_id, a.program_id HAVING sum(p.amount) <> 0 LIMIT 20""",
    ),
    "member_balances_match_postings": (
        "every member account's balance equals the sum of its postings",
        """SELECT a.id, a.balance, coalesce(s.total, 0) FROM points_account a
             LEFT JOIN (SELECT account_id, sum(amount) AS total FROM points_posting GROUP BY account_id) s
               ON s.account_id = a.id
            WHERE a.kind IN (__MEMBER_KINDS__) AND a.balance <> coalesce(s.total, 0) LIMIT 20""",
    ),
    "lots_match_balances": (
        "every member available/pending balance equals the sum of the open lots in that account",
        """SELECT a.id, a.balance, coalesce(l.total, 0) FROM points_account a
             LEFT JOIN (SELECT account_id, sum(remaining) AS total FROM points_lot GROUP BY account_id) l
               ON l.account_id = a.id
            WHERE a.kind IN (__AVAILABLE__, __PENDING__) AND a.balance <> coalesce(l.total, 0) LIMIT 20""",
    ),
    "nothing_negative": (
        "no member balance, lot or net lot usage is negative",
        """SELECT 'account', id, balance FROM points_account WHERE kind IN (__MEMBER_KINDS__) AND balance < 0
           UNION ALL SELECT 'lot', id, remaining FROM points_lot WHERE remaining < 0
           UNION ALL SELECT 'usage', operation_id, sum(amount) FROM points_lot_usage
                      GROUP BY operation_id, lot_id HAVING sum(amount) < 0
           LIMIT 20""",
    ),
    "lots_account_for_their_points": (
        "every lot's original points are remaining, expired, or taken by usages not given back",
        """SELECT l.id, l.original, l.remaining, l.expired, coalesce(u.net, 0) FROM points_lot l
             LEFT JOIN (SELECT lot_id, sum(amount) AS net FROM points_lot_usage
                         WHERE restored_to_id IS NULL GROUP BY lot_id) u ON u.lot_id = l.id
            WHERE l.original <> l.remaining + l.expired + coalesce(u.net, 0) LIMIT 20""",
    ),
    "references_exist": (
        "every reference written without a database foreign key points at an existing row",
        """SELECT 'posting.account', p.id FROM points_posting p
             LEFT JOIN points_account a ON a.id = p.account_id WHERE a.id IS NULL
           UNION ALL SELECT 'operation.merchant', o.id FROM points_operation o
             LEFT JOIN hub_merchant m ON m.id = o.merchant_id WHERE m.id IS NULL
           UNION ALL SELECT 'operation.store', o.id FROM points_operation o
             LEFT JOIN hub_store s ON s.id = o.store_id WHERE o.store_id IS NOT NULL AND s.id IS NULL
           UNION ALL SELECT 'operation.terminal', o.id FROM points_operation o
             LEFT JOIN hub_terminal t ON t.id = o.terminal_id WHERE o.terminal_id IS NOT NULL AND t.id IS NULL
           UNION ALL SELECT 'operation.program', o.id FROM points_operation o
             LEFT JOIN points_program g ON g.id = o.program_id WHERE o.program_id IS NOT NULL AND g.id IS NULL
           UNION ALL SELECT 'clearing.party', c.id FROM points_clearing_item c
             LEFT JOIN hub_merchant a ON a.id = c.payer_id LEFT JOIN hub_merchant b ON b.id = c.payee_id
             LEFT JOIN points_program g ON g.id = c.program_id
            WHERE a.id IS NULL OR b.id IS NULL OR (c.program_id IS NOT NULL AND g.id IS NULL)
           LIMIT 20""",
    ),
    "rollups_match_postings": (
        "every shared-account day rollup equals that day's postings, in sum and in count",
        """SELECT r.account_id, r.business_date, r.amount, coalesce(sum(p.amount), 0), r.postings, count(p.id)
             FROM points_counterparty_rollup r
             LEFT JOIN points_posting p ON p.account_id = r.account_id
              AND p.created_at >= (r.business_date::timestamp AT TIME ZONE 'Asia/Shanghai')
              AND p.created_at < ((r.business_date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
            GROUP BY r.account_id, r.business_date, r.amount, r.postings
           HAVING r.amount <> coalesce(sum(p.amount), 0) OR r.postings <> count(p.id) LIMIT 20""",
    ),
    "rollups_complete": (
        "no finished business day with postings on a shared account lacks its rollup, once the daily"
        " rollup runs: every day up to the last one rolled up, and every day from the first one rolled"
        " up to the day before yesterday (the 00:30 job rolls up yesterday), has one",
        """WITH days AS (
               SELECT p.account_id, (p.created_at AT TIME ZONE 'Asia/Shanghai')::date AS day
                 FROM points_posting p JOIN points_account a ON a.id = p.account_id AND a.kind IN (__SHARED_KINDS__)
                GROUP BY 1, 2),
           rolled AS (SELECT min(business_date) AS first, max(business_date) AS last FROM points_counterparty_rollup)
           SELECT d.account_id, d.day FROM days d, rolled
            WHERE (d.day <= rolled.last
                   OR (d.day >= rolled.first AND d.day < (now() AT TIME ZONE 'Asia/Shanghai')::date - 1))
              AND NOT EXISTS (SELECT 1 FROM points_counterparty_rollup r
                               WHERE r.account_id = d.account_id AND r.business_date = d.day)
            LIMIT 20""",
    ),
    "held_matches_holds": (
        "every member's held balance equals the points of their live (frozen) holds, per program",
        """WITH holds AS (
               SELECT member_id, program_id, sum(points) AS total FROM points_operation
                WHERE kind = 'freeze' AND status = 'frozen' GROUP BY member_id, program_id)
           SELECT a.id, a.member_id, a.program_id, a.balance, coalesce(h.total, 0) FROM points_account a
             LEFT JOIN holds h ON h.member_id = a.member_id AND h.program_id = a.program_id
            WHERE a.kind = __HELD__ AND a.balance <> coalesce(h.total, 0)
           UNION ALL
           SELECT NULL, h.member_id, h.program_id, 0, h.total FROM holds h
            WHERE NOT EXISTS (SELECT 1 FROM points_account a WHERE a.kind = __HELD__
                                 AND a.member_id = h.member_id AND a.program_id = h.program_id)
            LIMIT 20""",
    ),
    "refunded_totals_match_refunds": (
        "every sale's refunded_fen / refunded_points equal the sums of its live (not reversed) refunds",
        """SELECT o.id, o.refunded_fen, o.refunded_points, coalesce(r.fen, 0), coalesce(r.points, 0)
             FROM points_operation o
             LEFT JOIN (SELECT original_id, sum(amount_fen) AS fen, sum(points) AS points FROM points_operation
                         WHERE kind = 'refund' AND status = 'success' GROUP BY original_id) r ON r.original_id = o.id
            WHERE o.kind <> 'refund'
              AND (o.refunded_fen <> coalesce(r.fen, 0) OR o.refunded_points <> coalesce(r.points, 0))
            LIMIT 20""",
    ),
    "undone_clearing_nets_zero": (
        "the clearing items of a reversed operation, and of a fully refunded one with all its refunds"
        " (and their reversals), net to zero per payer, payee, program and kind, to the fen",
        """WITH undone AS (
               SELECT id FROM points_operation WHERE status = 'reversed' AND kind <> 'tombstone'
               UNION ALL
               SELECT id FROM points_operation
                WHERE kind IN ('earn', 'redeem', 'freeze') AND status IN ('success', 'confirmed')
                  AND amount_fen > 0 AND refunded_fen = amount_fen),
           family AS (
               SELECT u.id AS op, u.id AS item_op FROM undone u
               UNION ALL
               SELECT u.id, r.id FROM undone u JOIN points_operation r ON r.original_id = u.id)
           SELECT f.op, c.payer_id, c.payee_id, c.program_id, c.kind,
                  sum(c.points), sum(c.amount_fen), sum(c.fee_fen)
             FROM family f JOIN points_clearing_item c ON c.operation_id = f.item_op
            GROUP BY f.op, c.payer_id, c.payee_id, c.program_id, c.kind
           HAVING sum(c.points) <> 0 OR sum(c.amount_fen) <> 0 OR sum(c.fee_fen) <> 0
            LIMIT 20""",
    ),
}
INVARIANTS: dict[str, tuple[str, str]] = {name: (text, render_sql(sql)) for name, (text, sql) in _INVARIANTS.items()}


def check_ledger() -> dict[str, list[tuple]]:
    """Return {invariant name: offending rows} for every invariant that does not hold."""
    problems: dict[str, list[tuple]] = {}
    with connection.cursor() as cursor:
        for name, (_, sql) in INVARIANTS.items():
            cursor.execute(sql)
            rows = cursor.fetchall()
            if rows:
                problems[name] = rows
    return problems
