"""What the clearing and reconciliation admin modules share (so neither imports the other's
internals)."""

from __future__ import annotations

from django.contrib import admin

FORM_TEMPLATE = "admin/action_form.html"  # the ops site's one form page (also rights)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
