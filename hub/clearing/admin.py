"""The ops site (Chinese) for clearing, settlement, reconciliation and the invariant checks.

Everything here is read-only in the Django sense: batches, lines and documents are written by the
services only, and each button or action calls one service — close (关闭), approve (审批, by a 财务
user who did not close the batch), settle (登记结算, with the bank reference), build the files
(生成对账单), upload a day-end file (上传日结文件) and resolve a difference (处理差异). Files are
downloaded from the batch page or the 清算文件 list.
"""

from __future__ import annotations

import os

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from hub.clearing import (
    admin_reconciliation,  # noqa: F401  registers reconciliation and the checks
    services,
    statements,
)
from hub.clearing.admin_base import FORM_TEMPLATE, ReadOnlyInline
from hub.clearing.models import (
    ClearingBatch,
    ClearingDocument,
    ClearingLine,
    ClearingPosition,
    SettlementInstruction,
)
from hub.errors import DomainError


def _yuan(fen: int) -> str:
    return statements.yuan(fen)


def _finance_or(perm: str):
    def check(self, request) -> bool:
        return request.user.has_perm(perm) or services.in_finance(request.user)
    return check


class PositionInline(ReadOnlyInline):
    model = ClearingPosition
    verbose_name_plural = "净头寸（正数应收，负数应付）"
    fields = ["party", "receivable", "fee_deducted", "payable", "fee_retained", "net"]
    readonly_fields = fields

    @admin.display(description="应收（元）")
    def receivable(self, obj):
        return _yuan(obj.receivable_fen)

    @admin.display(description="被扣手续费（元）")
    def fee_deducted(self, obj):
        return _yuan(obj.fee_deducted_fen)

    @admin.display(description="应付（元）")
    def payable(self, obj):
        return _yuan(obj.payable_fen)

    @admin.display(description="留存手续费（元）")
    def fee_retained(self, obj):
        return _yuan(obj.fee_retained_fen)

    @admin.display(description="净头寸（元）")
    def net(self, obj):
        return _yuan(obj.net_fen)


class InstructionInline(ReadOnlyInline):
    model = SettlementInstruction
    fields = ["payer", "payee", "amount"]
    readonly_fields = fields

    @admin.display(description="金额（元）")
    def amount(self, obj):
        return _yuan(obj.amount_fen)


class LineInline(ReadOnlyInline):
    model = ClearingLine
    fields = ["payer", "payee", "program", "kind", "item_count", "points", "gross", "fee", "net"]
    readonly_fields = fields

    @admin.display(description="清算金额（元）")
    def gross(self, obj):
        return _yuan(obj.gross_fen)

    @admin.display(description="手续费（元）")
    def fee(self, obj):
        return _yuan(obj.fee_fen)

    @admin.display(description="应付净额（元）")
    def net(self, obj):
        return _yuan(obj.net_fen)


def _download_link(doc: ClearingDocument) -> str:
    url = reverse("admin:clearing_clearingdocument_download", args=[doc.pk])
    return format_html('<a href="{}">下载</a>', url)


class DocumentInline(ReadOnlyInline):
    model = ClearingDocument
    fields = ["kind", "party", "encoding", "row_count", "size", "sha256", "download", "error"]
    readonly_fields = fields

    @admin.display(description="文件")
    def download(self, obj):
        return _download_link(obj) if obj.pk and obj.file else ""


class SettleForm(forms.Form):
    bank_reference = forms.CharField(label="银行流水号", max_length=64)


@admin.register(ClearingBatch)
class ClearingBatchAdmin(admin.ModelAdmin):
    list_display = ["clearing_date", "cutoff_at", "status", "item_count", "gross", "fees", "transfer", "closer",
                    "approved_by", "settled_at", "bank_reference"]
    list_filter = ["status"]
    date_hierarchy = "cutoff_at"
    readonly_fields = ["clearing_date", "period_start", "cutoff_at", "status", "item_count", "late_item_count",
                       "gross", "fees", "transfer", "closed_at", "closer", "approved_at", "approved_by",
                       "settled_at", "settled_by", "bank_reference"]
    fields = readonly_fields
    inlines = [PositionInline, InstructionInline, LineInline, DocumentInline]
    actions = ["approve_selected", "build_documents"]
    change_list_template = "admin/clearing/batch_change_list.html"
    change_form_template = "admin/clearing/batch_change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    has_close_permission = _finance_or("clearing.close_clearingbatch")
    has_approve_permission = _finance_or("clearing.approve_clearingbatch")
    has_settle_permission = _finance_or("clearing.settle_clearingbatch")

    @admin.display(description="清算金额（元）", ordering="gross_fen")
    def gross(self, obj):
        return _yuan(obj.gross_fen)

    @admin.display(description="手续费（元）", ordering="fee_fen")
    def fees(self, obj):
        return _yuan(obj.fee_fen)

    @admin.display(description="结算指令合计（元）", ordering="transfer_fen")
    def transfer(self, obj):
        return _yuan(obj.transfer_fen)

    @admin.display(description="关闭人")
    def closer(self, obj):
        if obj.status == ClearingBatch.Status.OPEN:
            return ""
        return obj.closed_by or "系统定时任务"

    def get_urls(self):
        return [
            path("close-due/", self.admin_site.admin_view(self.close_due_view), name="clearing_clearingbatch_close_due"),
            path("<int:pk>/settle/", self.admin_site.admin_view(self.settle_view), name="clearing_clearingbatch_settle"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        next_cutoff, pending = services.pending_items()
        extra_context = {**(extra_context or {}), "may_close": self.has_close_permission(request),
                         "next_cutoff": next_cutoff, "pending": pending}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        may_settle = bool(batch and batch.status == ClearingBatch.Status.APPROVED and self.has_settle_permission(request))
        extra_context = {**(extra_context or {}), "may_settle": may_settle}
        return super().change_view(request, object_id, form_url, extra_context)

    def _report(self, request, done: int, errors: list[str], verb: str) -> None:
        if done:
            self.message_user(request, f"已{verb} {done} 个批次。", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    def close_due_view(self, request):
        if request.method != "POST" or not self.has_close_permission(request):
            raise PermissionDenied
        try:
            closed = services.close_due_batches(actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            for batch in closed:
                self.log_change(request, batch, "关闭批次")
            self.message_user(request, f"已关闭 {len(closed)} 个到期批次。" if closed else "没有到期未关闭的批次。",
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:clearing_clearingbatch_changelist"))

    @admin.action(description="审批所选批次", permissions=["approve"])
    def approve_selected(self, request, queryset):
        done, errors = 0, []
        for batch in queryset:
            try:
                services.approve_batch(batch=batch, user=request.user)
            except DomainError as exc:
                errors.append(f"{batch}：{exc.message}")
                continue
            self.log_change(request, batch, "审批批次")
            done += 1
        self._report(request, done, errors, "审批")

    @admin.action(description="生成对账单与结算指令文件", permissions=["close"])
    def build_documents(self, request, queryset):
        queued, errors = 0, []
        for batch in queryset:
            if batch.status == ClearingBatch.Status.OPEN:
                errors.append(f"{batch}：批次尚未关闭")
                continue
            transaction.on_commit(lambda pk=batch.pk: services.queue_documents(pk))
            queued += 1
        if queued:
            self.message_user(request, f"已提交 {queued} 个批次的文件生成任务，稍后刷新页面查看。", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    def settle_view(self, request, pk):
        batch = get_object_or_404(ClearingBatch, pk=pk)
        if not self.has_settle_permission(request):
            raise PermissionDenied
        form = SettleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.settle_batch(batch=batch, user=request.user,
                                      bank_reference=form.cleaned_data["bank_reference"])
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_change(request, batch, "登记结算")
                self.message_user(request, f"{batch} 已登记为已结算。", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:clearing_clearingbatch_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"登记结算：{batch}",
            "form": form, "submit": "登记已结算",
            "lines": [f"结算指令合计：{_yuan(batch.transfer_fen)} 元",
                      "请在银行完成全部结算指令的付款后，填写银行流水号。"],
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)


@admin.register(ClearingDocument)
class ClearingDocumentAdmin(admin.ModelAdmin):
    list_display = ["batch", "kind", "party", "encoding", "row_count", "size", "sha256", "created_at", "download",
                    "error"]
    list_filter = ["kind", "encoding"]
    list_select_related = ["batch", "party"]
    readonly_fields = ["batch", "kind", "party", "encoding", "file", "sha256", "size", "row_count", "error",
                       "created_at"]
    fields = readonly_fields
    actions = ["verify"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="文件")
    def download(self, obj):
        return _download_link(obj) if obj.file else "未生成"

    def get_urls(self):
        return [
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                 name="clearing_clearingdocument_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, pk):
        doc = get_object_or_404(ClearingDocument, pk=pk)
        if not self.has_view_permission(request, doc):
            raise PermissionDenied
        if doc.failed:
            raise Http404("文件未生成")
        try:
            handle = doc.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404("文件不存在") from exc
        response = FileResponse(handle, as_attachment=True, filename=os.path.basename(doc.file.name),
                                content_type=f"text/csv; charset={doc.encoding}")
        response["X-Content-SHA256"] = doc.sha256
        return response

    @admin.action(description="校验文件摘要（SHA-256）")
    def verify(self, request, queryset):
        for doc in queryset:
            if doc.failed:
                self.message_user(request, f"{doc}：{doc.error}", messages.WARNING)
                continue
            try:
                ok = statements.verify_document(document=doc)
            except FileNotFoundError:
                ok = False
            level = messages.SUCCESS if ok else messages.ERROR
            self.message_user(request, f"{doc}：{'摘要一致' if ok else '文件缺失或已被改动'}", level)

