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
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    def relabel(model_admin):
        cls = model_admin.__class__

        def formfield_for_dbfield(self, db_field, request, **kwargs):
            field = super(new, self).formfield_for_dbfield(db_field, request, **kwargs)
            if field is not None and db_field.name in BEAT_LABELS:
                field.label = BEAT_LABELS[db_field.name]
            if field is not None and db_field.name == "crontab":
                field.label_from_instance = crontab_choice  # not "… (m/h/dM/MY/d) …"
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
            schedule = obj.scheduler
            return crontab_choice(schedule) if isinstance(schedule, CrontabSchedule) else schedule

        @admin.display(description="可读计划")
        def crontab_translation(self, obj):
            return describe_crontab(obj.crontab) if obj is not None and obj.crontab_id else ""

        def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
            # the package's view puts English descriptions in for its script; these are Chinese
            extra_context = {**(extra_context or {}), "readable_crontabs": {
                schedule.pk: describe_crontab(schedule) for schedule in CrontabSchedule.objects.all()}}
            return admin.ModelAdmin.changeform_view(self, request, object_id, form_url, extra_context)

        cls.scheduler_cn = scheduler_cn
        cls.crontab_translation = crontab_translation
        cls.changeform_view = changeform_view
        periodic.list_display = tuple("scheduler_cn" if name == "scheduler" else name for name in periodic.list_display)

    crontab = admin.site._registry.get(CrontabSchedule)  # noqa: SLF001
    if crontab is not None:
        cls = relabel(crontab)

        @admin.display(description="可读描述")
        def human_readable_cn(self, obj):
            return describe_crontab(obj)

        @admin.display(description="计划表达式")
        def expression_cn(self, obj):
            return crontab_choice(obj)

        cls.human_readable_cn = human_readable_cn
        cls.expression_cn = expression_cn
        swap = {"human_readable": "human_readable_cn", "__str__": "expression_cn"}
        crontab.list_display = tuple(swap.get(name, name) for name in crontab.list_display)
        crontab.fields = tuple(swap.get(name, name) for name in crontab.fields)
        crontab.readonly_fields = tuple(swap.get(name, name) for name in crontab.readonly_fields)


    # the package's own text of a crontab ("0 2 * * * (m/h/dM/MY/d) Asia/Shanghai") is in titles,
    # breadcrumbs and a periodic task's name; a display method (no field, no migration)
    CrontabSchedule.__str__ = crontab_choice

    # the schedules' pages list their periodic tasks with the package's English "Task Name" column
    for model in (CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
        schedule_admin = admin.site._registry.get(model)  # noqa: SLF001
        if schedule_admin is not None:
            schedule_admin.inlines = [_chinese_inline(inline) for inline in schedule_admin.inlines]


def _chinese_inline(inline):
    from django_celery_beat.models import PeriodicTask

    if getattr(inline, "model", None) is not PeriodicTask or "task" not in inline.fields:
        return inline

    @admin.display(description=BEAT_LABELS["task"])
    def task_cn(self, obj):
        return obj.task

    fields = tuple("task_cn" if name == "task" else name for name in inline.fields)
    return type(inline.__name__, (inline,), {"__module__": inline.__module__, "task_cn": task_cn, "fields": fields,
                                             "readonly_fields": fields})


def crontab_choice(schedule) -> str:
    """A crontab schedule as a choice or a column: its expression and its Chinese description."""
    expression = " ".join(str(part) for part in (schedule.minute, schedule.hour, schedule.day_of_month,
                                                  schedule.month_of_year, schedule.day_of_week))
    return f"{expression}：{describe_crontab(schedule)}"


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
    from django.contrib.contenttypes.models import ContentType

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super(new, self).formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name in ("permissions", "user_permissions"):
            # permissions of models that moved to another app (content types left behind) grant
            # nothing; listed, they showed as "hub | clearingbatch | …"
            live = [ct.pk for ct in ContentType.objects.all() if ct.model_class() is not None]
            field.queryset = field.queryset.filter(content_type__in=live).select_related("content_type")
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
