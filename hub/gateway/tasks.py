"""The gateway's periodic job (found by Celery's autodiscovery, see hub.celery)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="hub.prune_gateway")
def prune_gateway() -> dict:
    """Daily: drop nonces past their 15 minutes, call records past their retention, expired counters."""
    from hub.gateway.retention import prune

    return prune()
