"""The second-factor devices in the admin, in Chinese and without their secrets: a list of who
has an authenticator and backup codes, which a superuser may delete (the user then enrols again
at the next sign-in). Adding or editing a device is only done by its owner on the enrolment
page; django-otp's own admin (which shows the key as a QR code) is replaced."""

from __future__ import annotations

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class DeviceAdmin(admin.ModelAdmin):
    list_display = ("owner", "device_name", "enrolled", "created", "last_used")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = readonly_fields = ("owner", "device_name", "enrolled", "created", "last_used")

    @admin.display(description="用户", ordering="user__username")
    def owner(self, obj):
        return obj.user.get_username()

    @admin.display(description="名称")
    def device_name(self, obj):
        return obj.name

    @admin.display(description="已完成绑定", boolean=True)
    def enrolled(self, obj):
        return obj.confirmed

    @admin.display(description="创建时间", ordering="created_at")
    def created(self, obj):
        return obj.created_at

    @admin.display(description="最近使用", ordering="last_used_at")
    def last_used(self, obj):
        return obj.last_used_at

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(DeviceAdmin):
    pass


@admin.register(StaticDevice)
class StaticDeviceAdmin(DeviceAdmin):
    list_display = (*DeviceAdmin.list_display, "remaining")
    fields = readonly_fields = (*DeviceAdmin.fields, "remaining")

    @admin.display(description="剩余备用验证码")
    def remaining(self, obj):
        return obj.token_set.count()
