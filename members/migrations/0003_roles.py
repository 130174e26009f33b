"""The staff groups 运营 / 财务 / 审计 with their permissions (see members/roles.py).

Later apps add a migration of their own calling ``sync_roles(apps)`` once their models exist.
"""

from django.db import migrations

from members.roles import sync_roles


def create_roles(apps, schema_editor):
    sync_roles(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_tiers"),
        ("hub", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        # Reversing keeps the groups: people may have been put in them.
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
