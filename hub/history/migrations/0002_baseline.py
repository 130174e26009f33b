"""A 'baseline' history row for every tracked row that exists when history starts, so the first
change made afterwards shows its before → after like every later one."""

from django.db import migrations


def baseline(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    for model in apps.get_app_config("history").get_models():
        if not model._meta.db_table.endswith("event"):
            continue
        try:
            obj = model._meta.get_field("pgh_obj")
        except Exception:  # noqa: BLE001 - link tables (memberships) have no object: nothing to snapshot
            continue
        tracked = obj.related_model._meta.db_table
        columns = [f.column for f in model._meta.concrete_fields if not f.name.startswith("pgh_")]
        cols = ", ".join(quote(c) for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({cols}, pgh_created_at, pgh_label, pgh_obj_id) "
                f"SELECT {cols}, now(), 'baseline', id FROM {quote(tracked)}"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("history", "0001_initial"),
        ("members", "0007_members_pii_search_audit"),  # the staff roles exist by then
    ]

    operations = [migrations.RunPython(baseline, migrations.RunPython.noop)]
