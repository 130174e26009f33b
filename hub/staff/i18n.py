"""Chinese for what third-party apps show in the admin without a zh-hans string of their own.

Strings they pass through gettext are translated in hub/locale (LOCALE_PATHS). The rest are
plain English in their code (django-otp's names, some of django-celery-beat's labels): app and
model names are set here on the app configs and on ``_meta`` (which migrations do not read), and
labels and columns through the admin classes, never on the model fields (that would be a
migration of a third-party app).
"""

from __future__ import annotations

import re

from django.apps import apps
from django.contrib import admin

APP_NAMES = {
    "django_otp": "双重验证",
    "otp_totp": "双重验证：手机验证器",
    "otp_static": "双重验证：备用验证码",
    "pghistory": "配置变更历史（底层记录）",
    "pgtrigger": "数据库触发器",
}
MODEL_NAMES = {
    "otp_totp.TOTPDevice": "手机验证器",
    "otp_static.StaticDevice": "备用验证码组",
    "otp_static.StaticToken": "备用验证码",
    "pghistory.Context": "变更上下文",
    "pghistory.Events": "变更事件",
    "pghistory.MiddlewareEvents": "页面变更事件",
}
BEAT_LABELS = {"task": "任务名称", "regtask": "已注册任务"}


def _beat_admins() -> None:
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    def relabel(model_admin):
        cls = model_admin.__class__

        def formfield_for_dbfield(self, db_field, request, **kwargs):
            field = super(new, self).formfield_for_dbfield(db_field, request, **kwargs)
            if field is not None and db_field.name in BEAT_LABELS:
                field.label = BEAT_LABELS[db_field.name]
            return field

        new = type(cls.__name__, (cls,), {"__module__": cls.__module__,
                                          "formfield_for_dbfield": formfield_for_dbfield})
        model_admin.__class__ = new
        return new

    periodic = admin.site._registry.get(PeriodicTask)  # noqa: SLF001
    if periodic is not None:
        cls = relabel(periodic)
        periodic.list_filter = [("task", TaskFilter) if name == "task" else name for name in periodic.list_filter]

        @admin.display(description="调度方式")
        def scheduler_cn(self, obj):
            return obj.scheduler

        cls.scheduler_cn = scheduler_cn
        periodic.list_display = tuple("scheduler_cn" if name == "scheduler" else name for name in periodic.list_display)

    crontab = admin.site._registry.get(CrontabSchedule)  # noqa: SLF001
    if crontab is not None:
        cls = relabel(crontab)

        @admin.display(description="可读描述")
        def human_readable_cn(self, obj):
            return describe_crontab(obj)

        cls.human_readable_cn = human_readable_cn
        swap = {"human_readable": "human_readable_cn"}
        crontab.list_display = tuple(swap.get(name, name) for name in crontab.list_display)
        crontab.fields = tuple(swap.get(name, name) for name in crontab.fields)
        crontab.readonly_fields = tuple(swap.get(name, name) for name in crontab.readonly_fields)


class TaskFilter(admin.AllValuesFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = BEAT_LABELS["task"]


ACTIONS = {"add": "可新增", "change": "可修改", "delete": "可删除", "view": "可查看"}


def permission_label(permission) -> str:
    """``应用 | 模型 | 可修改 模型`` instead of Django's ``… | Can change …`` (stored in English)."""
    model = permission.content_type.model_class()
    app = apps.get_app_config(permission.content_type.app_label).verbose_name if model else permission.content_type.app_label
    model_name = model._meta.verbose_name if model else permission.content_type.model
    action, _, rest = permission.codename.partition("_")
    if action in ACTIONS and model and rest == model._meta.model_name:
        name = f"{ACTIONS[action]}{model_name}"
    else:  # a custom permission, or one of a model that moved app (stored name "Can add …")
        name = re.sub(r"^Can (add|change|delete|view) ", lambda m: ACTIONS[m.group(1)], permission.name)
    return f"{app} | {model_name} | {name}"


def _permission_widgets() -> None:
    from django.contrib.auth.models import Group, User

    for model in (Group, User):
        model_admin = admin.site._registry.get(model)  # noqa: SLF001
        if model_admin is None:
            continue
        model_admin.__class__ = _with_permission_labels(model_admin.__class__)


def _with_permission_labels(cls):
    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super(new, self).formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name in ("permissions", "user_permissions"):
            field.queryset = field.queryset.select_related("content_type")
            field.label_from_instance = permission_label
        return field

    new = type(cls.__name__, (cls,), {"__module__": cls.__module__, "formfield_for_manytomany": formfield_for_manytomany})
    return new


def describe_crontab(schedule) -> str:
    """The schedule in Chinese words (cron-descriptor's zh_CN), with its time zone."""
    from cron_descriptor import ExpressionDescriptor, Options

    expression = " ".join(str(part) for part in (schedule.minute, schedule.hour, schedule.day_of_month,
                                                  schedule.month_of_year, schedule.day_of_week))
    options = Options()
    options.locale_code = "zh_CN"
    options.use_24hour_time_format = True
    try:
        text = ExpressionDescriptor(expression, options).get_description()
    except Exception:  # noqa: BLE001 - an expression cron-descriptor cannot read: show it as it is
        text = expression
    return f"{text}（{schedule.timezone}）"


def apply() -> None:
    for label, name in APP_NAMES.items():
        try:
            apps.get_app_config(label).verbose_name = name
        except LookupError:  # not installed
            continue
    for label, name in MODEL_NAMES.items():
        try:
            meta = apps.get_model(label)._meta
        except LookupError:
            continue
        meta.verbose_name = meta.verbose_name_plural = name
    _beat_admins()
    _permission_widgets()
