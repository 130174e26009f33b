"""Admin pages of the ops app: the merchant portal's users, and a read-only list of till calls
(the rows behind the dashboards' till figures)."""

from __future__ import annotations

from django.contrib import admin

from hub.models import TillCall
from hub.ops.models import MerchantStaff


@admin.register(MerchantStaff)
class MerchantStaffAdmin(admin.ModelAdmin):
    list_display = ("user", "merchant", "role", "active", "created_at")
    list_filter = ("role", "active")
    search_fields = ("user__username", "merchant__code", "merchant__name")
    autocomplete_fields = ("merchant",)
    raw_id_fields = ("user",)


@admin.register(TillCall)
class TillCallAdmin(admin.ModelAdmin):
    list_display = ("received_at", "merchant", "vendor", "op", "request_no", "code", "duration_ms")
    list_filter = ("vendor", "op", "code")
    search_fields = ("=request_no",)
    date_hierarchy = None
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("merchant")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
