"""The rights invariants, checked set-based in SQL (``check_rights()``; tests, and the nightly job
``hub.check_ledger`` beside ``check_ledger``, where their names carry a ``rights.`` prefix).
Each query returns offending rows; empty means the invariant holds."""

from __future__ import annotations

from django.db import connection

INVARIANTS: dict[str, tuple[str, str]] = {
    "counters_within_limits": (
        "no quota counter is negative or above its limit",
        "SELECT id, used, limit_value FROM rights_quotacounter WHERE used < 0 OR used > limit_value LIMIT 20",
    ),
    "one_successful_use_per_voucher": (
        "a voucher has at most one live (reserved or successful) use",
        """SELECT voucher_id, count(*) FROM rights_redemption
            WHERE kind = 'use' AND status IN ('success', 'reserved') GROUP BY voucher_id HAVING count(*) > 1
            LIMIT 20""",
    ),
    "used_vouchers_have_their_use": (
        "a used voucher has exactly one successful use, a reserved one exactly one reservation",
        """SELECT v.id, v.state, count(r.id) FROM rights_voucher v
             LEFT JOIN rights_redemption r ON r.voucher_id = v.id AND r.kind = 'use'
                  AND r.status = CASE v.state WHEN 'used' THEN 'success' ELSE 'reserved' END
            WHERE v.state IN ('used', 'reserved') GROUP BY v.id, v.state HAVING count(r.id) <> 1 LIMIT 20""",
    ),
    "funding_nets_to_the_uses": (
        "the funding of each use is its settlement less what refunds returned, or zero once reversed",
        """SELECT r.id, r.status, r.settlement_fen, r.refunded_settlement_fen, coalesce(f.total, 0)
             FROM rights_redemption r
             LEFT JOIN (SELECT coalesce(u.original_id, u.id) AS use_id, sum(x.amount_fen) AS total
                          FROM rights_rightsfunding x JOIN rights_redemption u ON u.id = x.redemption_id
                         GROUP BY 1) f ON f.use_id = r.id
            WHERE r.kind = 'use' AND coalesce(f.total, 0) <> CASE r.status
                      WHEN 'success' THEN r.settlement_fen - r.refunded_settlement_fen ELSE 0 END
            LIMIT 20""",
    ),
    "budget_matches_funding": (
        "a right's budget counter equals the net funding of its uses plus its open reservations",
        """SELECT c.right_id, c.used, f.total, h.held FROM rights_quotacounter c
             CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) AS total FROM rights_rightsfunding
                                  WHERE right_id = c.right_id) f
             CROSS JOIN LATERAL (SELECT coalesce(sum(settlement_fen), 0) AS held FROM rights_redemption
                                  WHERE right_id = c.right_id AND kind = 'use' AND status = 'reserved') h
            WHERE c.scope = 'budget' AND c.used <> f.total + h.held LIMIT 20""",
    ),
    "claims_within_total": (
        "no right has more vouchers claimed than its total counter says",
        """SELECT c.right_id, c.used, count(v.id) FROM rights_quotacounter c
             JOIN rights_voucher v ON v.right_id = c.right_id
            WHERE c.scope = 'total' GROUP BY c.right_id, c.used HAVING count(v.id) <> c.used LIMIT 20""",
    ),
    "events_follow_states": (
        "every voucher's last event ends in its current state",
        """SELECT v.id, v.state, e.to_state FROM rights_voucher v
             JOIN LATERAL (SELECT to_state FROM rights_voucherevent WHERE voucher_id = v.id
                            ORDER BY id DESC LIMIT 1) e ON true
            WHERE e.to_state <> v.state LIMIT 20""",
    ),
    "funding_has_its_clearing_item": (
        "every funding row between two parties has its rights_funding clearing item (same payer, payee, amount "
        "and time, no fee); a right the provider funds itself has none",
        """SELECT f.id, f.funder_id, f.provider_id, f.amount_fen, c.id, c.kind, c.amount_fen
             FROM rights_rightsfunding f
             LEFT JOIN points_clearing_item c ON c.id = f.clearing_item_id
            WHERE CASE WHEN f.funder_id = f.provider_id THEN f.clearing_item_id IS NOT NULL
                       ELSE c.id IS NULL OR c.kind <> 'rights_funding' OR c.payer_id <> f.funder_id
                            OR c.payee_id <> f.provider_id OR c.amount_fen <> f.amount_fen OR c.fee_fen <> 0
                            OR c.points <> 0 OR c.created_at <> f.created_at END
            LIMIT 20""",
    ),
    "rights_clearing_items_have_their_funding": (
        "every rights_funding clearing item belongs to a funding row (none made or kept outside a write-off)",
        """SELECT c.id, c.payer_id, c.payee_id, c.amount_fen FROM points_clearing_item c
            WHERE c.kind = 'rights_funding'
              AND NOT EXISTS (SELECT 1 FROM rights_rightsfunding f WHERE f.clearing_item_id = c.id)
            LIMIT 20""",
    ),
    "points_claims_paid": (
        "every voucher claimed for points has its ledger operation (right_claim, the member's, points > 0), "
        "successful — reversed once the voucher was deactivated — and every such operation has its voucher",
        """SELECT v.id, v.state, o.id, o.kind, o.status FROM rights_voucher v
             LEFT JOIN rights_claimrequest q ON q.voucher_id = v.id
             LEFT JOIN points_operation o ON o.id = q.points_operation_id
            WHERE v.source = 'points'
              AND (o.id IS NULL OR o.kind <> 'right_claim' OR o.member_id <> v.member_id OR o.points <= 0
                   OR o.status <> CASE WHEN v.state = 'deactivated' THEN 'reversed' ELSE 'success' END)
           UNION ALL
           SELECT NULL, NULL, o.id, o.kind, o.status FROM points_operation o
            WHERE o.kind = 'right_claim' AND o.status IN ('success', 'reversed')
              AND NOT EXISTS (SELECT 1 FROM rights_claimrequest q JOIN rights_voucher v ON v.id = q.voucher_id
                               WHERE q.points_operation_id = o.id AND v.source = 'points')
            LIMIT 20""",
    ),
    "references_exist": (
        "every reference written without a database foreign key points at an existing row",
        """SELECT 'redemption.merchant', r.id FROM rights_redemption r
             LEFT JOIN hub_merchant m ON m.id = r.merchant_id WHERE m.id IS NULL
           UNION ALL SELECT 'redemption.store', r.id FROM rights_redemption r
             LEFT JOIN hub_store s ON s.id = r.store_id WHERE r.store_id IS NOT NULL AND s.id IS NULL
           UNION ALL SELECT 'redemption.terminal', r.id FROM rights_redemption r
             LEFT JOIN hub_terminal t ON t.id = r.terminal_id WHERE r.terminal_id IS NOT NULL AND t.id IS NULL
           UNION ALL SELECT 'redemption.right', r.id FROM rights_redemption r
             LEFT JOIN rights_right g ON g.id = r.right_id WHERE r.right_id IS NOT NULL AND g.id IS NULL
           UNION ALL SELECT 'funding.party', f.id FROM rights_rightsfunding f
             LEFT JOIN hub_merchant a ON a.id = f.funder_id LEFT JOIN hub_merchant b ON b.id = f.provider_id
             LEFT JOIN rights_right g ON g.id = f.right_id
            WHERE a.id IS NULL OR b.id IS NULL OR g.id IS NULL
           UNION ALL SELECT 'event.merchant', e.id FROM rights_voucherevent e
             LEFT JOIN hub_merchant m ON m.id = e.merchant_id WHERE e.merchant_id IS NOT NULL AND m.id IS NULL
           LIMIT 20""",
    ),
}


def check_rights() -> dict[str, list[tuple]]:
    """{invariant name: offending rows} for every invariant that does not hold."""
    problems: dict[str, list[tuple]] = {}
    with connection.cursor() as cursor:
        for name, (_, sql) in INVARIANTS.items():
            cursor.execute(sql)
            rows = cursor.fetchall()
            if rows:
                problems[name] = rows
    return problems
