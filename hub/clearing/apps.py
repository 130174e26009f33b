from django.apps import AppConfig


class ClearingConfig(AppConfig):
    """Clearing, settlement, reconciliation and the invariant checks: an app of its own (label
    ``clearing``) whose tables keep the names they had under ``hub`` (``hub_clearing_*``,
    ``hub_recon_*``, ``hub_ledger_check_run``, ``hub_settlement_instruction``)."""

    name = "hub.clearing"
    label = "clearing"
    verbose_name = "清算与对账"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the "batch closed → build its documents" receiver (services send the signal,
        # the tasks module listens), so services never import the tasks that call them.
        from hub.clearing import tasks  # noqa: F401
