"""Default schedules of the recurring jobs (django-celery-beat), editable in the admin, and the
role groups' permissions on the clearing models.

Times are Asia/Shanghai. The batch is closed 5 minutes after settings.CLEARING_CUTOFF (read when
this migration runs; change the schedule in the admin if the cut-off changes later). Running a
migration again leaves schedules that ops have edited alone.
"""

from django.conf import settings
from django.db import migrations

from members.roles import sync_roles

TZ = "Asia/Shanghai"


def _close_time() -> tuple[str, str]:
    hour, minute = (int(part) for part in getattr(settings, "CLEARING_CUTOFF", "00:00").split(":")[:2])
    total = (hour * 60 + minute + 5) % (24 * 60)
    return str(total % 60), str(total // 60)


def _jobs():
    close_minute, close_hour = _close_time()
    # (name shown in the admin, task, description, interval minutes or crontab (minute, hour))
    return [
        ("释放过期冻结", "points.release_expired_holds", "每分钟：释放超过 15 分钟未确认的冻结积分", 1, None),
        ("待生效积分生效", "points.mature_pending", "每小时：退货期已过的待生效积分转为可用", None, ("0", "*")),
        ("积分过期", "points.expire_lots", "每天 00:10：到期积分批次转入发行方过期沉淀", None, ("10", "0")),
        ("关闭清算批次", "hub.close_clearing_batches", "每天截止时间后 5 分钟：关闭到期的清算批次（随后生成对账单）",
         None, (close_minute, close_hour)),
        ("补生成清算文件", "hub.build_missing_clearing_documents", "每小时：为已关闭但缺少对账单/结算指令的批次生成文件",
         None, ("20", "*")),
        ("共享账户日汇总", "points.rollup_counterparties", "每天 00:30：汇总上一营业日发行方与商户共享账户的分录",
         None, ("30", "0")),
        ("账务不变量检查", "hub.check_ledger", "每天 02:00：检查账务不变量，失败记录为错误并在“账务检查”中显示",
         None, ("0", "2")),
    ]


def create_schedules(apps, schema_editor):
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, task, description, every, cron in _jobs():
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
    PeriodicTask.objects.using(schema_editor.connection.alias).filter(
        name__in=[job[0] for job in _jobs()]).delete()


def roles(apps, schema_editor):
    sync_roles(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0005_clearing_sql"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("members", "0003_roles"),
    ]

    operations = [
        migrations.RunPython(create_schedules, remove_schedules),
        migrations.RunPython(roles, migrations.RunPython.noop),
    ]
