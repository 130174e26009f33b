"""Every admin change list and add page, opened by a staff user whose browser asks for Chinese,
shows none of the English labels and help texts of the third-party apps (django-celery-beat,
django-otp, pghistory, Django's own permission names): a new package version or a new page that
brings English back fails here."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db

# English as those apps write it (labels, column headings, help texts, object names)
ENGLISH = (
    "Task Name", "Crontab translation", "(m/h/dM/MY/d)", "Human readable", "Scheduler", "If True",
    "Reset to None", "enabled is set", '"argument"', "Periodic Tasks", "Execution Options", "Arguments",
    "TOTP", "Static device", "Otp", "Pghistory", "Pgtrigger", "Events", "Context", "Can add", "Can change",
    "Can delete", "Can view", "Model name", "Add link", "Change or view list link", "Schedule",
    "hub | clearing",
)


def visible(response) -> str:
    html = response.content.decode()
    html = re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", " ", html)
    html = re.sub(r"(?s)<[^>]+>", " ", html)
    return re.sub(r"&[a-z]+;", " ", html)


def test_no_english_label_of_third_party_apps_on_any_admin_page(admin_client):
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    crontab, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="2", day_of_week="*", day_of_month="*",
                                                       month_of_year="*", timezone="Asia/Shanghai")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(name="测试任务", task="hub.ops.tasks.refresh_dashboards", crontab=crontab)
    PeriodicTask.objects.create(name="测试任务二", task="hub.ops.tasks.refresh_dashboards", interval=every)
    pages = ["/admin/", reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]),
             reverse("admin:django_celery_beat_crontabschedule_change", args=[crontab.pk]),
             reverse("admin:django_celery_beat_intervalschedule_change", args=[every.pk])]
    for model in admin.site._registry:  # noqa: SLF001
        for view in ("changelist", "add"):
            try:
                pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"))
            except NoReverseMatch:
                continue
    found = {}
    walked = 0
    for url in pages:
        response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        if response.status_code == 403:  # add pages of read-only models
            continue
        assert response.status_code == 200, url
        walked += 1
        text = visible(response)
        hits = [english for english in ENGLISH if english in text]
        if hits:
            found[url] = hits
    assert walked > 60, walked  # the walk did reach the admin's pages
    assert found == {}


def test_schedule_choices_and_descriptions_are_chinese(admin_client):
    from django_celery_beat.models import CrontabSchedule

    CrontabSchedule.objects.get_or_create(minute="30", hour="3", day_of_week="*", day_of_month="*",
                                          month_of_year="*", timezone="Asia/Shanghai")
    add = admin_client.get(reverse("admin:django_celery_beat_periodictask_add")).content.decode()
    assert "30 3 * * *：在 03:30（Asia/Shanghai）" in add
    assert "可读计划" in add and "勾选后，此计划只运行任务一次" in add
