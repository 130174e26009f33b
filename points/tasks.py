"""Celery tasks for the ledger's sweeps: thin, calling points.sweeps, safe to run twice (each
sweep works in bounded batches and skips what is already done). Scheduled by django-celery-beat
(default rows by hub/migrations/0006_clearing_schedules.py)."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from points import sweeps


@shared_task(name="points.release_expired_holds")
def release_expired_holds() -> int:
    return sweeps.release_expired_holds()


@shared_task(name="points.mature_pending")
def mature_pending() -> int:
    return sweeps.mature_pending()


@shared_task(name="points.expire_lots")
def expire_lots() -> int:
    return sweeps.expire_lots()


@shared_task(name="points.rollup_counterparties")
def rollup_counterparties(business_day: str | None = None) -> int:
    """Roll up a finished business day (ISO date; default yesterday)."""
    return sweeps.rollup_counterparties(business_day=date.fromisoformat(business_day) if business_day else None)
