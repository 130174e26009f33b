"""Clearing (清算), settlement (结算), reconciliation (对账) and the scheduled jobs.

- ``models``: batches with their lines, positions and settlement instructions; statement and
  instruction documents; reconciliation runs and differences; ledger check runs.
- ``services``: cut-offs, closing a batch (set-based SQL), approval and settlement.
- ``statements``: the per-party statement and settlement-instruction CSV files.
- ``reconciliation``: till day-end totals and day-end files matched against the hub's records.
- ``jobs``: the nightly invariant check. Celery tasks live in ``hub.tasks`` and ``points.tasks``.

See docs/clearing.md.
"""
