"""The ops site (Chinese) for the merchant network: vendors, merchants, stores, terminals and
credentials.

Credentials are written only through hub.credentials: creating one issues it (the secret is
generated and shown once on the page that answers the form), "轮换密钥" rotates and shows the
new secret once, "吊销" revokes. The secret is never displayed anywhere else. It is rendered
straight into that one response rather than put in the messages framework, so it is never
stored in a cookie or the session on its way to the screen.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from hub import credentials
from hub.errors import ParamError
from hub.models import Credential, Merchant, Store, Terminal, Vendor


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "auth_scheme", "merchant_count"]

    def get_readonly_fields(self, request, obj=None):
        # Once a vendor exists, its code and signature scheme belong to its dialect's adapter.
        return ["code", "auth_scheme"] if obj else []

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_merchants=Count("merchants"))

    @admin.display(description="商户数", ordering="_merchants")
    def merchant_count(self, obj):
        return obj._merchants


class StoreInline(admin.TabularInline):
    model = Store
    fields = ["code", "name", "active"]
    extra = 0
    show_change_link = True


class CredentialInline(admin.TabularInline):
    model = Credential
    fields = ["app_key", "vendor", "status", "is_sandbox", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "接入凭证（在“接入凭证”页签发、轮换与吊销）"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "scene", "status", "vendor", "store_count"]
    list_filter = ["scene", "kind", "status", "vendor"]
    search_fields = ["code", "name"]
    list_select_related = ["vendor"]
    fields = ["code", "name", "kind", "scene", "status", "vendor", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [StoreInline, CredentialInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_stores=Count("stores"))

    @admin.display(description="门店数", ordering="_stores")
    def store_count(self, obj):
        return obj._stores


class TerminalInline(admin.TabularInline):
    model = Terminal
    fields = ["code", "kind", "active"]
    extra = 0


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "merchant", "active", "terminal_count"]
    list_filter = ["active", "merchant__scene"]
    search_fields = ["code", "name", "merchant__code", "merchant__name"]
    list_select_related = ["merchant"]
    autocomplete_fields = ["merchant"]
    inlines = [TerminalInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_terminals=Count("terminals"))

    @admin.display(description="终端数", ordering="_terminals")
    def terminal_count(self, obj):
        return obj._terminals


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ["code", "store", "merchant", "kind", "active"]
    list_filter = ["kind", "active", "store__merchant__scene"]
    search_fields = ["code", "store__code", "store__name", "store__merchant__code", "store__merchant__name"]
    list_select_related = ["store__merchant"]
    autocomplete_fields = ["store"]

    @admin.display(description="商户", ordering="store__merchant__code")
    def merchant(self, obj):
        return obj.store.merchant


class CredentialIssueForm(forms.ModelForm):
    """Add form: collects the inputs of issue_credential, which validates and writes."""

    new_secret = forms.CharField(
        label="密钥", required=False, strip=True,
        help_text="留空则自动生成强随机密钥（推荐）。密钥只在保存后显示一次。使用 RSA2 签名的厂商（方象）不填。",
    )

    class Meta:
        model = Credential
        fields = ["merchant", "vendor", "app_key", "rsa_public_key", "is_sandbox"]
        help_texts = {
            "app_key": "留空则自动生成",
            "rsa_public_key": "仅 RSA2 签名的厂商（方象）填写：厂商提供的 RSA 公钥（PEM）",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app_key"].required = False

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            credentials.check_issue(
                merchant=data.get("merchant"), vendor=data.get("vendor"), app_key=data.get("app_key"),
                secret=data.get("new_secret"), rsa_public_key=data.get("rsa_public_key"),
            )
        except ParamError as exc:
            raise ValidationError(exc.message) from exc
        return data

    def _post_clean(self):
        # No model validation: issue_credential validates (check_issue above) and writes.
        pass


class CredentialPublicKeyForm(forms.ModelForm):
    """Change form of an active RSA credential: only the vendor's public key can change."""

    class Meta:
        model = Credential
        fields = ["rsa_public_key"]

    def clean_rsa_public_key(self):
        try:
            return credentials.validate_rsa_public_key(self.cleaned_data.get("rsa_public_key"))
        except ParamError as exc:
            raise ValidationError(exc.message) from exc


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = [
        "app_key", "merchant", "vendor", "status", "is_sandbox", "key_kind", "rotated_at", "previous_valid_until",
    ]
    list_filter = ["status", "vendor", "is_sandbox"]
    search_fields = ["app_key", "merchant__code", "merchant__name"]
    list_select_related = ["merchant", "vendor"]
    autocomplete_fields = ["merchant"]
    actions = ["rotate_secret", "rotate_secret_now", "revoke"]
    secret_template = "admin/hub/credential/secret_once.html"
    change_fields = [
        "merchant", "vendor", "app_key", "status", "is_sandbox", "key_kind", "rsa_public_key",
        "created_at", "rotated_at", "previous_valid_until", "revoked_at",
    ]

    # ---- pages -------------------------------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # credentials are revoked, never deleted
        return actions

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # An existing credential is view-only, except an active RSA one (its public key).
        if obj is not None and not (obj.is_active and obj.rsa_public_key):
            return False
        return super().has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = CredentialPublicKeyForm if obj else CredentialIssueForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["merchant", "vendor", "app_key", "new_secret", "rsa_public_key", "is_sandbox"]
        return self.change_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [name for name in self.change_fields if name != "rsa_public_key"]

    @admin.display(description="签名凭据")
    def key_kind(self, obj):
        if obj.rsa_public_key:
            return "厂商 RSA 公钥"
        if obj.previous_valid_until:
            return f"共享密钥（轮换中，旧密钥有效至 {obj.previous_valid_until:%Y-%m-%d %H:%M}）"
        return "共享密钥（不可查看）"

    # ---- writes go through hub.credentials -------------------------------------------------

    def save_form(self, request, form, change):
        if change:
            return form.save(commit=False)
        return Credential(merchant=form.cleaned_data["merchant"], vendor=form.cleaned_data["vendor"])

    def save_model(self, request, obj, form, change):
        if change:
            credentials.replace_public_key(credential=obj, rsa_public_key=form.cleaned_data["rsa_public_key"])
            return
        data = form.cleaned_data
        issued, secret = credentials.issue_credential(
            merchant=data["merchant"], vendor=data["vendor"], app_key=data.get("app_key") or None,
            secret=data.get("new_secret") or None, rsa_public_key=data.get("rsa_public_key") or "",
            is_sandbox=data.get("is_sandbox", False),
        )
        for field in Credential._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued, field.attname))
        request._issued_secret = secret

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_issued_secret", None)
        if not secret:  # an RSA credential: nothing secret to show
            return super().response_add(request, obj, post_url_continue)
        title = f"已签发凭证 {obj.app_key}"
        return self._secret_page(request, title, [(obj, secret)])

    def _secret_page(self, request, title, rows):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "rows": [{"credential": credential, "secret": secret} for credential, secret in rows],
        }
        response = TemplateResponse(request, self.secret_template, context)
        add_never_cache_headers(response)
        return response

    # ---- actions ---------------------------------------------------------------------------

    def _rotate(self, request, queryset, overlap: timedelta):
        rotated = []
        for credential in queryset.select_related("merchant", "vendor"):
            try:
                secret = credentials.rotate_credential(credential=credential, overlap=overlap)
            except ParamError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.log_change(request, credential, f"轮换密钥，旧密钥有效至 {credential.previous_valid_until or '立即失效'}")
            rotated.append((credential, secret))
        if not rotated:
            return None
        return self._secret_page(request, f"已轮换 {len(rotated)} 个凭证的密钥", rotated)

    @admin.action(description="轮换密钥（旧密钥 24 小时内仍可用）", permissions=["change"])
    def rotate_secret(self, request, queryset):
        return self._rotate(request, queryset, credentials.DEFAULT_OVERLAP)

    @admin.action(description="紧急轮换密钥（旧密钥立即失效）", permissions=["change"])
    def rotate_secret_now(self, request, queryset):
        return self._rotate(request, queryset, timedelta(0))

    @admin.action(description="吊销", permissions=["change"])
    def revoke(self, request, queryset):
        done = 0
        for credential in queryset:
            try:
                credentials.revoke_credential(credential=credential)
            except ParamError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.log_change(request, credential, "吊销凭证")
            done += 1
        if done:
            self.message_user(request, f"已吊销 {done} 个凭证，使用它们的请求将被拒绝。", messages.SUCCESS)

from hub.vendors.cloudpos import admin as _cloudpos_admin  # noqa: E402,F401 - cashiers and devices
