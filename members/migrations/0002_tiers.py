"""The five member tiers fed from postal finance's asset levels, lowest first."""

from django.db import migrations

TIERS = [
    ("standard", "普卡", 1),
    ("silver", "银卡", 2),
    ("gold", "金卡", 3),
    ("platinum", "白金卡", 4),
    ("diamond", "钻石卡", 5),
]


def create_tiers(apps, schema_editor):
    Tier = apps.get_model("members", "Tier")
    db = schema_editor.connection.alias
    for code, name, rank in TIERS:
        Tier.objects.using(db).update_or_create(code=code, defaults={"name": name, "rank": rank})


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
    ]

    operations = [
        # Reversing keeps the rows: members reference them (PROTECT).
        migrations.RunPython(create_tiers, migrations.RunPython.noop),
    ]
