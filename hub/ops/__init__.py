"""The operations site: dashboards (看板) fed by daily aggregates, and the merchant portal.

- ``hub.ops.aggregates``: the daily aggregate job (incremental, idempotent per day) and the check
  that the aggregates agree with the ledger;
- ``hub.ops.dashboard``: the dashboard's reads, only from the aggregate tables;
- ``hub.ops.portal``: ``PortalScope``, the one object every merchant-portal query goes through.
"""
