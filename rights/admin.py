"""The rights part of the ops site (Django admin, in Chinese).

Rights, their quotas (remaining, claimed today, used today, budget spent), the approval
workflow, vouchers (searchable by member — masked — state, right), write-offs with their place
and funding. Every write goes through the services (rights.catalogue, rights.quotas,
rights.vouchers); no page saves a model's state itself. Members appear masked only.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from hub.errors import DomainError, ParamError
from members import vault
from members.validation import clean_mobile
from rights import catalogue, quotas, vouchers
from rights.models import (
    ClaimRequest,
    QuotaChange,
    QuotaCounter,
    Redemption,
    Right,
    RightHistory,
    RightsFunding,
    Voucher,
    VoucherEvent,
)
from rights.validity import local_date, start_of_day, window

FORM_TEMPLATE = "admin/action_form.html"  # the ops site's one form page (also clearing)
MOBILE_PARAM = "member_mobile"
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


class ReasonActionForm(ActionForm):
    reason = forms.CharField(label="原因", required=False, max_length=200)


def _yuan(fen) -> str:
    if fen is None:
        return "不限"
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RightForm(forms.ModelForm):
    valid_from_date = forms.DateField(label="有效期起（含当日）", required=False, help_text="北京时间，例如 2026-11-01")
    valid_until_date = forms.DateField(label="有效期止（含当日）", required=False,
                                       help_text="“有效至 11 月 30 日”即 11 月 30 日 23:59:59 前可用")

    class Meta:
        model = Right
        fields = ["code", "name", "kind", "description", "providers", "stores", "funder", "settlement_fen",
                  "funded_share_bp", "rate_bp", "off_fen", "threshold_fen", "cap_fen", "people", "tiers", "scenes",
                  "requires_consent", "claim_mode", "claim_program", "claim_points", "grant_count", "grant_period",
                  "valid_days", "weekdays", "stack_group", "exclusive", "return_on_refund", "total_limit",
                  "daily_limit", "member_limit", "member_period_limit", "member_period", "store_daily_limit",
                  "budget_fen"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance and instance.pk:
            if instance.valid_from:
                self.fields["valid_from_date"].initial = local_date(instance.valid_from)
            if instance.valid_until:
                self.fields["valid_until_date"].initial = local_date(instance.valid_until - timedelta(seconds=1))


class HistoryInline(admin.TabularInline):
    model = RightHistory
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "action", "actor", "changes", "reason")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CounterInline(HistoryInline):
    model = QuotaCounter
    fields = readonly_fields = ("scope", "key", "used", "limit_value", "updated_at")


class QuotaForm(forms.Form):
    field = forms.ChoiceField(label="额度", choices=[(name, Right._meta.get_field(name).verbose_name)
                                                   for name in quotas.LIMIT_FIELDS])
    expected = forms.IntegerField(label="当前值（原值）", required=False, min_value=0, help_text="留空表示当前不限")
    new = forms.IntegerField(label="新值", required=False, min_value=0, help_text="留空表示不限")
    request_no = forms.CharField(label="请求单号", max_length=64, widget=forms.HiddenInput)


@admin.register(Right)
class RightAdmin(admin.ModelAdmin):
    form = RightForm
    list_display = ("code", "name", "kind", "status", "funder", "remaining", "claimed_today", "used_today",
                    "budget_spent", "budget")
    list_filter = ("status", "kind", "claim_mode")
    search_fields = ("code", "name")
    filter_horizontal = ("providers", "stores", "tiers")
    inlines = [CounterInline, HistoryInline]
    action_form = ReasonActionForm
    actions = ["submit_selected", "approve_selected", "reject_selected", "pause_selected", "resume_selected",
               "end_selected"]
    change_form_template = "rights/right_change_form.html"

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != Right.Status.DRAFT:
            return False  # terms are what the approver saw; the workflow actions stay available
        return super().has_change_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        perms = {"submit_selected": "rights.submit_right", "approve_selected": "rights.approve_right",
                 "reject_selected": "rights.approve_right", "pause_selected": "rights.operate_right",
                 "resume_selected": "rights.operate_right", "end_selected": "rights.operate_right"}
        return {name: a for name, a in actions.items() if name not in perms or request.user.has_perm(perms[name])}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("funder")

    def _usage(self, obj):
        cache = getattr(self, "_usage_cache", None)
        if cache is None or cache[0] != obj.pk:
            today = start_of_day(local_date(timezone.now()))
            claimed = obj.vouchers.filter(claimed_at__gte=today).count()
            used = Redemption.objects.filter(right=obj, kind=Redemption.Kind.USE, status=Redemption.Status.SUCCESS,
                                             created_at__gte=today).count()
            cache = (obj.pk, quotas.usage(obj), claimed, used)
            self._usage_cache = cache
        return cache

    @admin.display(description="剩余可领")
    def remaining(self, obj):
        value = self._usage(obj)[1]["remaining"]
        return "不限" if value is None else value

    @admin.display(description="今日领取")
    def claimed_today(self, obj):
        return self._usage(obj)[2]

    @admin.display(description="今日核销")
    def used_today(self, obj):
        return self._usage(obj)[3]

    @admin.display(description="预算已用（元）")
    def budget_spent(self, obj):
        return _yuan(self._usage(obj)[1]["budget_spent_fen"])

    @admin.display(description="预算（元）")
    def budget(self, obj):
        return _yuan(obj.budget_fen)

    # --- writes through rights.catalogue -------------------------------------------------
    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        providers, stores, tiers = data.pop("providers"), data.pop("stores"), data.pop("tiers")
        code, name, kind, funder = data.pop("code"), data.pop("name"), data.pop("kind"), data.pop("funder")
        data["valid_from"], data["valid_until"] = window(data.pop("valid_from_date", None),
                                                         data.pop("valid_until_date", None))
        if change:
            saved = catalogue.update_right(right=obj, actor=request.user, providers=providers, stores=stores,
                                           tiers=tiers, name=name, kind=kind, funder=funder, **data)
        else:
            saved = catalogue.create_right(code=code, name=name, kind=kind, funder=funder, providers=providers,
                                           stores=stores, tiers=tiers, actor=request.user, **data)
        for field in Right._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # providers, stores and tiers were written by the service; the inlines are read-only
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def _each(self, request, queryset, call, done: str):
        count = 0
        for right in queryset:
            try:
                call(right)
                count += 1
            except DomainError as exc:
                self.message_user(request, f"{right}：{exc.message}", messages.ERROR)
        if count:
            self.message_user(request, done.format(count), messages.SUCCESS)

    @admin.action(description="提交审核")
    def submit_selected(self, request, queryset):
        self._each(request, queryset, lambda r: catalogue.submit_for_review(right=r, actor=request.user), "已提交 {} 项权益")

    @admin.action(description="审批通过（不能审批自己创建或提交的）")
    def approve_selected(self, request, queryset):
        self._each(request, queryset, lambda r: catalogue.approve_right(right=r, actor=request.user), "已审批 {} 项权益")

    @admin.action(description="退回修改（需填写原因）")
    def reject_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        self._each(request, queryset, lambda r: catalogue.reject_right(right=r, actor=request.user, reason=reason),
                   "已退回 {} 项权益")

    @admin.action(description="暂停")
    def pause_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        self._each(request, queryset, lambda r: catalogue.pause_right(right=r, actor=request.user, reason=reason),
                   "已暂停 {} 项权益")

    @admin.action(description="恢复")
    def resume_selected(self, request, queryset):
        self._each(request, queryset, lambda r: catalogue.resume_right(right=r, actor=request.user), "已恢复 {} 项权益")

    @admin.action(description="结束（不可恢复）")
    def end_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        self._each(request, queryset, lambda r: catalogue.end_right(right=r, actor=request.user, reason=reason),
                   "已结束 {} 项权益")

    # --- quota changes (compare-and-swap) ------------------------------------------------
    def get_urls(self):
        return [path("<path:object_id>/quota/", self.admin_site.admin_view(self.quota_view), name="rights_right_quota"),
                *super().get_urls()]

    def quota_view(self, request, object_id):
        if not request.user.has_perm("rights.change_quota"):
            raise PermissionDenied
        right = self.get_object(request, unquote(object_id))
        if right is None:
            raise Http404
        if request.method == "POST":
            form = QuotaForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    quotas.change_limit(right=right, field=data["field"], expected=data["expected"], new=data["new"],
                                        request_no=data["request_no"], actor=request.user)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, "额度已调整", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:rights_right_change", args=[right.pk]))
        else:
            form = QuotaForm(initial={"request_no": f"ADM-{secrets.token_hex(8)}"})
        usage = quotas.usage(right)
        lines = [f"{Right._meta.get_field(name).verbose_name}：{getattr(right, name) if getattr(right, name) is not None else '不限'}"
                 for name in quotas.LIMIT_FIELDS]
        lines.append(f"已领取 {usage['claimed_total']} 张；预算已用 {_yuan(usage['budget_spent_fen'])} 元")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": f"调整额度：{right}",
                   "form": form, "lines": lines, "submit": "提交（原值不符则不生效）"}
        return TemplateResponse(request, FORM_TEMPLATE, context)


@admin.register(QuotaCounter)
class QuotaCounterAdmin(_ReadOnly):
    list_display = ("right", "scope", "key", "used", "limit_value", "updated_at")
    list_filter = ("scope", "right")


@admin.register(QuotaChange)
class QuotaChangeAdmin(_ReadOnly):
    list_display = ("at", "right", "field", "expected_value", "new_value", "actor", "request_no")
    list_filter = ("field",)


@admin.register(RightHistory)
class RightHistoryAdmin(_ReadOnly):
    list_display = ("at", "right", "action", "actor", "reason")
    list_filter = ("action",)


class EventInline(HistoryInline):
    model = VoucherEvent
    fields = readonly_fields = ("at", "action", "from_state", "to_state", "merchant", "request_no", "actor", "reason")


class MemberMobileFilter(admin.SimpleListFilter):
    """Exact search by a member's mobile, carried in the URL as its blind index only."""

    title = "会员手机号精确查找"
    parameter_name = MOBILE_PARAM

    def lookups(self, request, model_admin):
        return [(self.value(), "按手机号（已隐藏）")] if self.value() else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not _DIGEST_RE.match(value):
            return queryset.none()
        return queryset.filter(member__mobile_index=value)


def _mobile(term: str) -> str | None:
    try:
        return clean_mobile(term) or None
    except ParamError:
        return None


class MemberLookupMixin:
    """Search by full mobile (swapped for its blind index before anything is rendered, so the
    page never echoes it), postal number or right code; the member is shown masked."""

    search_help_text = "输入完整手机号（精确匹配）、邮政会员号或权益编码"

    def changelist_view(self, request, extra_context=None):
        mobile = _mobile((request.GET.get(SEARCH_VAR) or "").strip())
        if mobile:
            params = request.GET.copy()
            params.pop(SEARCH_VAR)
            params[MOBILE_PARAM] = vault.blind_index(mobile, purpose="mobile")
            return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(member__postal_no=term) | Q(right__code=term) | Q(request_no=term)
                               if hasattr(queryset.model, "request_no") else
                               Q(member__postal_no=term) | Q(right__code=term)), False

    @admin.display(description="会员")
    def member_masked(self, obj):
        if obj.member_id is None:
            return "-"
        return f"{obj.member.postal_no} {obj.member.masked_name} {obj.member.masked_mobile}"


@admin.register(Voucher)
class VoucherAdmin(MemberLookupMixin, _ReadOnly):
    list_display = ("id", "right", "member_masked", "state", "source", "valid_from", "expires_at", "claimed_at",
                    "used_at")
    list_filter = (MemberMobileFilter, "state", "right", "source",
                   ("redemptions__store", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("right", "member")
    search_fields = ("member__postal_no",)
    exclude = ("code_digest", "claim_fingerprint")
    readonly_fields = ("right", "member_masked", "state", "source", "claim_request_no", "grant_key", "valid_from",
                       "expires_at", "claimed_at", "used_at", "reserved_until", "deactivated_reason")
    fields = readonly_fields
    inlines = [EventInline]
    action_form = ReasonActionForm
    actions = ["deactivate_selected"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not request.user.has_perm("rights.deactivate_voucher"):
            actions.pop("deactivate_selected", None)
        return actions

    @admin.action(description="作废所选凭证（需填写原因）")
    def deactivate_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "请先在“原因”中填写作废原因", messages.ERROR)
            return
        done = 0
        for voucher in queryset:
            try:
                vouchers.deactivate(voucher=voucher, actor=request.user, reason=reason)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{voucher}：{exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"已作废 {done} 张凭证", messages.SUCCESS)


class FundingInline(HistoryInline):
    model = RightsFunding
    fields = readonly_fields = ("created_at", "reason", "funder", "provider", "amount_fen")


@admin.register(Redemption)
class RedemptionAdmin(MemberLookupMixin, _ReadOnly):
    list_display = ("request_no", "kind", "status", "right", "member_masked", "merchant", "store", "terminal",
                    "sale_yuan", "discount_yuan", "settlement_yuan", "error_code", "created_at")
    list_filter = (MemberMobileFilter, "kind", "status", "right", "merchant")
    list_select_related = ("right", "member", "merchant", "store", "terminal")
    search_fields = ("request_no",)
    readonly_fields = ("request_no", "kind", "status", "right", "voucher", "member_masked", "merchant", "store",
                       "terminal", "original", "sale_fen", "discount_fen", "settlement_fen", "refunded_fen",
                       "refunded_settlement_fen", "business_date", "error_code", "result", "reserved_until",
                       "created_at", "reversed_at")
    fields = readonly_fields
    inlines = [FundingInline]

    @admin.display(description="订单金额（元）")
    def sale_yuan(self, obj):
        return _yuan(obj.sale_fen)

    @admin.display(description="优惠（元）")
    def discount_yuan(self, obj):
        return _yuan(obj.discount_fen)

    @admin.display(description="结算（元）")
    def settlement_yuan(self, obj):
        return _yuan(obj.settlement_fen)


@admin.register(RightsFunding)
class RightsFundingAdmin(_ReadOnly):
    list_display = ("created_at", "right", "reason", "funder", "provider", "amount_yuan", "redemption")
    list_filter = ("reason", "right", "funder", "provider")
    list_select_related = ("right", "funder", "provider", "redemption")

    @admin.display(description="金额（元）")
    def amount_yuan(self, obj):
        return _yuan(obj.amount_fen)


@admin.register(ClaimRequest)
class ClaimRequestAdmin(MemberLookupMixin, _ReadOnly):
    list_display = ("created_at", "request_no", "right", "member_masked", "status", "error_code", "message")
    list_filter = (MemberMobileFilter, "status", "right")
    list_select_related = ("right", "member")
    search_fields = ("request_no",)


from rights import admin_gates  # noqa: E402,F401 - gates, their checks and exceptions (rights/admin_gates.py)
