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

from hub.errors import DomainError
from members import services
from members.admin_forms import (
    ConsentAdminForm,
    LinkAdminForm,
    MemberAdminForm,
    PiiSearchForm,
    ReasonActionForm,
    RevealForm,
)
from members.models import Consent, Member, MemberCode, MemberRef, PiiRevealAudit, Tier, VendorMemberLink
from members.validation import pii_search_candidate

PII_SEARCH_URL_NAME = "members_member_pii_search"
_DIGITS_RE = re.compile(r"[0-9]")
_POSTAL_FRAGMENT_RE = re.compile(r"^[0-9A-Za-z]*$")


def looks_like_pii(term: str) -> bool:
    """A search term that is (or is typed like) a full mobile or ID number: it is never run as a
    search, echoed into a page or kept in a link. Postal numbers are letters and digits only, so
    a term with 7 digits or more and other characters (``+86 139 1234 5678``) cannot be one."""
    if services.parse_pii_term(term) is not None:
        return True
    candidate = pii_search_candidate(term)
    return len(_DIGITS_RE.findall(candidate)) >= 7 and not _POSTAL_FRAGMENT_RE.match((term or "").strip())


class PiiSearchGuardMixin:
    """A search term typed like a full mobile or ID number is not run, echoed into the page or
    kept in its links: the changelist is shown without it and says why."""

    def pii_search_message(self, request) -> str:
        return "搜索内容像完整的手机号或身份证号，未执行；请按邮政会员号查找"

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied  # before anything is computed from the search term
        if looks_like_pii(request.GET.get(SEARCH_VAR, "")):
            params = request.GET.copy()
            params.pop(SEARCH_VAR)
            self.message_user(request, self.pii_search_message(request), messages.WARNING)
            query = params.urlencode()
            return HttpResponseRedirect(f"{request.path}?{query}" if query else request.path)
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        if looks_like_pii(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


class ServiceErrorsMixin:
    """A refusal from a service while saving (e.g. a concurrent change won the race) is shown
    as a message instead of an error page; the admin's transaction has been rolled back."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("rank", "code", "name")
    ordering = ("rank",)


@admin.register(Member)
class MemberAdmin(PiiSearchGuardMixin, ServiceErrorsMixin, admin.ModelAdmin):
    form = MemberAdminForm
    list_display = ("postal_no", "name_masked", "mobile_masked", "id_number_masked", "tier", "status", "created_at")
    list_filter = ("tier", "status")
    list_select_related = ("tier",)
    search_fields = ("postal_no",)
    search_help_text = "输入邮政会员号（可部分匹配）。按完整手机号/身份证号查找请用“按手机号/身份证号查找”（需权限并填写原因）"
    change_form_template = "admin/members/member/change_form.html"
    change_list_template = "admin/members/member/change_list.html"

    # The ops site shows the short masks (last 4 only): with 139****5678 an exact-search probe
    # had 10,000 candidates left. A value no key decrypts shows as 无法解密, not an error page.
    @admin.display(description="姓名")
    def name_masked(self, obj):
        return obj.masked_name

    @admin.display(description="手机号")
    def mobile_masked(self, obj):
        return obj.short_masked_mobile

    @admin.display(description="身份证号")
    def id_number_masked(self, obj):
        return obj.short_masked_id_number

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

    # The search box never looks at mobiles or ID numbers (an exact match is a reveal: see
    # pii_search_view); PiiSearchGuardMixin drops a term typed like one before anything runs.
    def pii_search_message(self, request) -> str:
        if request.user.has_perm("members.reveal_pii"):
            return "按完整手机号/身份证号查找须填写原因并留审计记录，请使用“按手机号/身份证号查找”"
        return "按完整手机号/身份证号查找需要“查看敏感信息”权限，请按邮政会员号查找"

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_reveal_pii": request.user.has_perm("members.reveal_pii")}
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
        search = path("pii-search/", self.admin_site.admin_view(self.pii_search_view), name=PII_SEARCH_URL_NAME)
        return [search, reveal, *super().get_urls()]

    def pii_search_view(self, request):
        """按手机号/身份证号查找: an exact search is a reveal (it confirms whose the value is), so
        it needs members.reveal_pii and a reason, is audited and rate-limited per user. The value
        travels in the POST body only and the page is never cached."""
        if not self.has_view_permission(request) or not request.user.has_perm("members.reveal_pii"):
            raise PermissionDenied
        form = PiiSearchForm(request.POST or None)
        results = field_label = None
        if request.method == "POST" and form.is_valid():
            try:
                field, results = services.search_members_by_pii(
                    user=request.user, term=form.cleaned_data["term"], reason=form.cleaned_data["reason"]
                )
                field_label = services.REVEALABLE_FIELDS[field]
                form = PiiSearchForm()  # the value typed is not sent back
            except DomainError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "按手机号/身份证号查找",
            "opts": self.opts,
            "form": form,
            "results": results,
            "field_label": field_label,
        }
        response = TemplateResponse(request, "admin/members/member/pii_search.html", context)
        add_never_cache_headers(response)
        return response

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


class WriteThroughServicesAdmin(PiiSearchGuardMixin, ServiceErrorsMixin, admin.ModelAdmin):
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
        "external_id_masked", "member", "merchant", "verified_method", "verified_at", "linked_at", "unlinked_at",
        "unlink_reason",
    )
    list_filter = (ActiveFilter, "verified_method", "merchant")
    # Not by card number: it is often the member's mobile, and a match would confirm it.
    search_fields = ("member__postal_no",)
    actions = ["unlink_selected"]

    @admin.display(description="商户会员卡号")
    def external_id_masked(self, obj):
        return obj.masked_external_id

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return ["external_id_masked" if name == "external_id" else name for name in fields]

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return list(self.get_readonly_fields(request, obj))

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
class PiiRevealAuditAdmin(PiiSearchGuardMixin, admin.ModelAdmin):
    list_display = ("at", "user", "kind", "member", "field", "reason")
    list_filter = ("kind", "field")
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
