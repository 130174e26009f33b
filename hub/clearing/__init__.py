"""Clearing (清算), settlement (结算), reconciliation (对账) and the scheduled jobs.

- ``models``: batches with their lines, positions and settlement instructions; statement and
  instruction documents; reconciliation runs and differences; ledger check runs.
- ``services``: cut-offs, closing a batch (set-based SQL), approval and settlement.
- ``statements``: the per-party statement and settlement-instruction CSV files.
- ``reconciliation``: till day-end totals and day-end files matched against the hub's records.
- ``jobs``: the nightly invariant check; ``tasks``: its Celery tasks (the ledger's are in ``points.tasks``).

An app of its own (label ``clearing``, ``apps.ClearingConfig``) whose tables keep their ``hub_`` names.

See docs/clearing.md.
"""
