"""The ops site (Chinese) for the cloud POS: cashiers and devices.

Cashiers are added through ``services.add_cashier`` (a Django user that is not staff, bound to
the merchant and its stores; a supervisor's PIN is stored hashed). Devices get a one-time
enrolment code through ``services.issue_enrolment_code``: shown once on the page that answers the
action, never stored in clear; "停用设备" revokes the device's credential at once.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from hub.errors import DomainError
from hub.models import Cashier, PosDevice, Store, Terminal
from hub.vendors.cloudpos import services


class CashierAddForm(forms.ModelForm):
    username = forms.CharField(label="登录名", max_length=150)
    password = forms.CharField(label="初始密码", widget=forms.PasswordInput, strip=False)
    pin = forms.CharField(label="主管密码（主管必填，4 到 8 位数字）", required=False, widget=forms.PasswordInput)

    class Meta:
        model = Cashier
        fields = ["merchant", "stores", "display_name", "is_supervisor"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                services.check_cashier(merchant=data.get("merchant"), username=data.get("username", ""),
                                       password=data.get("password", ""), stores=data.get("stores") or [],
                                       is_supervisor=data.get("is_supervisor", False), pin=data.get("pin"))
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data

    def _post_clean(self):  # the service validates and writes; nothing is saved by the form
        pass


class CashierPinForm(forms.ModelForm):
    pin = forms.CharField(label="新的主管密码（留空则不修改）", required=False, widget=forms.PasswordInput)

    class Meta:
        model = Cashier
        fields = ["stores", "display_name", "active"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                services.check_update(cashier=self.instance, stores=data.get("stores") or [], pin=data.get("pin"))
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data

    def _post_clean(self):  # the service writes
        pass


@admin.register(Cashier)
class CashierAdmin(admin.ModelAdmin):
    list_display = ["user", "display_name", "merchant", "store_list", "is_supervisor", "active", "created_at"]
    list_filter = ["merchant", "is_supervisor", "active"]
    search_fields = ["user__username", "display_name", "merchant__code"]
    autocomplete_fields = []

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = CashierPinForm if obj else CashierAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj:
            return ["merchant_name", "stores", "display_name", "active", "is_supervisor", "pin"]
        return ["merchant", "stores", "display_name", "username", "password", "is_supervisor", "pin"]

    def get_readonly_fields(self, request, obj=None):
        return ["merchant_name", "is_supervisor"] if obj else []

    @admin.display(description="商户")
    def merchant_name(self, obj):
        return obj.merchant

    @admin.display(description="门店")
    def store_list(self, obj):
        return "、".join(store.name for store in obj.stores.all())

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "stores":
            kwargs["queryset"] = Store.objects.select_related("merchant").filter(active=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = services.add_cashier(merchant=data["merchant"], username=data["username"],
                                           password=data["password"], stores=data["stores"],
                                           display_name=data.get("display_name", ""),
                                           is_supervisor=data.get("is_supervisor", False), pin=data.get("pin"))
            obj.pk, obj.user_id, obj.merchant_id = created.pk, created.user_id, created.merchant_id
            return
        services.update_cashier(cashier=obj, stores=list(data["stores"]), display_name=data.get("display_name", ""),
                                active=data.get("active", True))
        if data.get("pin"):
            services.set_supervisor_pin(cashier=obj, pin=data["pin"])

    def save_related(self, request, form, formsets, change):
        pass  # the service set the stores

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PosDevice)
class PosDeviceAdmin(admin.ModelAdmin):
    list_display = ["terminal", "store", "merchant", "state", "enrolled_at", "code_expires_at"]
    list_filter = ["terminal__store__merchant"]
    search_fields = ["terminal__code", "terminal__store__code", "terminal__store__merchant__code"]
    actions = ["issue_codes", "stop_devices"]
    codes_template = "admin/cloudpos/enrolment_codes.html"
    fields = ["terminal", "state", "enrolled_at", "code_expires_at"]
    readonly_fields = ["state", "enrolled_at", "code_expires_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["terminal", *self.readonly_fields] if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "terminal":
            kwargs["queryset"] = Terminal.objects.filter(kind=Terminal.Kind.CLOUD_POS, active=True).select_related(
                "store__merchant")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="门店")
    def store(self, obj):
        return obj.terminal.store

    @admin.display(description="商户")
    def merchant(self, obj):
        return obj.terminal.store.merchant

    @admin.display(description="状态")
    def state(self, obj):
        if obj.credential_id and obj.credential.is_active:
            return "已登记"
        if obj.code_digest:
            return "待登记（已发登记码）"
        return "未登记"

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="发放登记码（30 分钟内有效，只显示一次）", permissions=["change"])
    def issue_codes(self, request, queryset):
        rows = []
        for device in queryset.select_related("terminal__store"):
            try:
                device, code = services.issue_enrolment_code(terminal=device.terminal)
            except DomainError as exc:
                self.message_user(request, f"{device.terminal}：{exc.message}", messages.ERROR)
                continue
            rows.append({"device": device, "code": code})
        if not rows:
            return None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "设备登记码",
                   "rows": rows}
        response = TemplateResponse(request, self.codes_template, context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="停用设备（立即失效，需重新登记）", permissions=["change"])
    def stop_devices(self, request, queryset):
        for device in queryset:
            services.revoke_device(device=device)
        self.message_user(request, f"已停用 {queryset.count()} 台设备。", messages.SUCCESS)
