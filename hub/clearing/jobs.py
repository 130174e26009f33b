"""The nightly invariant check: the ledger's (points.checks), clearing's own and the rights'
(rights.checks, names prefixed ``rights.``), recorded as a
``LedgerCheckRun`` (listed in the admin) and logged at ERROR when anything does not hold."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from hub.clearing.models import LedgerCheckRun
from hub.clearing.services import late_window
from points.checks import check_ledger
from rights.checks import check_rights

logger = logging.getLogger("hub.clearing.checks")

# name -> (description, SQL returning offending rows; empty means the invariant holds)
CLEARING_INVARIANTS: dict[str, tuple[str, str]] = {
    "clearing_positions_sum_to_zero": (
        "the net positions of every closed batch sum to zero",
        """SELECT batch_id, sum(net_fen) FROM hub_clearing_position GROUP BY batch_id HAVING sum(net_fen) <> 0
            LIMIT 20""",
    ),
    "clearing_batch_totals_match_lines": (
        "every closed batch's item count, gross and fees equal the sums of its lines",
        """SELECT b.id, b.item_count, b.gross_fen, b.fee_fen, l.items, l.gross, l.fee
             FROM hub_clearing_batch b
             LEFT JOIN (SELECT batch_id, sum(item_count) AS items, sum(gross_fen) AS gross, sum(fee_fen) AS fee
                          FROM hub_clearing_line GROUP BY batch_id) l ON l.batch_id = b.id
            WHERE b.status <> 'open'
              AND (b.item_count, b.gross_fen, b.fee_fen)
                  IS DISTINCT FROM (coalesce(l.items, 0), coalesce(l.gross, 0), coalesce(l.fee, 0))
            LIMIT 20""",
    ),
    "clearing_instructions_match_positions": (
        "what each party receives less what it pays in a batch's instructions equals its net position",
        """SELECT p.batch_id, p.party_id, p.net_fen, coalesce(i.net, 0)
             FROM hub_clearing_position p
             LEFT JOIN (SELECT batch_id, party, sum(amount) AS net FROM (
                            SELECT batch_id, payee_id AS party, amount_fen AS amount FROM hub_settlement_instruction
                            UNION ALL
                            SELECT batch_id, payer_id, -amount_fen FROM hub_settlement_instruction) x
                         GROUP BY batch_id, party) i ON i.batch_id = p.batch_id AND i.party = p.party_id
            WHERE p.net_fen <> coalesce(i.net, 0)
            LIMIT 20""",
    ),
    "clearing_items_batched_within_late_window": (
        "every clearing item is taken by a batch within the late window of its cut-off: none older than the "
        "last closed cut-off less the late window is left outside a batch (the next close can no longer take "
        "it), and none sits in a batch whose window it is outside",
        """SELECT 'unbatched' AS problem, c.id, c.created_at, NULL::bigint AS batch_id FROM points_clearing_item c
            WHERE c.created_at < (SELECT max(cutoff_at) - %(late)s FROM hub_clearing_batch WHERE status <> 'open')
              AND NOT EXISTS (SELECT 1 FROM hub_clearing_batch_item m WHERE m.item_id = c.id)
           UNION ALL
           SELECT 'outside_window', c.id, c.created_at, b.id
             FROM hub_clearing_batch_item m
             JOIN hub_clearing_batch b ON b.id = m.batch_id
             JOIN points_clearing_item c ON c.id = m.item_id
            WHERE c.created_at >= b.cutoff_at OR c.created_at < b.period_start - %(late)s
            LIMIT 20""",
    ),
    "clearing_batch_item_list_complete": (
        "every closed batch's item list (hub_clearing_batch_item) still holds as many items as it counted",
        """SELECT b.id, b.item_count, coalesce(m.n, 0)
             FROM hub_clearing_batch b
             LEFT JOIN (SELECT batch_id, count(*) AS n FROM hub_clearing_batch_item GROUP BY batch_id) m
                    ON m.batch_id = b.id
            WHERE b.status <> 'open' AND b.item_count <> coalesce(m.n, 0)
            LIMIT 20""",
    ),
}


def check_clearing() -> dict[str, list[tuple]]:
    problems: dict[str, list[tuple]] = {}
    with connection.cursor() as cursor:
        for name, (_, sql) in CLEARING_INVARIANTS.items():
            cursor.execute(sql, {"late": late_window()})
            rows = cursor.fetchall()
            if rows:
                problems[name] = rows
    return problems


def run_ledger_check(*, now: datetime | None = None) -> LedgerCheckRun:
    """Run every invariant check and record the result. A failure is logged at ERROR."""
    started = now or timezone.now()
    problems = {**check_ledger(), **check_clearing(),
                **{f"rights.{name}": rows for name, rows in check_rights().items()}}
    # Rows hold ids, sums, dates: store them as JSON-friendly lists.
    stored = json.loads(json.dumps({name: [list(row) for row in rows] for name, rows in problems.items()},
                                   cls=DjangoJSONEncoder))
    run = LedgerCheckRun.objects.create(started_at=started, finished_at=timezone.now(), ok=not problems,
                                        problems=stored)
    if problems:
        logger.error("ledger check FAILED (run %s): %s", run.pk,
                     "; ".join(f"{name}: {len(rows)} offending rows, first {rows[0]}" for name, rows in problems.items()))
    else:
        logger.info("ledger check passed (run %s)", run.pk)
    return run
