"""Default schedules of the rights jobs (django-celery-beat, editable in the admin; Asia/Shanghai)
and the rights role groups. Running it again leaves schedules ops have edited alone."""

from django.db import migrations

TZ = "Asia/Shanghai"

# (name shown in the admin, task, description, interval minutes or crontab (minute, hour))
JOBS = [
    ("权益按等级发放", "rights.grant_tier_rights", "每天 00:05：按等级定期发放的权益为本期未发放的会员发券（每人每期一次）",
     None, ("5", "0")),
    ("权益凭证过期整理", "rights.tidy_vouchers", "每 10 分钟：到期凭证标记为已过期、到生效时间的凭证转为可使用（使用时总是实时校验有效期）",
     10, None),
    ("释放超时预占凭证", "rights.release_lapsed_reservations", "每分钟：释放超过 15 分钟未确认的凭证预占", 1, None),
]


def create_schedules(apps, schema_editor):
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, task, description, every, cron in JOBS:
        if PeriodicTask.objects.using(db).filter(name=name).exists():
            continue
        schedule = {}
        if every is not None:
            schedule["interval"], _ = IntervalSchedule.objects.using(db).get_or_create(every=every, period="minutes")
        else:
            minute, hour = cron
            schedule["crontab"], _ = CrontabSchedule.objects.using(db).get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone=TZ)
        PeriodicTask.objects.using(db).create(name=name, task=task, description=description, enabled=True, **schedule)


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.using(schema_editor.connection.alias).filter(name__in=[job[0] for job in JOBS]).delete()


def roles(apps, schema_editor):
    from rights.roles import sync_rights_roles

    sync_rights_roles(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("rights", "0002_rights_append_only"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("members", "0003_roles"),
    ]

    operations = [
        migrations.RunPython(create_schedules, remove_schedules),
        migrations.RunPython(roles, migrations.RunPython.noop),
    ]
