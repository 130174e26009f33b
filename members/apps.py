from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles_after_migrate(sender, using, apps=None, **kwargs):
    """Keep the role groups complete after every migrate: permissions of models added by later
    migrations (any app) join the groups whose patterns match them."""
    from members.roles import sync_roles

    sync_roles(apps, using=using)


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "会员"

    def ready(self):
        post_migrate.connect(_sync_roles_after_migrate, sender=self, dispatch_uid="members.sync_roles")
