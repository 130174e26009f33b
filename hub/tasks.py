"""Celery tasks of the hub app (none today).

Clearing's tasks (closing batches, building statements, the nightly invariant check) live in
``hub.clearing.tasks``; their names still start with ``hub.`` so the beat schedules keep working.
"""
