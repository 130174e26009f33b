from django.apps import AppConfig


class HistoryConfig(AppConfig):
    """Trigger-based history of configuration (django-pghistory): see hub.history.models."""

    name = "hub.history"
    label = "history"
    verbose_name = "配置变更历史"

    def ready(self):
        from hub.history import admin_views

        admin_views.attach()
