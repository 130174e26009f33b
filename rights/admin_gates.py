"""The gate part of the ops site (in Chinese): scenic-spot gates, every gate check (online verify
and offline scan) with its answer, the exceptions of offline scans with a resolve action through
rights.gates.resolve_exception, refund holds and online platforms' orders. Only gates are
configured here (like stores and terminals); everything else is read-only or changed by a service."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from hub.errors import DomainError
from rights import gates
from rights.admin import _ReadOnly
from rights.models import Gate, GateCheck, GateException, PlatformOrder, VoucherHold


@admin.register(Gate)
class GateAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "merchant", "terminal", "active", "created_at")
    list_filter = ("active", "merchant")
    search_fields = ("code", "name", "merchant__code", "merchant__name")
    list_select_related = ("merchant", "terminal__store")
    autocomplete_fields = ()

    def has_delete_permission(self, request, obj=None):
        return False  # a gate that wrote off keeps its history: deactivate it instead


@admin.register(GateCheck)
class GateCheckAdmin(_ReadOnly):
    list_display = ("request_no", "mode", "outcome", "code", "reason", "gate", "merchant", "people", "scanned_at",
                    "received_at")
    list_filter = ("mode", "outcome", "code", "merchant")
    search_fields = ("request_no",)
    list_select_related = ("gate", "merchant")
    exclude = ("fingerprint",)


class ResolveForm(ActionForm):
    resolution = forms.ChoiceField(label="处理结果", choices=[("", "---------"), *GateException.Resolution.choices],
                                   required=False)
    note = forms.CharField(label="处理说明", required=False, max_length=200)


@admin.register(GateException)
class GateExceptionAdmin(_ReadOnly):
    list_display = ("id", "kind", "status", "gate", "scan_no", "scanned_at", "voucher", "first_use", "detail",
                    "resolution", "resolved_by", "resolved_at")
    list_filter = ("status", "kind", "resolution")
    search_fields = ("scan__request_no",)
    list_select_related = ("scan__gate", "voucher", "first_use", "resolved_by")
    action_form = ResolveForm
    actions = ["resolve_selected"]

    @admin.display(description="闸机")
    def gate(self, obj):
        return obj.scan.gate

    @admin.display(description="扫码流水号")
    def scan_no(self, obj):
        return obj.scan.request_no

    @admin.display(description="扫码时间")
    def scanned_at(self, obj):
        return obj.scan.scanned_at

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not request.user.has_perm("rights.resolve_gateexception"):
            actions.pop("resolve_selected", None)
        return actions

    @admin.action(description="处理所选异常（需选择处理结果并填写说明）")
    def resolve_selected(self, request, queryset):
        resolution, note = request.POST.get("resolution", ""), request.POST.get("note", "").strip()
        if not resolution or not note:
            self.message_user(request, "请先选择“处理结果”并填写“处理说明”", messages.ERROR)
            return
        done = 0
        for exception in queryset:
            try:
                gates.resolve_exception(exception=exception, actor=request.user, resolution=resolution, note=note)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{exception}：{exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"已处理 {done} 条异常", messages.SUCCESS)


@admin.register(VoucherHold)
class VoucherHoldAdmin(_ReadOnly):
    list_display = ("voucher", "reason", "actor", "started_at", "ended_at")
    list_filter = ("ended_at",)


@admin.register(PlatformOrder)
class PlatformOrderAdmin(_ReadOnly):
    list_display = ("request_no", "order_no", "merchant", "amount_fen", "redemption", "created_at")
    search_fields = ("request_no", "order_no")
    list_select_related = ("merchant", "redemption")
