"""The admin's pages of third-party apps read in Chinese: second-factor devices (without their
keys), periodic tasks and schedules, permission names, the app list."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def visible(response) -> str:
    html = response.content.decode()
    html = re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", " ", html)
    return re.sub(r"(?s)<[^>]+>", " ", html)


def test_index_and_device_lists_are_chinese_and_show_no_key(admin_client, admin_user):
    from tests.otp import device_for

    device = device_for(admin_user)
    index = visible(admin_client.get("/admin/"))
    for english in ("TOTP devices", "Static devices", "Otp", "Model name", "Add link", "Change or view list link"):
        assert english not in index, english
    assert "双重验证：手机验证器" in index and "备用验证码组" in index
    page = admin_client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    text = visible(page)
    assert "用户" in text and "最近使用" in text and "已完成绑定" in text
    change = admin_client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert change.status_code == 200
    assert device.key not in change.content.decode() and "otpauth://" not in change.content.decode()
    assert admin_client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403


def test_periodic_tasks_and_schedules_are_chinese(admin_client):
    from django_celery_beat.models import CrontabSchedule

    CrontabSchedule.objects.get_or_create(minute="0", hour="2", day_of_week="*", day_of_month="*",
                                          month_of_year="*", timezone="Asia/Shanghai")
    tasks = visible(admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist")))
    assert "Task Name" not in tasks and "Scheduler" not in tasks and "调度方式" in tasks and "任务名称" in tasks
    add = visible(admin_client.get(reverse("admin:django_celery_beat_periodictask_add")))
    for english in ("Task Name", "Execution Options", "Arguments", "Schedule "):
        assert english not in add, english
    assert "执行选项" in add
    crontabs = visible(admin_client.get(reverse("admin:django_celery_beat_crontabschedule_changelist")))
    assert "Human readable" not in crontabs and "可读描述" in crontabs and "在 02:00" in crontabs


def test_permission_names_in_role_pages_are_chinese(admin_client):
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="运营")
    page = visible(admin_client.get(reverse("admin:auth_group_change", args=[group.pk])))
    assert "Can change" not in page and "Can view" not in page
    assert "可修改受理协议" in page and "可查看积分计划" in page
