"""Signals of the clearing app. ``batch_closed`` is sent after the commit that closed a batch
(``batch_id``); ``hub.clearing.tasks`` queues the batch's documents on it. Services send, tasks
listen: neither imports the other's callers."""

from django.dispatch import Signal

batch_closed = Signal()  # kwargs: batch_id
