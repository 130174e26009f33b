"""Regression tests for the clearing and reconciliation audit (issue 15, findings 2–11 and 13):
each one failed on the code before its fix."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from hub.clearing import jobs, statements
from hub.clearing import services as clearing
from hub.clearing import tasks as clearing_tasks
from hub.clearing.models import (
    ClearingBatch,
    ClearingDocument,
    ReconciliationDifference,
    ReconciliationRow,
    ReconciliationRun,
)
from hub.clearing.reconciliation import reconcile_file, record_day_end
from hub.clearing.services import SHANGHAI
from hub.errors import DomainError, NoAuth, ParamError
from hub.gateway.canonical import DayEndTotals
from hub.models import Merchant, Store, Terminal
from points import services as points_services
from points.common import clear_caches
from points.models import Agreement, Operation, Program
from tests.hub.clearing.conftest import DAY, at, make_user, next_day
from tests.points.conftest import build_world


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


# ---- statements: findings 3, 4, 10 and 13 ----------------------------------------------------------

def _cells(doc: ClearingDocument) -> list[list[str]]:
    with doc.file.open("rb") as fh:
        text = fh.read().decode(doc.encoding)
    return list(csv.reader(io.StringIO(text, newline="")))


def _text(doc: ClearingDocument) -> str:
    with doc.file.open("rb") as fh:
        return fh.read().decode(doc.encoding)


def test_formula_cells_are_neutralised(day, media):
    """Finding 3: names and request numbers from merchants and tills reach spreadsheets as text."""
    w = day.world
    Merchant.objects.filter(pk=w.shop.pk).update(name='=HYPERLINK("http://evil.example","点击")')
    Merchant.objects.filter(pk=w.other.pk).update(name="+1+SUM(A1:A9)")
    Program.objects.filter(pk=w.postal.pk).update(name="=cmd|' /C calc'!A0")
    points_services.earn(merchant=w.shop, store=w.store, terminal=w.till, member=day.m1, amount_fen=1000,
                         request_no="@SUM(1+1)", now=at("18:00"))
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    docs = statements.build_documents(batch=batch, encodings=["utf-8"])
    cells = [cell for doc in docs for row in _cells(doc) for cell in row]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")
                 or (c.startswith("-") and not re.fullmatch(r"-[0-9]+(\.[0-9]+)?", c))]
    assert dangerous == []
    assert {"'=HYPERLINK(\"http://evil.example\",\"点击\")", "'+1+SUM(A1:A9)", "'=cmd|' /C calc'!A0",
            "'@SUM(1+1)"} <= set(cells)
    assert "-8.00" in cells  # amounts stay numbers


def _third_party(day, name: str):
    """A fourth party whose only business is with the issuer: an earn at 17:00."""
    w = day.world
    third = Merchant.objects.create(code="M9001", name=name)
    Agreement.objects.create(merchant=third, program=w.postal, is_default=True)
    clear_caches()
    points_services.earn(merchant=third, store=None, terminal=None, member=day.m2, amount_fen=10000,
                         request_no="X1", now=at("17:00"))
    return third


def test_a_name_gbk_cannot_show_fails_only_the_files_that_need_it_once(day, media, caplog):
    """Finding 4: the shop's and the market's statements never mention the fourth party."""
    w = day.world
    third = _third_party(day, "星星😀超市")
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    with caplog.at_level(logging.ERROR, logger="hub.clearing"):
        statements.build_documents(batch=batch)
    gbk = {(d.kind, d.party_id): d for d in ClearingDocument.objects.filter(batch=batch, encoding="gbk")}
    written = {key for key, d in gbk.items() if d.file and not d.error}
    failed = {key: d.error for key, d in gbk.items() if d.error}
    assert written == {("statement", w.shop.pk), ("statement", w.other.pk)}
    assert set(failed) == {("statement", w.issuer.pk), ("statement", third.pk), ("instructions", None)}
    assert all("星星😀超市" in error and "GBK" in error for error in failed.values())
    assert ClearingDocument.objects.filter(batch=batch, encoding="utf-8", error="").count() == 5
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 3
    # recorded once: neither the hourly catch-up nor a rebuild tries again
    assert clearing_tasks.build_missing_clearing_documents() == 0
    assert statements.build_documents(batch=batch) == []


def test_a_program_name_gbk_cannot_show_is_named_in_the_error(day, media):
    """Finding 13: the error names the statement and the value that cannot be shown."""
    w = day.world
    Program.objects.filter(pk=w.postal.pk).update(name="邮政金融积分😀")
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    statements.build_documents(batch=batch, encodings=["gbk"])
    doc = ClearingDocument.objects.get(batch=batch, encoding="gbk", kind="statement", party=w.other)
    assert "绿野菜场" in doc.error and "邮政金融积分😀" in doc.error and not doc.file


def test_a_rename_after_the_close_changes_no_file_of_the_batch(day, media):
    """Finding 4: names are those of the close, whenever and in whichever encoding files are written."""
    w = day.world
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    statements.build_documents(batch=batch, encodings=["utf-8"])
    Merchant.objects.filter(pk=w.shop.pk).update(name="新阳光超市（已更名）", code="M-RENAMED")
    Program.objects.filter(pk=w.postal.pk).update(name="邮政积分（新）")
    statements.build_documents(batch=batch, encodings=["gbk"])
    for utf8 in ClearingDocument.objects.filter(batch=batch, encoding="utf-8"):
        gbk = ClearingDocument.objects.get(batch=batch, kind=utf8.kind, party=utf8.party, encoding="gbk")
        assert _text(gbk) == _text(utf8)
        assert "已更名" not in _text(gbk) and "M-RENAMED" not in _text(gbk) and "积分（新）" not in _text(gbk)


def test_batches_of_one_clearing_date_have_distinct_file_names(day, media, settings):
    """Finding 10: cut-off 00:00 -> 22:00 -> 00:00 gives two batches of 3 March."""
    first = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    settings.CLEARING_CUTOFF = "22:00"
    second = clearing.close_batch(cutoff_at=next_day("22:00"), now=next_day("22:05"))
    settings.CLEARING_CUTOFF = "00:00"
    third = clearing.close_batch(cutoff_at=next_day("00:00") + timedelta(days=1),
                                 now=next_day("00:05") + timedelta(days=1))
    assert second.clearing_date == third.clearing_date
    names = []
    for batch in (first, second, third):
        statements.build_documents(batch=batch, encodings=["utf-8"])
        names += [os.path.basename(d.file.name) for d in ClearingDocument.objects.filter(batch=batch)]
    assert len(names) == len(set(names))
    assert all(f"batch{third.pk}" in os.path.basename(d.file.name)
               for d in ClearingDocument.objects.filter(batch=third))


def test_an_item_a_party_owes_itself_shows_both_sides_in_the_summary(day, media):
    """Finding 13: payer = payee."""
    w = day.world
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO points_clearing_item (txn_id, operation_id, payer_id, payee_id, program_id, kind, points,
                                                amount_fen, fee_fen, created_at)
               SELECT txn_id, operation_id, %s, %s, program_id, kind, points, 700, 0, %s
                 FROM points_clearing_item ORDER BY id LIMIT 1""", [w.shop.pk, w.shop.pk, at("19:00")])
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    statements.build_documents(batch=batch, encodings=["utf-8"])
    doc = ClearingDocument.objects.get(batch=batch, kind="statement", party=w.shop, encoding="utf-8")
    rows = _cells(doc)
    summary = rows[[r[0] for r in rows].index("对方编码") + 1:]
    own = [r for r in summary if r[0] == w.shop.code]
    assert sorted(r[4] for r in own) == ["付", "收"]
    assert sorted(r[9] for r in own) == ["-7.00", "7.00"]


def test_approving_a_settled_batch_again_is_a_no_op(day, finance_users):
    """Finding 13: the approver approving again after settlement gets the batch, not an error."""
    approver, _ = finance_users
    batch = clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    clearing.approve_batch(batch=batch, user=approver)
    clearing.settle_batch(batch=batch, user=approver, bank_reference="B1")
    again = clearing.approve_batch(batch=batch, user=approver)
    assert again.status == ClearingBatch.Status.SETTLED and again.approved_by_id == approver.pk


# ---- reconciliation: findings 5, 6, 7 and 11 ---------------------------------------------------------

@pytest.fixture
def recon_day(world):
    w = world
    m = w.member()
    kw = {"merchant": w.shop, "store": w.store, "terminal": w.till}
    points_services.earn(member=m, amount_fen=100000, request_no="E1", now=at("09:00"), **kw)
    points_services.freeze(member=m, points=10, request_no="F2", now=at("14:00"), **kw)
    points_services.unfreeze(merchant=w.shop, request_no="F2", now=at("14:01"))  # released at the hub
    with pytest.raises(DomainError):  # refused at the hub (more than the balance), and recorded so
        points_services.redeem(member=m, points=10**6, request_no="R9", now=at("15:00"), **kw)
    assert Operation.objects.get(merchant=w.shop, request_no="R9").status == Operation.Status.REFUSED
    return w


@pytest.mark.parametrize("cell, where", [
    ("²", "积分"), ("٣", "积分"), ("１０", "积分"), ("99999999999999999999", "积分"), ("1000000000000000", "积分"),
    ("-1", "积分"), ("+3", "积分"), (" 1", None),
])
def test_file_numbers_are_ascii_digits_and_bounded(recon_day, cell, where):
    """Finding 5: refused with the line number (no server error, no digit read from another script)."""
    body = f"E1,累计,1000,100000,2026-03-02 09:00:00\nE9,累计,{cell},100,2026-03-02 09:00:00\n".encode()
    if where is None:  # surrounding blanks are trimmed: a plain number
        run = reconcile_file(merchant=recon_day.shop, biz_date=DAY, file=body)
        assert ReconciliationRow.objects.get(run=run, request_no="E9").points == 1
        return
    with pytest.raises(ParamError, match=f"第 2 行：{where}"):
        reconcile_file(merchant=recon_day.shop, biz_date=DAY, file=body)
    assert not ReconciliationRun.objects.exists()


def test_file_amounts_and_times_are_ascii_too(recon_day):
    for line, message in [("E9,累计,1,²,2026-03-02 09:00:00", "第 2 行：金额"),
                          ("E9,累计,1,1,٢٠٢٦-03-02 09:00:00", "第 2 行：时间"),
                          ("E9,累计,1,1,２０２６-03-02 09:00:00", "第 2 行：时间")]:
        body = f"E1,累计,1000,100000,2026-03-02 09:00:00\n{line}\n".encode()
        with pytest.raises(ParamError, match=message):
            reconcile_file(merchant=recon_day.shop, biz_date=DAY, file=body)


def test_the_admin_upload_refuses_a_bad_number_in_chinese(recon_day, client):
    user = make_user("运营")
    client.force_login(user)
    upload = SimpleUploadedFile("rj.csv", "E1,累计,²,100000,2026-03-02 09:00:00\n".encode())
    response = client.post(reverse("admin:clearing_reconciliationrun_add"),
                           {"merchant": recon_day.shop.pk, "biz_date": "2026-03-02", "file": upload,
                            "encoding": "auto"})
    assert response.status_code == 200 and "第 1 行：积分" in response.content.decode()


def test_refused_or_released_at_the_hub_and_reversed_at_the_till_is_no_difference(recon_day):
    """Finding 6: nothing happened on either side."""
    body = ("E1,累计,1000,100000,2026-03-02 09:00:00,成功\n"
            "F2,抵扣,10,10,2026-03-02 14:00:00,冲正\n"
            "R9,抵扣,1000000,1000000,2026-03-02 15:00:00,冲正\n").encode()
    run = reconcile_file(merchant=recon_day.shop, biz_date=DAY, file=body)
    assert (run.matched, list(ReconciliationDifference.objects.filter(run=run).values_list("request_no", "kind"))) == (
        True, [])
    # done at the till, not done at the hub: still a difference
    body = "E1,累计,1000,100000,2026-03-02 09:00:00\nF2,抵扣,10,10,2026-03-02 14:00:00,成功\n".encode()
    run = reconcile_file(merchant=recon_day.shop, biz_date=DAY, file=body)
    assert list(ReconciliationDifference.objects.filter(run=run).values_list("request_no", "kind", "hub_value")) == [
        ("F2", "status_differ", "released")]


def test_a_business_day_after_today_is_refused(recon_day):
    """Finding 7: the message says 不能晚于今天, and tomorrow is later than today."""
    tomorrow = timezone.now().astimezone(SHANGHAI).date() + timedelta(days=1)
    w = recon_day
    with pytest.raises(ParamError, match="不能晚于今天"):
        record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=tomorrow, totals=DayEndTotals())
    with pytest.raises(ParamError, match="不能晚于今天"):
        reconcile_file(merchant=w.shop, biz_date=tomorrow, file=b"E1,earn,1,1,2026-03-02 09:00:00\n")
    assert not ReconciliationRun.objects.exists()
    today = tomorrow - timedelta(days=1)
    assert record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=today,
                          totals=DayEndTotals())["matched"]


def test_day_end_refuses_another_merchants_store_or_terminal(recon_day):
    """Finding 11: the service checks what the gateway checks."""
    w = recon_day
    their_store = Store.objects.create(merchant=w.other, code="S900", name="菜场一号店")
    their_till = Terminal.objects.create(store=their_store, code="P900")
    other_own_store = Store.objects.create(merchant=w.shop, code="S002", name="二号店")
    for store, terminal in [(their_store, None), (their_store, their_till), (w.store, their_till),
                            (None, their_till), (other_own_store, w.till)]:
        with pytest.raises(NoAuth):
            record_day_end(merchant=w.shop, store=store, terminal=terminal, biz_date=DAY, totals=DayEndTotals())
    assert not ReconciliationRun.objects.exists()
    assert record_day_end(merchant=w.shop, store=w.store, terminal=w.till, biz_date=DAY,
                          totals=DayEndTotals(earn_count=1, earn_points=1000))["matched"]


# ---- finding 8: close_due_batches reports a batch another worker closed ---------------------------------

def _waiting_for_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_close_due_batches_reports_only_the_batches_it_closed(monkeypatch):
    """Worker A is closing the batch when worker B (or a person pressing 关闭到期批次) starts: B
    waits on the close lock, then finds the batch closed. B closed nothing and says so."""
    queued = []
    monkeypatch.setattr(clearing_tasks.build_clearing_documents, "delay", queued.append)
    world = build_world()
    points_services.earn(merchant=world.shop, store=world.store, terminal=world.till, member=world.member(),
                         amount_fen=10000, request_no="E1", now=at("09:00"))
    now = next_day("00:05")
    a_closed, a_commit = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def worker_a():
        try:
            with transaction.atomic():
                results["a"] = clearing.close_batch(cutoff_at=next_day("00:00"), now=now)
                a_closed.set()
                a_commit.wait(10)
        finally:
            connection.close()

    def worker_b():
        try:
            a_closed.wait(10)
            results["b"] = clearing.close_due_batches(now=now)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while not _waiting_for_advisory_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    a_commit.set()
    for thread in threads:
        thread.join(15)
    assert results["a"].status == ClearingBatch.Status.CLOSED
    assert results["b"] == []
    assert ClearingBatch.objects.count() == 1 and queued == [results["a"].pk]
