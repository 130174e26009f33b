"""Scheduled jobs: default schedules, thin tasks (called in-process here; test_celery.py runs a
real worker and beat), and the invariant check that is loud when it fails."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from hub.celery import app
from hub.clearing import tasks as hub_tasks
from hub.clearing.models import ClearingBatch, ClearingDocument, LedgerCheckRun
from points import services
from points import tasks as points_tasks
from points.models import Operation


def test_default_schedules_name_registered_tasks(db):
    app.loader.import_default_modules()
    schedules = {t.task: t for t in PeriodicTask.objects.filter(enabled=True)}
    assert set(schedules) >= {
        "points.release_expired_holds", "points.mature_pending", "points.expire_lots", "points.rollup_counterparties",
        "hub.close_clearing_batches", "hub.build_missing_clearing_documents", "hub.check_ledger"}
    for name in schedules:
        assert name in app.tasks, name
    assert schedules["points.release_expired_holds"].interval.every == 1
    expire = schedules["points.expire_lots"].crontab
    assert (expire.minute, expire.hour, str(expire.timezone)) == ("10", "0", "Asia/Shanghai")
    close = schedules["hub.close_clearing_batches"].crontab
    assert (close.minute, close.hour) == ("5", "0")  # 5 minutes after the default 00:00 cut-off


def test_ledger_check_records_a_pass_and_a_loud_failure(world, caplog):
    member = world.member()
    services.earn(merchant=world.shop, store=world.store, terminal=world.till, member=member, amount_fen=10000,
                  request_no="E1")
    assert hub_tasks.check_ledger() is True
    assert LedgerCheckRun.objects.get().ok

    with connection.cursor() as cursor:  # break an invariant behind the ledger's back
        cursor.execute("UPDATE points_account SET balance = balance + 1 WHERE member_id = %s", [member.pk])
    with caplog.at_level(logging.ERROR, logger="hub.clearing.checks"):
        assert hub_tasks.check_ledger() is False
    run = LedgerCheckRun.objects.latest("started_at")
    assert not run.ok and "member_balances_match_postings" in run.problems
    assert any(r.levelno == logging.ERROR and "ledger check FAILED" in r.getMessage() for r in caplog.records)


def test_tasks_are_thin_and_safe_to_run_twice(day, media, monkeypatch):
    w = day.world
    queued = []
    monkeypatch.setattr(hub_tasks.build_clearing_documents, "delay", queued.append)
    # a hold nobody confirmed
    past = timezone.now() - timedelta(minutes=20)
    services.freeze(merchant=w.shop, store=w.store, terminal=w.till, member=day.m1, points=10, request_no="F1",
                    now=past)
    assert points_tasks.release_expired_holds() == 1
    assert points_tasks.release_expired_holds() == 0
    assert Operation.objects.get(request_no="F1").status == "released"
    assert points_tasks.mature_pending() == 0 and points_tasks.expire_lots() == 0
    assert points_tasks.rollup_counterparties() >= 0

    closed = hub_tasks.close_clearing_batches()
    assert len(closed) == 1 and hub_tasks.close_clearing_batches() == []
    batch = ClearingBatch.objects.get(pk=closed[0])
    assert batch.item_count == ClearingBatch.objects.get().item_count > 0
    assert hub_tasks.build_missing_clearing_documents() == 1 and queued == [batch.pk]
    assert hub_tasks.build_clearing_documents(batch.pk) == 8
    assert hub_tasks.build_clearing_documents(batch.pk) == 0
    assert ClearingDocument.objects.filter(batch=batch).count() == 8
    assert hub_tasks.build_missing_clearing_documents() == 0 and queued == [batch.pk]


def test_an_item_too_late_for_any_batch_fails_the_check(day):
    from hub.clearing import services as clearing
    from tests.hub.clearing.conftest import at, next_day

    w = day.world
    clearing.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    assert hub_tasks.check_ledger() is True
    # committed after the close, but dated more than CLEARING_LATE_WINDOW_HOURS before the next period
    services.earn(merchant=w.shop, store=w.store, terminal=w.till, member=day.m1, amount_fen=1000,
                  request_no="STALE", now=at("12:00").replace(day=1))
    second = clearing.close_batch(cutoff_at=next_day("00:00").replace(day=4), now=next_day("00:00").replace(day=4))
    assert second.late_item_count == 0
    assert hub_tasks.check_ledger() is False
    run = LedgerCheckRun.objects.latest("started_at")
    assert list(run.problems) == ["clearing_items_batched_within_late_window"]
