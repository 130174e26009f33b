"""Celery tasks of clearing: thin, taking ids, calling services, safe to run twice.

The task names keep the ``hub.`` prefix they had before clearing became an app of its own: the
django-celery-beat rows (hub/migrations/0006_clearing_schedules.py, editable in the admin) and
any message already queued name them. See docs/clearing.md.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.dispatch import receiver

from hub.clearing import jobs, services, statements
from hub.clearing.models import ClearingBatch
from hub.clearing.signals import batch_closed

logger = logging.getLogger("hub.clearing.tasks")


@shared_task(name="hub.close_clearing_batches")
def close_clearing_batches() -> list[int]:
    """Close every clearing batch whose cut-off has passed (statements follow on commit)."""
    return [batch.pk for batch in services.close_due_batches()]


@shared_task(name="hub.build_clearing_documents")
def build_clearing_documents(batch_id: int) -> int:
    """Write the statements and settlement instructions of a closed batch. A file its encoding
    cannot show is recorded once as not written (logged at ERROR by the service), the others
    are written."""
    batch = ClearingBatch.objects.get(pk=batch_id)
    return len(statements.build_documents(batch=batch))


@shared_task(name="hub.build_missing_clearing_documents")
def build_missing_clearing_documents() -> int:
    """Catch-up: queue document building for closed batches that lack documents (a document
    recorded as not written counts as there: it is not retried every hour)."""
    queued = 0
    for pk in statements.batches_missing_documents():
        build_clearing_documents.delay(pk)
        queued += 1
    return queued


@shared_task(name="hub.check_ledger")
def check_ledger() -> bool:
    """Nightly invariant check; a failure is logged at ERROR and listed in the admin (账务检查)."""
    return jobs.run_ledger_check().ok


@receiver(batch_closed, dispatch_uid="clearing.queue_documents")
def _queue_documents(sender, batch_id: int, **kwargs) -> None:
    build_clearing_documents.delay(batch_id)
