"""The ops site (Chinese) for reconciliation (对账) and the ledger invariant checks: upload a
day-end file (上传日结文件), resolve a difference (处理差异), see the nightly checks."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from hub.clearing import reconciliation, tasks
from hub.clearing.admin_base import FORM_TEMPLATE, ReadOnlyInline
from hub.clearing.models import LedgerCheckRun, ReconciliationDifference, ReconciliationRun
from hub.errors import DomainError
from hub.models import Merchant

# ---- reconciliation ------------------------------------------------------------------------------

class UploadForm(forms.Form):
    merchant = forms.ModelChoiceField(label="商户", queryset=Merchant.objects.filter(kind=Merchant.Kind.MERCHANT))
    biz_date = forms.DateField(label="营业日", widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(label="日结文件（CSV）",
                           help_text="每行：请求单号,类型（累计/抵扣/退货）,积分,金额（分）,时间[,状态（成功/冲正）]")
    encoding = forms.ChoiceField(label="编码", choices=[("auto", "自动识别"), ("utf-8", "UTF-8"), ("gbk", "GBK")])


class DifferenceInline(ReadOnlyInline):
    model = ReconciliationDifference
    fields = ["kind", "request_no", "field", "till_value", "hub_value", "state"]
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="处理")
    def state(self, obj):
        if obj.resolved_at:
            return f"已处理（{obj.resolved_by}）"
        return format_html('<a href="{}">处理</a>', reverse("admin:clearing_reconciliationdifference_resolve", args=[obj.pk]))


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "merchant", "store", "terminal", "biz_date", "matched", "difference_count",
                    "row_count", "created_at", "created_by"]
    list_filter = ["source", "matched", "biz_date"]
    list_select_related = ["merchant", "store", "terminal", "created_by"]
    search_fields = ["merchant__code", "merchant__name", "file_name"]
    readonly_fields = ["source", "merchant", "store", "terminal", "biz_date", "file_name", "sha256", "row_count",
                       "till_totals", "hub_totals", "matched", "difference_count", "created_at", "created_by"]
    fields = readonly_fields
    inlines = [DifferenceInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return request.user.has_perm("clearing.add_reconciliationrun") or reconciliation.may_resolve(request.user)

    def add_view(self, request, form_url="", extra_context=None):
        """上传日结文件: the form calls reconcile_file and shows the run with its differences."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                run = reconciliation.reconcile_file(
                    merchant=form.cleaned_data["merchant"], biz_date=form.cleaned_data["biz_date"], file=upload,
                    file_name=upload.name, encoding=form.cleaned_data["encoding"], actor=request.user)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_addition(request, run, "上传日结文件")
                level = messages.SUCCESS if run.matched else messages.WARNING
                self.message_user(request, f"对账完成：{run.row_count} 行，差异 {run.difference_count} 条。", level)
                return HttpResponseRedirect(reverse("admin:clearing_reconciliationrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "上传日结文件",
            "form": form, "submit": "上传并对账", "multipart": True,
            "lines": ["文件为 CSV，每行一笔：请求单号,类型,积分,金额（分）,时间[,状态]；以 # 开头的行和表头行会被跳过。",
                      "同一商户同一营业日再次上传完全相同的文件，返回第一次的对账结果。"],
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)


class ResolveForm(forms.Form):
    note = forms.CharField(label="处理说明", widget=forms.Textarea(attrs={"rows": 4, "cols": 60}))


@admin.register(ReconciliationDifference)
class ReconciliationDifferenceAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "merchant", "biz_date", "kind", "request_no", "field", "till_value", "hub_value",
                    "resolved", "resolved_by", "resolve_link"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter), "biz_date"]
    list_select_related = ["run", "merchant", "resolved_by"]
    search_fields = ["request_no", "merchant__code", "merchant__name"]
    readonly_fields = ["run", "merchant", "biz_date", "kind", "request_no", "field", "till_value", "hub_value",
                       "operation_id", "resolved_at", "resolved_by", "resolution_note"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="已处理", boolean=True)
    def resolved(self, obj):
        return obj.resolved_at is not None

    @admin.display(description="操作")
    def resolve_link(self, obj):
        if obj.resolved_at:
            return ""
        return format_html('<a href="{}">处理</a>', reverse("admin:clearing_reconciliationdifference_resolve", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view),
                 name="clearing_reconciliationdifference_resolve"),
            *super().get_urls(),
        ]

    def resolve_view(self, request, pk):
        difference = get_object_or_404(ReconciliationDifference.objects.select_related("merchant"), pk=pk)
        if not reconciliation.may_resolve(request.user):
            raise PermissionDenied
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reconciliation.resolve_difference(difference=difference, user=request.user,
                                                  note=form.cleaned_data["note"])
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_change(request, difference, "处理对账差异")
                self.message_user(request, "差异已标记为已处理。", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:clearing_reconciliationrun_change", args=[difference.run_id]))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"处理对账差异 #{difference.pk}",
            "form": form, "submit": "标记已处理",
            "lines": [f"商户：{difference.merchant}  营业日：{difference.biz_date}",
                      f"差异：{difference.get_kind_display()}  请求单号：{difference.request_no or '—'}  "
                      f"字段：{difference.field or '—'}",
                      f"收银方：{difference.till_value or '—'}  中心：{difference.hub_value or '—'}",
                      "系统不会自动更正任何数据；如需调整，请按流程另行处理后在此记录说明。"],
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)


# ---- invariant checks ------------------------------------------------------------------------------

@admin.register(LedgerCheckRun)
class LedgerCheckRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "finished_at", "ok", "failed_invariants"]
    list_filter = ["ok"]
    readonly_fields = ["started_at", "finished_at", "ok", "problems"]
    fields = readonly_fields
    change_list_template = "admin/clearing/check_change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="未通过的检查")
    def failed_invariants(self, obj):
        return "、".join(obj.problems) if obj.problems else "—"

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="clearing_ledgercheckrun_run"),
            *super().get_urls(),
        ]

    def run_view(self, request):
        meta = LedgerCheckRun._meta  # starting the job writes: viewing (e.g. the 审计 role) is not enough
        if request.method != "POST" or not request.user.has_perm(f"{meta.app_label}.add_{meta.model_name}"):
            raise PermissionDenied
        transaction.on_commit(tasks.check_ledger.delay)
        self.message_user(request, f"已于 {timezone.localtime():%H:%M:%S} 提交检查任务，完成后在此列表中显示。",
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:clearing_ledgercheckrun_changelist"))
