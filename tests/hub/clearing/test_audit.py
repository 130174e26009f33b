"""Regression tests for the clearing and reconciliation audit (issue 15, findings 2–11 and 13):
each one failed on the code before its fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from hub.clearing import jobs, statements
from hub.clearing import services as clearing
from tests.hub.clearing.conftest import at, next_day


def _copy_item(created_at) -> int:
    """Corrupt the books by raw SQL: a clearing item (a copy of one that exists) dated
    ``created_at``, which no batch took."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO points_clearing_item (txn_id, operation_id, payer_id, payee_id, program_id, kind, points,
                                                amount_fen, fee_fen, created_at)
               SELECT txn_id, operation_id, payer_id, payee_id, program_id, kind, points, amount_fen, fee_fen, %s
                 FROM points_clearing_item ORDER BY id LIMIT 1 RETURNING id""", [created_at])
        return cursor.fetchone()[0]


def _failed(name: str) -> list:
    return jobs.check_clearing().get(name, [])


# ---- finding 2: the nightly check misses a lost item, then forgets it ----------------------------------

def _close_two_days():
    first = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    second = clearing.close_batch(cutoff_at=next_day("00:00") + timedelta(days=1),
                                  now=next_day("00:05") + timedelta(days=1))
    return first, second


def test_an_item_older_than_the_last_cutoff_less_the_late_window_is_flagged(day):
    """After the batches of 2 and 3 March closed (cut-off 4 March 00:00), the next close looks for
    late items from 3 March 00:00 on: an unbatched item of 2 March 12:00 is lost for good."""
    _close_two_days()
    assert jobs.check_clearing() == {}
    lost = _copy_item(at("12:00"))
    rows = _failed("clearing_items_batched_within_late_window")
    assert [row[1] for row in rows] == [lost]


def test_a_lost_item_is_still_flagged_after_more_closes(day):
    """No look-back limit: the item stays flagged however many batches close after it."""
    _close_two_days()
    lost = _copy_item(at("12:00"))  # committed after the batch of 3 March closed
    for n in range(2, 6):
        clearing.close_batch(cutoff_at=next_day("00:00") + timedelta(days=n),
                             now=next_day("00:05") + timedelta(days=n))
    rows = _failed("clearing_items_batched_within_late_window")
    assert lost in [row[1] for row in rows]


# ---- finding 9: TRUNCATE bypasses immutability -------------------------------------------------------

FROZEN_TABLES = ["hub_clearing_batch_item", "hub_clearing_line", "hub_clearing_position", "hub_settlement_instruction",
                 "hub_clearing_document", "points_clearing_item", "hub_clearing_batch"]


@pytest.mark.parametrize("table", FROZEN_TABLES)
def test_truncate_is_refused_on_a_closed_batch_and_its_items(day, media, table):
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    statements.build_documents(batch=batch, encodings=["utf-8"])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: TRUNCATE would refuse for that
        cursor.execute("SET LOCAL hub.allow_truncate = 'off'")  # what every session but the test flush has
        with pytest.raises(DatabaseError, match="TRUNCATE on .* refused"), transaction.atomic():
            cursor.execute(f"TRUNCATE {table} CASCADE")
        cursor.execute("SELECT count(*) FROM hub_clearing_batch_item")
        assert cursor.fetchone()[0] == batch.item_count > 0


def test_a_truncated_item_list_fails_the_check(day):
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL hub.allow_truncate = 'on'")  # break-glass, as the test flush does
        cursor.execute("TRUNCATE hub_clearing_batch_item")
    rows = _failed("clearing_batch_item_list_complete")
    assert [tuple(row) for row in rows] == [(batch.pk, batch.item_count, 0)]
