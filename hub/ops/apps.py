from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Dashboards, their daily aggregates and the merchant portal (label ``ops``)."""

    name = "hub.ops"
    label = "ops"
    verbose_name = "运营看板与商户门户"
    default_auto_field = "django.db.models.BigAutoField"
