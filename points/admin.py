"""The ops site for programs, agreements and the ledger. Ledger rows are read-only here: every
movement of points goes through points.services, never through a form."""

from django.contrib import admin

from points.models import (
    Account,
    Agreement,
    Campaign,
    ClearingItem,
    ConversionRate,
    CounterpartyRollup,
    LedgerTransaction,
    Lot,
    Operation,
    Posting,
    Program,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: no add, change or delete from the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "issuer", "value_points", "value_fen", "expiry_policy", "active")
    list_filter = ("expiry_policy", "active")
    search_fields = ("code", "name")

    def has_delete_permission(self, request, obj=None):
        return False


class CampaignInline(admin.TabularInline):
    model = Campaign
    extra = 0


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = ("merchant", "program", "is_default", "can_award", "can_accept", "earn_points", "earn_per_fen",
                    "acceptance_fee_bp", "funding", "phone_may_redeem", "allow_mobile_lookup", "active")
    list_filter = ("can_award", "can_accept", "allow_mobile_lookup", "funding", "active", "program")
    search_fields = ("merchant__name", "merchant__code", "program__code")
    autocomplete_fields = ("merchant",)
    inlines = [CampaignInline]
    fieldsets = (
        (None, {"fields": ("merchant", "program", "is_default", "active")}),
        ("会员识别", {"fields": ("allow_mobile_lookup",)}),
        ("累计规则", {"fields": ("can_award", "earn_points", "earn_per_fen", "tier_multipliers", "maturation_days",
                             "funding", "issue_value_fen", "issue_value_points")}),
        ("抵扣规则", {"fields": ("can_accept", "redeem_min_points", "redeem_step_points", "redeem_max_share_bp",
                             "daily_cap_points", "acceptance_fee_bp", "phone_may_redeem")}),
    )

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConversionRate)
class ConversionRateAdmin(admin.ModelAdmin):
    list_display = ("from_program", "to_program", "from_points", "to_points", "min_points", "active")


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = ("request_no", "merchant", "kind", "status", "points", "amount_fen", "refunded_fen",
                    "error_code", "business_date", "created_at")
    list_filter = ("kind", "status", "business_date")
    search_fields = ("=request_no",)
    list_select_related = ("merchant",)
    date_hierarchy = "business_date"
    show_full_result_count = False
    exclude = ("member",)
    readonly_fields = ("member_masked",)

    @admin.display(description="会员")
    def member_masked(self, obj):
        return str(obj.member) if obj.member_id else "-"


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ("account", "amount", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "operation", "created_at")
    list_filter = ("kind",)
    inlines = [PostingInline]
    show_full_result_count = False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "program", "party", "member_masked", "balance")
    list_filter = ("kind", "program")
    list_select_related = ("program", "party", "member")
    exclude = ("member",)
    show_full_result_count = False

    @admin.display(description="会员")
    def member_masked(self, obj):
        return str(obj.member) if obj.member_id else "-"


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "original", "remaining", "expired", "expires_at", "matures_at", "created_at")
    show_full_result_count = False


@admin.register(ClearingItem)
class ClearingItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "payer", "payee", "program", "points", "amount_fen", "fee_fen", "created_at")
    list_filter = ("kind", "program")
    list_select_related = ("payer", "payee", "program")
    show_full_result_count = False


@admin.register(CounterpartyRollup)
class CounterpartyRollupAdmin(ReadOnlyAdmin):
    list_display = ("account", "business_date", "amount", "postings")
    list_filter = ("business_date",)
