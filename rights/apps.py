from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_rights_roles(sender, using, apps=None, **kwargs):
    from rights.roles import sync_rights_roles

    sync_rights_roles(apps, using=using)


class RightsConfig(AppConfig):
    name = "rights"
    verbose_name = "权益"

    def ready(self):
        post_migrate.connect(_sync_rights_roles, sender=self, dispatch_uid="rights.sync_roles")
