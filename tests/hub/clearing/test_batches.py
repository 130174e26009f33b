"""Clearing batches: a day of mixed traffic closes to hand-computed lines, positions and
instructions; cut-off boundaries; a closed batch is frozen in the database; the workflow."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from hub.clearing import services
from hub.clearing.models import (
    ClearingBatch,
    ClearingBatchItem,
    ClearingLine,
    ClearingPosition,
    SettlementInstruction,
)
from hub.errors import NoAuth, ParamError
from points import refunds
from points import services as points_services
from points.models import ClearingItem
from tests.hub.clearing.conftest import DAY, at, make_user, next_day

CUTOFF = next_day("00:00")


def close_day(**kw) -> ClearingBatch:
    return services.close_batch(cutoff_at=CUTOFF, now=next_day("00:05"), **kw)


def lines(batch) -> dict:
    return {(line.payer_id, line.payee_id, line.program_id, line.kind):
            (line.item_count, line.points, line.gross_fen, line.fee_fen, line.net_fen)
            for line in ClearingLine.objects.filter(batch=batch)}


def test_cutoffs(settings):
    assert services.latest_cutoff(at("10:00")) == at("00:00")
    assert services.following_cutoff(at("10:00")) == next_day("00:00")
    assert services.following_cutoff(at("00:00")) == next_day("00:00")  # the cut-off instant opens the next
    assert services.clearing_date(next_day("00:00")) == DAY
    settings.CLEARING_CUTOFF = "22:00"
    assert services.latest_cutoff(at("10:00")) == at("22:00", DAY.replace(day=1))
    assert services.following_cutoff(at("22:00")) == next_day("22:00")
    assert services.clearing_date(at("22:00")) == DAY


def test_mixed_day_closes_to_hand_computed_figures(day):
    w = day.world
    iss, shop, other, postal, store = w.issuer.pk, w.shop.pk, w.other.pk, w.postal.pk, w.store_points.pk
    batch = close_day()

    assert batch.status == ClearingBatch.Status.CLOSED and batch.closed_by is None
    assert batch.period_start is None and batch.cutoff_at == CUTOFF and batch.clearing_date == DAY
    # (count, points, gross, fee, net = gross - fee) per payer -> payee x program x kind
    assert lines(batch) == {
        # E1 +800, T1 -400, E4 +80
        (shop, iss, postal, "earn_funding"): (3, 600, 480, 0, 480),
        # E2 +500, E3 +200, E3 reversed -200
        (other, iss, postal, "earn_funding"): (3, 500, 500, 0, 500),
        # R1 +300/fee 2, T2 -100/fee 0, R3 +100/fee 1, R3 reversed -100/fee -1
        (iss, shop, postal, "redemption"): (4, 200, 200, 2, 198),
        (iss, other, postal, "redemption"): (1, 200, 200, 0, 200),
        # R4: 500 store points at other, fee 1%
        (shop, other, store, "redemption"): (1, 500, 500, 5, 495),
        # C1: 1000 store points -> 100 postal points
        (shop, iss, postal, "conversion"): (1, 100, 100, 0, 100),
    }
    assert (batch.item_count, batch.late_item_count, batch.gross_fen, batch.fee_fen) == (13, 0, 1980, 7)

    positions = {p.party_id: (p.receivable_fen, p.fee_deducted_fen, p.payable_fen, p.fee_retained_fen, p.net_fen)
                 for p in ClearingPosition.objects.filter(batch=batch)}
    assert positions == {
        iss: (1080, 0, 400, 2, 682),
        shop: (200, 2, 1080, 5, -877),
        other: (700, 5, 500, 0, 195),
    }
    assert sum(p[-1] for p in positions.values()) == 0

    instructions = {(i.payer_id, i.payee_id): i.amount_fen for i in SettlementInstruction.objects.filter(batch=batch)}
    assert instructions == {(shop, iss): 480 + 100 - 198, (other, iss): 500 - 200, (shop, other): 495}
    assert batch.transfer_fen == 382 + 300 + 495

    # Every item created before the cut-off is in this batch, the one at the cut-off is not.
    before = set(ClearingItem.objects.filter(created_at__lt=CUTOFF).values_list("pk", flat=True))
    assert set(ClearingBatchItem.objects.filter(batch=batch).values_list("item_id", flat=True)) == before


def test_items_after_the_cutoff_land_in_the_next_batch(day):
    w = day.world
    first = close_day()
    assert services.close_batch(cutoff_at=CUTOFF, now=next_day("00:06")) == first  # twice: no change
    # A till transaction that began before the cut-off and committed after the batch closed:
    points_services.earn(merchant=w.shop, store=w.store, terminal=w.till, member=day.m1, amount_fen=2000,
                         request_no="LATE", now=at("23:59:58"))
    points_services.earn(merchant=w.shop, store=w.store, terminal=w.till, member=day.m1, amount_fen=3000,
                         request_no="E6", now=next_day("12:00"))
    second_cutoff = next_day("00:00").replace(day=4)
    points_services.earn(merchant=w.shop, store=w.store, terminal=w.till, member=day.m1, amount_fen=5000,
                         request_no="E7", now=second_cutoff)  # third batch

    closed = services.close_due_batches(now=second_cutoff.replace(minute=5))
    assert [b.cutoff_at for b in closed] == [second_cutoff]
    second = closed[0]
    assert second.period_start == CUTOFF
    # E5 at 00:00:00 (8 fen), LATE (16 fen), E6 (24 fen): shop owes ISS at 80 fen per 100 points
    assert lines(second) == {(w.shop.pk, w.issuer.pk, w.postal.pk, "earn_funding"): (3, 10 + 20 + 30, 48, 0, 48)}
    assert (second.item_count, second.late_item_count) == (3, 1)
    assert services.close_due_batches(now=second_cutoff.replace(minute=6)) == []
    assert ClearingBatch.objects.count() == 2


def test_batches_close_in_order_and_not_before_their_cutoff(day):
    with pytest.raises(ParamError, match="未到截止时间"):
        services.close_batch(cutoff_at=CUTOFF, now=at("23:00"))
    services._batch_for(CUTOFF)  # open
    with pytest.raises(ParamError, match="请先关闭更早的批次"):
        services.close_batch(cutoff_at=next_day("00:00").replace(day=4), now=next_day("00:00").replace(day=4))


def _refused(sql: str, params=()):
    with pytest.raises(DatabaseError, match="refused|never change"), transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)


def test_a_closed_batch_refuses_every_change(day, finance_users):
    batch = close_day()
    line = ClearingLine.objects.filter(batch=batch).first()
    item = ClearingBatchItem.objects.filter(batch=batch).first()

    # through the ORM
    with pytest.raises(DatabaseError), transaction.atomic():
        ClearingLine.objects.filter(pk=line.pk).update(gross_fen=0)
    with pytest.raises(DatabaseError), transaction.atomic():
        ClearingPosition.objects.filter(batch=batch).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        ClearingBatch.objects.filter(pk=batch.pk).update(gross_fen=1)
    # and raw SQL
    _refused("UPDATE hub_clearing_line SET gross_fen = gross_fen + 1, net_fen = net_fen + 1 WHERE id = %s", [line.pk])
    _refused("DELETE FROM hub_clearing_line WHERE batch_id = %s", [batch.pk])
    _refused("UPDATE hub_clearing_position SET net_fen = 0, receivable_fen = 0, fee_deducted_fen = 0, "
             "payable_fen = 0, fee_retained_fen = 0 WHERE batch_id = %s", [batch.pk])
    _refused("UPDATE hub_settlement_instruction SET amount_fen = amount_fen + 1 WHERE batch_id = %s", [batch.pk])
    _refused("DELETE FROM hub_settlement_instruction WHERE batch_id = %s", [batch.pk])
    _refused("UPDATE hub_clearing_batch_item SET batch_id = batch_id WHERE item_id = %s", [item.item_id])
    _refused("DELETE FROM hub_clearing_batch_item WHERE batch_id = %s", [batch.pk])
    _refused("INSERT INTO hub_clearing_batch_item (item_id, batch_id) VALUES (-1, %s)", [batch.pk])
    _refused("INSERT INTO hub_clearing_line (batch_id, payer_id, payee_id, program_id, kind, item_count, points, "
             "gross_fen, fee_fen, net_fen) SELECT batch_id, payee_id, payer_id, program_id, kind, 1, 1, 1, 0, 1 "
             "FROM hub_clearing_line WHERE id = %s", [line.pk])
    _refused("UPDATE hub_clearing_batch SET gross_fen = 0 WHERE id = %s", [batch.pk])
    _refused("UPDATE hub_clearing_batch SET item_count = item_count, cutoff_at = cutoff_at + interval '1 hour' "
             "WHERE id = %s", [batch.pk])
    _refused("UPDATE hub_clearing_batch SET status = 'open', closed_at = NULL WHERE id = %s", [batch.pk])
    _refused("DELETE FROM hub_clearing_batch WHERE id = %s", [batch.pk])
    _refused("UPDATE points_clearing_item SET amount_fen = 0 WHERE id = %s", [item.item_id])
    _refused("DELETE FROM points_clearing_item WHERE id = %s", [item.item_id])
    # the workflow moves forward only, and each step touches its own columns only
    first, second = finance_users
    services.approve_batch(batch=batch, user=first)
    _refused("UPDATE hub_clearing_batch SET status = 'closed', approved_by_id = NULL, approved_at = NULL "
             "WHERE id = %s", [batch.pk])
    _refused("UPDATE hub_clearing_batch SET approved_by_id = %s WHERE id = %s", [second.pk, batch.pk])
    services.settle_batch(batch=batch, user=second, bank_reference="BK20260303001")
    _refused("UPDATE hub_clearing_batch SET bank_reference = 'OTHER' WHERE id = %s", [batch.pk])

    batch.refresh_from_db()
    assert (batch.status, batch.gross_fen, batch.bank_reference) == ("settled", 1980, "BK20260303001")
    assert lines(batch)[(day.world.shop.pk, day.world.issuer.pk, day.world.postal.pk, "earn_funding")][2] == 480
    # a no-op save of the unchanged row is fine
    ClearingBatch.objects.get(pk=batch.pk).save()


def test_corrections_go_into_a_later_batch(day):
    w = day.world
    close_day()
    # E1 refunded in full the next day: the rest of its funding comes back in the next batch
    refunds.refund(merchant=w.shop, store=w.store, terminal=w.till, refund_no="T9", original_request_no="E1",
                           amount_fen=50000, now=next_day("09:00"))
    second = services.close_batch(cutoff_at=next_day("00:00").replace(day=4), now=next_day("00:00").replace(day=4))
    assert lines(second) == {(w.shop.pk, w.issuer.pk, w.postal.pk, "earn_funding"): (2, -490, -392, 0, -392)}
    # E5 +8 fen (10 points), T9 -400 fen (-500 points): the issuer now owes the shop
    assert {(i.payer_id, i.payee_id): i.amount_fen for i in second.instructions.all()} == {
        (w.issuer.pk, w.shop.pk): 392}


def test_approval_by_the_closer_is_refused(day, finance_users):
    closer, other = finance_users
    batch = close_day(actor=closer)
    assert batch.closed_by == closer
    with pytest.raises(NoAuth, match="关闭批次的人不能审批同一批次"):
        services.approve_batch(batch=batch, user=closer)
    with pytest.raises(NoAuth, match="只有财务人员"):
        services.approve_batch(batch=batch, user=make_user("运营"))
    with pytest.raises(NoAuth, match="只有财务人员"):
        services.approve_batch(batch=batch, user=make_user(is_superuser=True))
    with pytest.raises(ParamError, match="只有已审批的批次"):
        services.settle_batch(batch=batch, user=other, bank_reference="BK1")
    assert ClearingBatch.objects.get(pk=batch.pk).status == "closed"
    # the database refuses it too, whatever the path
    with pytest.raises(IntegrityError), transaction.atomic():
        ClearingBatch.objects.filter(pk=batch.pk).update(status="approved", approved_by=closer,
                                                         approved_at=batch.closed_at)

    approved = services.approve_batch(batch=batch, user=other)
    assert (approved.status, approved.approved_by) == ("approved", other)
    assert services.approve_batch(batch=batch, user=other).approved_at == approved.approved_at  # twice: same
    with pytest.raises(ParamError, match="银行流水号"):
        services.settle_batch(batch=batch, user=closer, bank_reference="  ")
    settled = services.settle_batch(batch=batch, user=closer, bank_reference=" BK20260303001 ")
    assert (settled.status, settled.settled_by, settled.bank_reference) == ("settled", closer, "BK20260303001")


def test_an_open_batch_cannot_skip_closing(day, finance_users):
    batch = services._batch_for(CUTOFF)
    with pytest.raises(ParamError, match="只有已关闭的批次"):
        services.approve_batch(batch=batch, user=finance_users[0])
    _refused("UPDATE hub_clearing_batch SET status = 'approved', closed_at = now(), approved_at = now(), "
             "approved_by_id = %s WHERE id = %s", [finance_users[0].pk, batch.pk])


def test_close_queues_the_documents_after_commit(day, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("hub.clearing.tasks.build_clearing_documents.delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch = close_day()
    assert len(callbacks) == 1 and sent == [batch.pk]
