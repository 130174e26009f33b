"""Celery tasks of the hub: thin, taking ids, calling services, safe to run twice.

Schedules live in django-celery-beat (default rows by hub/migrations/0006_clearing_schedules.py,
editable in the admin). See docs/clearing.md.
"""

from __future__ import annotations

import logging

from celery import shared_task

from hub.errors import ParamError

logger = logging.getLogger("hub.tasks")


@shared_task(name="hub.close_clearing_batches")
def close_clearing_batches() -> list[int]:
    """Close every clearing batch whose cut-off has passed (statements follow on commit)."""
    from hub.clearing import services

    return [batch.pk for batch in services.close_due_batches()]


@shared_task(name="hub.build_clearing_documents")
def build_clearing_documents(batch_id: int) -> int:
    """Write the statements and settlement instructions of a closed batch, one encoding at a
    time (a name GBK cannot show fails the GBK files only, loudly)."""
    from hub.clearing.models import ClearingBatch
    from hub.clearing.statements import _encodings, build_documents

    batch = ClearingBatch.objects.get(pk=batch_id)
    written = 0
    for encoding in _encodings(None):
        try:
            written += len(build_documents(batch=batch, encodings=[encoding]))
        except ParamError as exc:
            logger.error("clearing batch %s: %s documents not written: %s", batch_id, encoding, exc.message)
    return written


@shared_task(name="hub.build_missing_clearing_documents")
def build_missing_clearing_documents() -> int:
    """Catch-up: queue document building for closed batches that lack documents."""
    from django.db.models import Count

    from hub.clearing.models import ClearingBatch
    from hub.clearing.statements import _encodings

    wanted = len(_encodings(None))
    missing = (ClearingBatch.objects.exclude(status=ClearingBatch.Status.OPEN)
               .annotate(parties=Count("positions", distinct=True), docs=Count("documents", distinct=True))
               .values_list("pk", "parties", "docs"))
    queued = 0
    for pk, parties, docs in missing:
        if docs < (parties + 1) * wanted:
            build_clearing_documents.delay(pk)
            queued += 1
    return queued


@shared_task(name="hub.check_ledger")
def check_ledger() -> bool:
    """Nightly invariant check; a failure is logged at ERROR and listed in the admin (账务检查)."""
    from hub.clearing.jobs import run_ledger_check

    return run_ledger_check().ok
