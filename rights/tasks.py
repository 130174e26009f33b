"""Celery tasks of rights: thin, calling a service, safe to run twice. Scheduled by
django-celery-beat (default rows by rights/migrations/0003_rights_schedules.py)."""

from __future__ import annotations

from celery import shared_task

from rights import redemption, vouchers
from rights.models import Right


@shared_task(name="rights.grant_tier_rights")
def grant_tier_rights() -> int:
    """Every active tier_grant right: this period's vouchers for each member of its tiers (once)."""
    created = 0
    for right in Right.objects.filter(status=Right.Status.ACTIVE, claim_mode=Right.ClaimMode.TIER_GRANT):
        created += vouchers.grant_for_period(right=right)
    return created


@shared_task(name="rights.tidy_vouchers")
def tidy_vouchers() -> dict:
    """Expired vouchers to expired, pending ones whose day came to available (expiry is always
    checked at use; this keeps the states shown in the admin current)."""
    return vouchers.tidy()


@shared_task(name="rights.release_lapsed_reservations")
def release_lapsed_reservations() -> int:
    return redemption.release_lapsed()
