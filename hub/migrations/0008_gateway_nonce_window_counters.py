"""The gateway, hardened:

- nonces single-use for the contract's 15 minutes (hub_till_nonce), not forever: the unique
  (credential, nonce) constraint of hub_tillcall goes, call records are kept for a retention
  period and pruned daily (the hub.prune_gateway job);
- shared atomic counters for rate limits and throttles (hub_gateway_counter);
- Vendor.code's choices come from the adapter registry (rows: hub.gateway.registry.sync_vendors,
  after every migrate).
"""

import django.db.models
import hub.models
from django.db import migrations, models

TZ = "Asia/Shanghai"
JOB = ("清理网关记录", "hub.prune_gateway",
       "每天 03:30：删除超过 15 分钟的收银随机串、超过保留期（GATEWAY_CALL_RETENTION_DAYS）的收银调用记录和过期计数器")


def create_schedule(apps, schema_editor):
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    name, task, description = JOB
    if PeriodicTask.objects.using(db).filter(name=name).exists():
        return
    crontab, _ = CrontabSchedule.objects.using(db).get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone=TZ)
    PeriodicTask.objects.using(db).create(name=name, task=task, description=description, enabled=True, crontab=crontab)


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.using(schema_editor.connection.alias).filter(name=JOB[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("hub", "0007_clearing_models_moved"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterField(
            model_name="vendor",
            name="code",
            field=models.CharField(choices=hub.models.vendor_choices, max_length=32, unique=True, verbose_name="代码"),
        ),
        migrations.RemoveConstraint(model_name="tillcall", name="till_call_nonce_single_use"),
        migrations.CreateModel(
            name="GatewayCounter",
            fields=[
                ("key", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField(default=0)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
            options={"db_table": "hub_gateway_counter", "verbose_name": "网关计数器", "verbose_name_plural": "网关计数器"},
        ),
        migrations.CreateModel(
            name="TillNonce",
            fields=[
                ("pk", django.db.models.CompositePrimaryKey("credential_id", "nonce", blank=True, editable=False,
                                                            primary_key=True, serialize=False)),
                ("credential_id", models.BigIntegerField()),
                ("nonce", models.CharField(max_length=64)),
                ("seen_at", models.DateTimeField(db_index=True)),
            ],
            options={"db_table": "hub_till_nonce", "verbose_name": "收银请求随机串", "verbose_name_plural": "收银请求随机串"},
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
