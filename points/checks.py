"""The ledger's invariants, checked set-based in SQL (``manage.py check_ledger``, tests, nightly)."""

from __future__ import annotations

from django.db import connection

# name -> (description, SQL returning offending rows; empty means the invariant holds)
INVARIANTS: dict[str, tuple[str, str]] = {
    "balanced_transactions": (
        "every ledger transaction sums to zero",
        "SELECT txn_id, sum(amount) FROM points_posting GROUP BY txn_id HAVING sum(amount) <> 0 LIMIT 20",
    ),
    "member_balances_match_postings": (
        "every member account's balance equals the sum of its postings",
        """SELECT a.id, a.balance, coalesce(s.total, 0) FROM points_account a
             LEFT JOIN (SELECT account_id, sum(amount) AS total FROM points_posting GROUP BY account_id) s
               ON s.account_id = a.id
            WHERE a.kind < 10 AND a.balance <> coalesce(s.total, 0) LIMIT 20""",
    ),
    "lots_match_balances": (
        "every member available/pending balance equals the sum of the open lots in that account",
        """SELECT a.id, a.balance, coalesce(l.total, 0) FROM points_account a
             LEFT JOIN (SELECT account_id, sum(remaining) AS total FROM points_lot GROUP BY account_id) l
               ON l.account_id = a.id
            WHERE a.kind IN (1, 2) AND a.balance <> coalesce(l.total, 0) LIMIT 20""",
    ),
    "nothing_negative": (
        "no member balance, lot or net lot usage is negative",
        """SELECT 'account', id, balance FROM points_account WHERE kind < 10 AND balance < 0
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
            WHERE a.id IS NULL OR b.id IS NULL OR g.id IS NULL
           LIMIT 20""",
    ),
    "rollups_match_postings": (
        "every shared-account day rollup equals that day's postings",
        """SELECT r.account_id, r.business_date, r.amount, coalesce(sum(p.amount), 0) FROM points_counterparty_rollup r
             LEFT JOIN points_posting p ON p.account_id = r.account_id
              AND p.created_at >= (r.business_date::timestamp AT TIME ZONE 'Asia/Shanghai')
              AND p.created_at < ((r.business_date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
            GROUP BY r.account_id, r.business_date, r.amount
           HAVING r.amount <> coalesce(sum(p.amount), 0) LIMIT 20""",
    ),
}


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
