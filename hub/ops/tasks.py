"""Celery tasks of the dashboards: thin, safe to run twice (each day is rewritten whole).
Scheduled by django-celery-beat (default row: hub/ops/migrations/0002_dashboard_schedule.py)."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from hub.ops import aggregates


@shared_task(name="ops.refresh_dashboard")
def refresh_dashboard() -> int:
    """The incremental aggregate job: the recent days and every day touched since the last run."""
    return len(aggregates.refresh_dirty())


@shared_task(name="ops.refresh_dashboard_day")
def refresh_dashboard_day(day: str) -> int:
    """Rewrite one business day (ISO date), e.g. after a correction by hand."""
    return aggregates.refresh_day(day=date.fromisoformat(day))
