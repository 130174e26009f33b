from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "清算中心"

    def ready(self):
        from hub.gateway.registry import sync_vendors_after_migrate

        post_migrate.connect(sync_vendors_after_migrate, sender=self, dispatch_uid="hub.sync_vendors")
