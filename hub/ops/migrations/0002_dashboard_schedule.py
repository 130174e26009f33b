"""The dashboards' aggregate job in django-celery-beat (editable in the admin; re-running the
migration leaves a schedule ops have edited alone). Every 15 minutes: the recent days and every
day touched since the last run (hub.ops.aggregates.refresh_dirty)."""

from django.db import migrations

NAME = "看板日汇总"


def create_schedule(apps, schema_editor):
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    if PeriodicTask.objects.using(db).filter(name=NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.using(db).get_or_create(
        minute="*/15", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai")
    PeriodicTask.objects.using(db).create(
        name=NAME, task="ops.refresh_dashboard", crontab=crontab, enabled=True,
        description="每 15 分钟：重算近几日及自上次运行后有变动的营业日的看板汇总（可重复运行）")


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(schema_editor.connection.alias).filter(
        name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
