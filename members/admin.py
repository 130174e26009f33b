"""The members part of the ops site (Django admin, in Chinese).

Members are shown masked everywhere; the stored name, mobile and ID number never reach a page
except through the audited reveal view. Every write goes through ``members.services``.
"""

from __future__ import annotations

import re

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.cache import add_never_cache_headers

from hub.errors import DomainError, ParamError
from members import services, vault
from members.admin_forms import ConsentAdminForm, LinkAdminForm, MemberAdminForm, ReasonActionForm, RevealForm
from members.models import Consent, Member, MemberCode, MemberRef, PiiRevealAudit, Tier, VendorMemberLink
from members.validation import clean_id_number, clean_mobile

PII_PARAM = "pii"
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def pii_lookup(term: str) -> tuple[str, str] | None:
    """(``mobile`` or ``id_number``, blind index) if ``term`` is a full mobile or ID number."""
    term = (term or "").strip()
    for field, check in (("mobile", clean_mobile), ("id_number", clean_id_number)):
        try:
            value = check(term)
        except ParamError:
            continue
        if value:
            return field, vault.blind_index(value, purpose=field)
    return None


class ServiceErrorsMixin:
    """A refusal from a service while saving (e.g. a concurrent change won the race) is shown
    as a message instead of an error page; the admin's transaction has been rolled back."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class PiiLookupFilter(admin.SimpleListFilter):
    """Exact search by mobile or ID number, carried in the URL as a blind index only."""

    title = "手机号/身份证号精确查找"
    parameter_name = PII_PARAM

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return []
        field = value.partition(":")[0]
        return [(value, {"mobile": "按手机号（已隐藏）", "id_number": "按身份证号（已隐藏）"}.get(field, "无效条件"))]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        field, _, digest = value.partition(":")
        if field not in ("mobile", "id_number") or not _DIGEST_RE.match(digest):
            return queryset.none()
        return queryset.filter(**{f"{field}_index": digest})


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("rank", "code", "name")
    ordering = ("rank",)


@admin.register(Member)
class MemberAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = MemberAdminForm
    list_display = ("postal_no", "name_masked", "mobile_masked", "id_number_masked", "tier", "status", "created_at")
    list_filter = (PiiLookupFilter, "tier", "status")
    list_select_related = ("tier",)
    search_fields = ("postal_no",)
    search_help_text = "输入邮政会员号（可部分匹配），或完整的手机号/身份证号（精确匹配）"
    change_form_template = "admin/members/member/change_form.html"

    @admin.display(description="姓名")
    def name_masked(self, obj):
        return obj.masked_name

    @admin.display(description="手机号")
    def mobile_masked(self, obj):
        return obj.masked_mobile

    @admin.display(description="身份证号")
    def id_number_masked(self, obj):
        return obj.masked_id_number

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["postal_no", "tier"]}),
                ("个人信息（加密存储）", {"fields": ["new_name", "new_mobile", "new_id_number"]}),
            ]
        personal = ["name_masked", "mobile_masked", "id_number_masked"]
        if self.has_change_permission(request, obj):
            personal += ["new_name", "new_mobile", "new_id_number"]
        return [
            (None, {"fields": ["postal_no", "tier", "status", "created_at", "updated_at"]}),
            ("个人信息（加密存储，仅显示脱敏值）", {"fields": personal}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("postal_no", "name_masked", "mobile_masked", "id_number_masked", "created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # members are closed (status 注销), never deleted: ledgers refer to them

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        lookup = pii_lookup(search_term)
        if lookup:
            field, digest = lookup
            results = results | queryset.filter(**{f"{field}_index": digest})
        return results, may_have_duplicates

    def changelist_view(self, request, extra_context=None):
        # A full mobile or ID number typed into the search box would be echoed back in the
        # page and its links; swap it for its blind index before anything is rendered.
        lookup = pii_lookup(request.GET.get(SEARCH_VAR, ""))
        if lookup:
            params = request.GET.copy()
            params.pop(SEARCH_VAR)
            params[PII_PARAM] = f"{lookup[0]}:{lookup[1]}"
            return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = services.update_member(
                member=obj,
                name=data.get("new_name") or None,
                mobile=data.get("new_mobile") or None,
                id_number=data.get("new_id_number") or None,
                tier=data.get("tier"),
                status=data.get("status"),
                actor=request.user,
            )
        else:
            saved = services.register_member(
                postal_no=data["postal_no"],
                name=data["new_name"],
                mobile=data["new_mobile"],
                id_number=data.get("new_id_number", ""),
                tier=data["tier"],
                actor=request.user,
            )
        for field in Member._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_reveal_pii": request.user.has_perm("members.reveal_pii")}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        reveal = path(
            "<path:object_id>/reveal/",
            self.admin_site.admin_view(self.reveal_view),
            name="members_member_reveal",
        )
        return [reveal, *super().get_urls()]

    def reveal_view(self, request, object_id):
        """查看完整手机号/身份证号: asks why, audits, shows the value once (never cached)."""
        member = self.get_object(request, unquote(object_id))
        if member is None:
            raise Http404("会员不存在")
        if not self.has_view_permission(request, member) or not request.user.has_perm("members.reveal_pii"):
            raise PermissionDenied
        form = RevealForm(request.POST or None)
        value = field_label = None
        if request.method == "POST" and form.is_valid():
            try:
                value = services.reveal_pii(
                    user=request.user, member=member, field=form.cleaned_data["field"],
                    reason=form.cleaned_data["reason"],
                )
                field_label = services.REVEALABLE_FIELDS[form.cleaned_data["field"]]
            except DomainError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "查看完整手机号/身份证号",
            "opts": self.opts,
            "original": member,
            "form": form,
            "value": value,
            "field_label": field_label,
        }
        response = TemplateResponse(request, "admin/members/member/reveal_pii.html", context)
        add_never_cache_headers(response)
        return response


class ActiveFilter(admin.SimpleListFilter):
    title = "状态"
    parameter_name = "active"
    field_name = "unlinked_at"

    def lookups(self, request, model_admin):
        return [("yes", "有效"), ("no", "已结束")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field_name}__isnull": self.value() == "yes"})
        return queryset


class ConsentActiveFilter(ActiveFilter):
    field_name = "withdrawn_at"


class WriteThroughServicesAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    """Rows are created through a service and never edited or deleted afterwards."""

    action_form = ReasonActionForm
    raw_id_fields = ("member", "merchant")
    list_select_related = ("member", "merchant")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in self.model._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _adopt(self, obj, saved):
        for field in self.model._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def _for_each(self, request, queryset, call, done_message):
        done = 0
        for row in queryset:
            try:
                call(row)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{row}：{exc.message}", messages.ERROR)
        if done:
            self.message_user(request, done_message.format(done), messages.SUCCESS)


@admin.register(VendorMemberLink)
class VendorMemberLinkAdmin(WriteThroughServicesAdmin):
    form = LinkAdminForm
    list_display = (
        "external_id", "member", "merchant", "verified_method", "verified_at", "linked_at", "unlinked_at",
        "unlink_reason",
    )
    list_filter = (ActiveFilter, "verified_method", "merchant")
    search_fields = ("external_id", "member__postal_no")
    actions = ["unlink_selected"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        saved = services.link_member(
            member=data["member"], merchant=data["merchant"], external_id=data["external_id"],
            method=data["verified_method"], verified_at=data.get("verified_at"), actor=request.user,
        )
        self._adopt(obj, saved)

    @admin.action(description="解绑所选会员互认关系（需填写原因）", permissions=["change"])
    def unlink_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "请先在“原因”中填写解绑原因", messages.ERROR)
            return
        self._for_each(
            request,
            queryset.filter(unlinked_at__isnull=True),
            lambda link: services.unlink_member(link=link, reason=reason, actor=request.user),
            "已解绑 {} 条会员互认关系",
        )


@admin.register(Consent)
class ConsentAdmin(WriteThroughServicesAdmin):
    form = ConsentAdminForm
    list_display = ("member", "merchant", "scope", "source", "granted_at", "withdrawn_at")
    list_filter = (ConsentActiveFilter, "scope", "merchant")
    search_fields = ("member__postal_no",)
    actions = ["withdraw_selected"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        saved = services.grant_consent(
            member=data["member"], merchant=data["merchant"], scope=data["scope"], source=data["source"],
            actor=request.user,
        )
        self._adopt(obj, saved)

    @admin.action(description="撤回所选授权", permissions=["change"])
    def withdraw_selected(self, request, queryset):
        self._for_each(
            request,
            queryset.filter(withdrawn_at__isnull=True),
            lambda c: services.withdraw_consent(member=c.member, merchant=c.merchant, scope=c.scope, actor=request.user),
            "已撤回 {} 条授权",
        )


@admin.register(PiiRevealAudit)
class PiiRevealAuditAdmin(admin.ModelAdmin):
    list_display = ("at", "user", "member", "field", "reason")
    list_filter = ("field",)
    list_select_related = ("user", "member")
    search_fields = ("member__postal_no", "user__username", "reason")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MemberCode)
class MemberCodeAdmin(admin.ModelAdmin):
    """Issued dynamic codes (only their keyed digest is stored): when, until when, used where."""

    list_display = ("member", "issued_at", "expires_at", "used_at", "used_by")
    list_select_related = ("member", "used_by")
    exclude = ("digest",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MemberRef)
class MemberRefAdmin(MemberCodeAdmin):
    list_display = ("ref", "merchant", "member", "created_at", "strong_until")
    list_select_related = ("member", "merchant")
    search_fields = ("=ref",)
    exclude = ()
