"""Shared rights (权益互享): the catalogue, its quotas, vouchers, display codes and write-offs.

- ``Right``: a catalogue entry (what the member gets, where, who funds it, how it is claimed,
  validity, stacking, workflow status with maker-checker).
- ``QuotaCounter``: every limit of a right is one counter row kept honest by the database
  (``CHECK (used <= limit_value)`` and a conditional upsert; see ``rights.quotas``).
- ``QuotaChange``: the history of limit changes (compare-and-swap, idempotent by request number).
- ``Voucher`` / ``VoucherEvent``: one claimed instance of a right and its append-only event log
  (a trigger refuses UPDATE and DELETE on the events).
- ``DisplayCode``: a 60-second single-use code (18 digits, prefix 97) shown for one use.
- ``Redemption``: a write-off (use, reservation, reverse tombstone, refund), unique per merchant
  and request number; at most one successful or reserved use per voucher (partial unique index).
- ``RightsFunding``: what the funder owes the provider because of a use (negative on a reverse
  or refund), the settlement amount fixed at use time.

Money is integer fen, rates integer basis points; instants are stored in UTC and computed in
Asia/Shanghai (see ``rights.validity``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q


class Right(models.Model):
    class Kind(models.TextChoices):
        TIER_DISCOUNT = "tier_discount", "会员折扣"
        AMOUNT_OFF = "amount_off", "满减/立减券"
        PERCENT_OFF = "percent_off", "折扣券"
        SCENIC_TICKET = "scenic_ticket", "景区门票"
        GIFT = "gift", "兑换券"
        ONLINE_COUPON = "online_coupon", "线上券"

    VOUCHER_KINDS = (Kind.AMOUNT_OFF, Kind.PERCENT_OFF, Kind.SCENIC_TICKET, Kind.GIFT, Kind.ONLINE_COUPON)

    class ClaimMode(models.TextChoices):
        FREE = "free", "免费领取"
        POINTS = "points", "积分兑换"
        TIER_GRANT = "tier_grant", "按等级定期发放"

    class Period(models.TextChoices):
        DAY = "day", "每天"
        WEEK = "week", "每周"
        MONTH = "month", "每月"

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        PENDING_REVIEW = "pending_review", "待审核"
        ACTIVE = "active", "生效中"
        PAUSED = "paused", "已暂停"
        ENDED = "ended", "已结束"

    code = models.CharField("权益编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    description = models.TextField("说明", blank=True, default="")
    providers = models.ManyToManyField("hub.Merchant", verbose_name="提供方商户", related_name="provided_rights")
    stores = models.ManyToManyField("hub.Store", verbose_name="适用门店", blank=True, related_name="rights",
                                    help_text="为空表示提供方的全部门店")
    funder = models.ForeignKey("hub.Merchant", verbose_name="出资方", on_delete=models.PROTECT, related_name="funded_rights")
    settlement_fen = models.BigIntegerField("每次核销结算价（分）", null=True, blank=True,
                                            help_text="出资方每次核销应付提供方的金额")
    funded_share_bp = models.PositiveIntegerField("出资比例（基点）", null=True, blank=True,
                                                  help_text="折扣类权益：出资方承担的优惠比例，10000 = 全部")
    # value
    rate_bp = models.PositiveIntegerField("折扣率（基点）", null=True, blank=True, help_text="9500 = 95 折")
    off_fen = models.BigIntegerField("立减金额（分）", null=True, blank=True)
    threshold_fen = models.BigIntegerField("使用门槛（分）", null=True, blank=True)
    cap_fen = models.BigIntegerField("优惠封顶（分）", null=True, blank=True)
    people = models.PositiveSmallIntegerField("每张可入园人数", null=True, blank=True)
    # eligibility
    tiers = models.ManyToManyField("members.Tier", verbose_name="适用等级", blank=True, related_name="rights",
                                   help_text="为空表示全部等级")
    scenes = ArrayField(models.CharField(max_length=16), verbose_name="适用场景", blank=True, default=list,
                        help_text="为空表示全部场景")
    requires_consent = models.BooleanField("需会员授权向提供方共享数据", default=False)
    # claim
    claim_mode = models.CharField("领取方式", max_length=16, choices=ClaimMode.choices, default=ClaimMode.FREE)
    claim_program = models.ForeignKey("points.Program", verbose_name="兑换积分计划", on_delete=models.PROTECT,
                                      null=True, blank=True, related_name="+")
    claim_points = models.BigIntegerField("兑换所需积分", null=True, blank=True)
    grant_count = models.PositiveSmallIntegerField("每期发放张数", null=True, blank=True)
    grant_period = models.CharField("发放周期", max_length=8, choices=Period.choices, blank=True, default="")
    # validity (instants; computed in Asia/Shanghai)
    valid_from = models.DateTimeField("有效期起", null=True, blank=True)
    valid_until = models.DateTimeField("有效期止（不含）", null=True, blank=True,
                                       help_text="“有效至 11 月 30 日”存为 12 月 1 日 00:00 +08:00")
    valid_days = models.PositiveSmallIntegerField("领取后有效天数", null=True, blank=True,
                                                  help_text="含领取当天，至第 N 天 24:00（北京时间）")
    weekdays = ArrayField(models.PositiveSmallIntegerField(), verbose_name="可用星期", blank=True, default=list,
                          help_text="1 = 周一 … 7 = 周日；为空表示每天")
    # stacking and refunds
    stack_group = models.CharField("叠加组", max_length=32, blank=True, default="")
    exclusive = models.BooleanField("不可与其他权益叠加", default=True)
    return_on_refund = models.BooleanField("整单退货时退回凭证", default=False)
    # quota limits (the counters live in QuotaCounter; None = no limit)
    total_limit = models.BigIntegerField("总领取上限", null=True, blank=True)
    daily_limit = models.BigIntegerField("每日领取上限", null=True, blank=True)
    member_limit = models.BigIntegerField("每人累计领取上限", null=True, blank=True)
    member_period_limit = models.BigIntegerField("每人每期领取上限", null=True, blank=True)
    member_period = models.CharField("每人限领周期", max_length=8, choices=Period.choices, blank=True, default="")
    store_daily_limit = models.BigIntegerField("每店每日核销上限", null=True, blank=True)
    budget_fen = models.BigIntegerField("预算（分）", null=True, blank=True, help_text="核销结算金额合计上限")
    # workflow
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="创建人", on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="提交人", on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+")
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="审批人", on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    approved_at = models.DateTimeField("审批时间", null=True, blank=True)
    ended_at = models.DateTimeField("结束时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "权益"
        verbose_name_plural = "权益"
        ordering = ["code"]
        permissions = [
            ("submit_right", "可提交权益审核"),
            ("approve_right", "可审批权益（不能审批自己提交的）"),
            ("operate_right", "可暂停、恢复、结束权益"),
            ("change_quota", "可调整权益额度与预算"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(rate_bp__isnull=True) | Q(rate_bp__gt=0, rate_bp__lt=10000),
                                   name="right_rate_bp_range"),
            models.CheckConstraint(condition=Q(funded_share_bp__isnull=True) | Q(funded_share_bp__lte=10000),
                                   name="right_funded_share_range"),
            models.CheckConstraint(
                condition=(Q(settlement_fen__isnull=True) | Q(settlement_fen__gte=0))
                & (Q(off_fen__isnull=True) | Q(off_fen__gt=0))
                & (Q(threshold_fen__isnull=True) | Q(threshold_fen__gte=0))
                & (Q(cap_fen__isnull=True) | Q(cap_fen__gt=0)),
                name="right_amounts_non_negative"),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_from__lt=F("valid_until")),
                name="right_window_ordered"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | Q(submitted_by__isnull=True) | ~Q(approved_by=F("submitted_by")),
                name="right_approver_is_not_submitter"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | Q(created_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="right_approver_is_not_maker"),
            models.CheckConstraint(
                condition=~Q(status__in=["active", "paused"]) | Q(approved_by__isnull=False),
                name="right_active_only_when_approved"),
            models.CheckConstraint(
                condition=~Q(claim_mode="points") | Q(claim_program__isnull=False, claim_points__gt=0),
                name="right_points_claim_has_cost"),
            models.CheckConstraint(
                condition=~Q(claim_mode="tier_grant") | (Q(grant_count__gt=0) & ~Q(grant_period="")),
                name="right_tier_grant_has_period"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def is_voucher(self) -> bool:
        return self.kind in self.VOUCHER_KINDS

    def related_ids(self, relation: str) -> set[int]:
        """The ids of this right's ``providers``, ``stores`` or ``tiers``: read with the right
        (``<relation>_id_list``, as identify's statement does, rights.till) or else one query."""
        annotated = getattr(self, f"{relation}_id_list", None)
        if annotated is not None:
            return set(annotated)
        return set(getattr(self, relation).values_list("pk", flat=True))


class RightHistory(models.Model):
    """Who changed what in a right, when (workflow moves, edits, quota changes)."""

    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, related_name="history")
    action = models.CharField("操作", max_length=32)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT,
                              null=True, blank=True, related_name="+")
    changes = models.JSONField("变更内容", default=dict)
    reason = models.CharField("原因", max_length=200, blank=True, default="")
    at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "权益变更记录"
        verbose_name_plural = "权益变更记录"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.right_id} {self.action}"


class QuotaCounter(models.Model):
    """One limit of a right: ``used`` never exceeds ``limit_value`` (CHECK), consumed by a
    conditional upsert. ``scope`` names the limit, ``key`` its bucket (a day, a member, a store)."""

    class Scope(models.TextChoices):
        TOTAL = "total", "总领取"
        DAY = "day", "每日领取"
        MEMBER = "member", "每人累计领取"
        MEMBER_PERIOD = "member_period", "每人每期领取"
        STORE_DAY = "store_day", "每店每日核销"
        BUDGET = "budget", "预算（分）"

    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, related_name="counters")
    scope = models.CharField("额度类型", max_length=16, choices=Scope.choices)
    key = models.CharField("分桶", max_length=64, blank=True, default="")
    limit_value = models.BigIntegerField("上限")
    used = models.BigIntegerField("已用", default=0)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "权益额度计数"
        verbose_name_plural = "权益额度计数"
        ordering = ["right_id", "scope", "key"]
        constraints = [
            models.UniqueConstraint(fields=["right", "scope", "key"], name="quota_counter_unique"),
            models.CheckConstraint(condition=Q(used__gte=0) & Q(used__lte=F("limit_value")), name="quota_counter_within_limit"),
        ]

    def __str__(self) -> str:
        return f"{self.right_id} {self.scope}:{self.key} {self.used}/{self.limit_value}"


class QuotaChange(models.Model):
    """A compare-and-swap change of one limit, idempotent by request number."""

    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, related_name="quota_changes")
    request_no = models.CharField("请求单号", max_length=64, unique=True)
    field = models.CharField("额度字段", max_length=32)
    expected_value = models.BigIntegerField("原值", null=True, blank=True)
    new_value = models.BigIntegerField("新值", null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT,
                              null=True, blank=True, related_name="+")
    at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "额度调整记录"
        verbose_name_plural = "额度调整记录"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.request_no} {self.field} {self.expected_value}→{self.new_value}"


class ClaimRequest(models.Model):
    """A member's claim request: unique per member × request number, refusals included, so the
    same number again answers the same."""

    class Status(models.TextChoices):
        SUCCESS = "success", "成功"
        REFUSED = "refused", "拒绝"

    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, related_name="+")
    request_no = models.CharField("请求单号", max_length=64)
    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, related_name="claims")
    status = models.CharField("状态", max_length=16, choices=Status.choices)
    error_code = models.CharField("错误码", max_length=32, blank=True, default="")
    message = models.CharField("提示", max_length=200, blank=True, default="")
    voucher = models.OneToOneField("rights.Voucher", verbose_name="权益凭证", on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="claim")
    points_operation = models.OneToOneField("points.Operation", verbose_name="积分兑换交易", on_delete=models.PROTECT,
                                            null=True, blank=True, related_name="+",
                                            help_text="积分兑换：扣减会员积分的账务交易（与凭证同一事务）")
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "领取请求"
        verbose_name_plural = "领取请求"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["member", "request_no"], name="claim_request_no_unique_per_member")]

    def __str__(self) -> str:
        return f"{self.request_no}（{self.get_status_display()}）"


class Voucher(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "未生效"
        AVAILABLE = "available", "可使用"
        RESERVED = "reserved", "已预占"
        USED = "used", "已使用"
        EXPIRED = "expired", "已过期"
        DEACTIVATED = "deactivated", "已作废"

    class Source(models.TextChoices):
        FREE = "free", "免费领取"
        POINTS = "points", "积分兑换"
        TIER_GRANT = "tier_grant", "等级发放"

    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, related_name="vouchers")
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, related_name="vouchers")
    state = models.CharField("状态", max_length=16, choices=State.choices)
    source = models.CharField("来源", max_length=16, choices=Source.choices)
    code_digest = models.CharField("券码摘要", max_length=64, unique=True)
    claim_request_no = models.CharField("领取请求单号", max_length=64)
    claim_fingerprint = models.CharField("领取内容摘要", max_length=64, blank=True, default="")
    grant_key = models.CharField("发放期次", max_length=32, blank=True, default="")
    valid_from = models.DateTimeField("生效时间")
    expires_at = models.DateTimeField("失效时间")
    claimed_at = models.DateTimeField("领取时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    reserved_until = models.DateTimeField("预占到期", null=True, blank=True)
    deactivated_reason = models.CharField("作废原因", max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "权益凭证"
        verbose_name_plural = "权益凭证"
        ordering = ["-id"]
        permissions = [("deactivate_voucher", "可作废权益凭证")]
        constraints = [
            models.UniqueConstraint(fields=["member", "claim_request_no"], name="voucher_claim_no_unique_per_member"),
            models.UniqueConstraint(fields=["right", "member", "grant_key"], condition=~Q(grant_key=""),
                                    name="voucher_one_grant_per_period"),
            models.CheckConstraint(condition=Q(valid_from__lt=F("expires_at")), name="voucher_validity_ordered"),
            models.CheckConstraint(condition=~Q(state="reserved") | Q(reserved_until__isnull=False),
                                   name="voucher_reserved_has_deadline"),
            models.CheckConstraint(condition=~Q(state="used") | Q(used_at__isnull=False), name="voucher_used_has_time"),
        ]
        indexes = [
            models.Index(fields=["member", "state"], name="voucher_member_state"),
            models.Index(fields=["state", "expires_at"], name="voucher_state_expiry"),
        ]

    def __str__(self) -> str:
        return f"券#{self.pk}（{self.get_state_display()}）"


class VoucherEvent(models.Model):
    """Append-only: every state change of a voucher (a trigger refuses UPDATE and DELETE)."""

    voucher = models.ForeignKey(Voucher, verbose_name="权益凭证", on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField("原状态", max_length=16, blank=True, default="")
    to_state = models.CharField("新状态", max_length=16)
    action = models.CharField("操作", max_length=16)
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", db_constraint=False, db_index=False)
    request_no = models.CharField("请求单号", max_length=64, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT,
                              null=True, blank=True, related_name="+")
    reason = models.CharField("原因", max_length=200, blank=True, default="")
    at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "凭证事件"
        verbose_name_plural = "凭证事件"
        ordering = ["voucher_id", "id"]

    def __str__(self) -> str:
        return f"{self.voucher_id} {self.from_state}→{self.to_state}"


class DisplayCode(models.Model):
    """A code shown for one use: 18 digits, prefix 97, about 60 seconds; only its digest is kept."""

    voucher = models.ForeignKey(Voucher, verbose_name="权益凭证", on_delete=models.CASCADE, related_name="display_codes")
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.CASCADE, related_name="+")
    digest = models.CharField("展示码摘要", max_length=64, unique=True)
    issued_at = models.DateTimeField("生成时间")
    expires_at = models.DateTimeField("过期时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    used_by = models.ForeignKey("hub.Merchant", verbose_name="使用商户", on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="+")

    class Meta:
        verbose_name = "凭证展示码"
        verbose_name_plural = "凭证展示码"
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["expires_at"], name="display_code_expiry")]

    def __str__(self) -> str:
        return f"{self.voucher_id}@{self.issued_at:%H:%M:%S}"


class Redemption(models.Model):
    """One write-off request of a merchant (unique per merchant × request number)."""

    class Kind(models.TextChoices):
        USE = "use", "核销"
        TOMBSTONE = "tombstone", "冲正占位"
        REFUND = "refund", "退货退回"

    class Status(models.TextChoices):
        SUCCESS = "success", "成功"
        RESERVED = "reserved", "已预占"
        RELEASED = "released", "已释放"
        REFUSED = "refused", "拒绝"
        REVERSED = "reversed", "已冲正"

    # merchant, store, terminal and right are shared rows every write-off names: no database foreign
    # key (its FOR KEY SHARE would make them hot), check_rights verifies the references instead
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="+",
                                 db_constraint=False, db_index=False)
    request_no = models.CharField("请求单号", max_length=64)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    status = models.CharField("状态", max_length=16, choices=Status.choices)
    fingerprint = models.CharField("内容摘要", max_length=64, blank=True, default="")
    voucher = models.ForeignKey(Voucher, verbose_name="权益凭证", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="redemptions")
    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="redemptions", db_constraint=False)
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    store = models.ForeignKey("hub.Store", verbose_name="门店", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", db_constraint=False)
    terminal = models.ForeignKey("hub.Terminal", verbose_name="终端", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", db_constraint=False, db_index=False)
    original = models.ForeignKey("self", verbose_name="原核销", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="children")
    sale_fen = models.BigIntegerField("订单金额（分）", default=0)
    discount_fen = models.BigIntegerField("优惠金额（分）", default=0)
    settlement_fen = models.BigIntegerField("结算金额（分）", default=0, help_text="核销时确定，出资方应付提供方")
    refunded_fen = models.BigIntegerField("已退订单金额（分）", default=0)
    refunded_settlement_fen = models.BigIntegerField("已冲减结算金额（分）", default=0)
    business_date = models.DateField("营业日")
    error_code = models.CharField("错误码", max_length=32, blank=True, default="")
    result = models.JSONField("首次应答", null=True, blank=True)
    reserved_until = models.DateTimeField("预占到期", null=True, blank=True)
    created_at = models.DateTimeField("时间")
    reversed_at = models.DateTimeField("冲正时间", null=True, blank=True)

    class Meta:
        verbose_name = "核销记录"
        verbose_name_plural = "核销记录"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "request_no"], name="redemption_request_no_unique_per_merchant"),
            models.UniqueConstraint(fields=["voucher"], condition=Q(kind="use", status__in=["success", "reserved"]),
                                    name="redemption_one_live_use_per_voucher"),
            models.CheckConstraint(condition=Q(refunded_fen__gte=0) & Q(refunded_settlement_fen__gte=0)
                                   & Q(refunded_settlement_fen__lte=F("settlement_fen")),
                                   name="redemption_refund_within_settlement"),
        ]
        indexes = [models.Index(fields=["status", "reserved_until"], condition=Q(status="reserved"),
                                name="redemption_open_reservations")]

    def __str__(self) -> str:
        return f"{self.request_no}（{self.get_kind_display()}/{self.get_status_display()}）"


class RightsFunding(models.Model):
    """What ``funder`` owes ``provider`` in fen because of a use (clearing kind ``rights_funding``);
    negative amounts undo earlier ones (reverse, refund). Append-only (trigger)."""

    redemption = models.ForeignKey(Redemption, verbose_name="核销记录", on_delete=models.PROTECT, related_name="funding")
    right = models.ForeignKey(Right, verbose_name="权益", on_delete=models.PROTECT, related_name="+",
                              db_constraint=False)
    funder = models.ForeignKey("hub.Merchant", verbose_name="出资方（付款方）", on_delete=models.PROTECT, related_name="+",
                               db_constraint=False, db_index=False)
    provider = models.ForeignKey("hub.Merchant", verbose_name="提供方（收款方）", on_delete=models.PROTECT, related_name="+",
                                 db_constraint=False, db_index=False)
    amount_fen = models.BigIntegerField("金额（分）")
    reason = models.CharField("原因", max_length=16)
    clearing_item = models.OneToOneField("points.ClearingItem", verbose_name="清算明细", on_delete=models.PROTECT,
                                         null=True, blank=True, related_name="+",
                                         help_text="写入清算批次的明细（出资方与提供方为同一商户时无）")
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "权益出资明细"
        verbose_name_plural = "权益出资明细"
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at", "id"], name="rights_funding_created")]

    def __str__(self) -> str:
        return f"{self.funder_id}→{self.provider_id} {self.amount_fen}"


# ---- scenic-spot gates (rights.gates, rights.tickets) and online platforms (rights.platforms) ----

class Gate(models.Model):
    """A scenic spot's gate (闸机): the spot is a merchant with its own native credential; a gate
    names itself by ``code`` (the ``gate_id`` of the gate API) and writes off at its terminal, whose
    store is the entrance (a right limited to some stores is limited to their gates)."""

    merchant = models.ForeignKey("hub.Merchant", verbose_name="景区商户", on_delete=models.PROTECT, related_name="gates")
    code = models.CharField("闸机编号", max_length=32)
    name = models.CharField("名称", max_length=64)
    terminal = models.OneToOneField("hub.Terminal", verbose_name="终端", on_delete=models.PROTECT, related_name="gate")
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "景区闸机"
        verbose_name_plural = "景区闸机"
        ordering = ["merchant_id", "code"]
        constraints = [models.UniqueConstraint(fields=["merchant", "code"], name="gate_code_unique_per_merchant")]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class GateCheck(models.Model):
    """One gate request: an online verify or one uploaded offline scan, unique per spot × request
    number (for a scan, its scan number), with the answer given, so a retry answers the same."""

    class Mode(models.TextChoices):
        ONLINE = "online", "在线核验"
        OFFLINE = "offline", "离线上传"

    class Outcome(models.TextChoices):
        ADMITTED = "admitted", "准入/已核销"
        REFUSED = "refused", "拒绝"
        EXCEPTION = "exception", "异常（待运营处理）"

    merchant = models.ForeignKey("hub.Merchant", verbose_name="景区商户", on_delete=models.PROTECT, related_name="+")
    gate = models.ForeignKey(Gate, verbose_name="闸机", on_delete=models.PROTECT, related_name="checks")
    request_no = models.CharField("请求单号/扫码流水号", max_length=64)
    mode = models.CharField("方式", max_length=8, choices=Mode.choices)
    fingerprint = models.CharField("内容摘要", max_length=64)
    voucher = models.ForeignKey(Voucher, verbose_name="权益凭证", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="gate_checks")
    people = models.PositiveSmallIntegerField("人数", default=1)
    scanned_at = models.DateTimeField("扫码时间", help_text="离线扫码为闸机记录的时间")
    received_at = models.DateTimeField("接收时间")
    outcome = models.CharField("结果", max_length=16, choices=Outcome.choices)
    code = models.CharField("结果码", max_length=32)
    reason = models.CharField("原因", max_length=32, blank=True, default="")
    answer = models.JSONField("应答")
    redemption = models.ForeignKey(Redemption, verbose_name="核销记录", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        verbose_name = "闸机核验记录"
        verbose_name_plural = "闸机核验记录"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["merchant", "request_no"], name="gate_check_unique_per_merchant")]

    def __str__(self) -> str:
        return f"{self.request_no}（{self.get_outcome_display()}）"


class GateException(models.Model):
    """An offline scan that could not land as a write-off (the voucher used already — at another
    gate, online or at a till — revoked, expired at scan time, a bad ticket): kept for operations
    to resolve, never lost."""

    class Kind(models.TextChoices):
        DOUBLE_USE = "double_use", "重复入园"
        REVOKED = "revoked", "已撤销凭证入园"
        INVALID = "invalid", "无效票据"
        REFUSED = "refused", "核销被拒"

    class Status(models.TextChoices):
        OPEN = "open", "待处理"
        RESOLVED = "resolved", "已处理"

    class Resolution(models.TextChoices):
        WAIVED = "waived", "确认放行，不结算"
        RECOVERED = "recovered", "已线下追偿"
        DEVICE_ERROR = "device_error", "设备误报，无实际入园"

    scan = models.OneToOneField(GateCheck, verbose_name="扫码记录", on_delete=models.PROTECT, related_name="exception")
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    voucher = models.ForeignKey(Voucher, verbose_name="权益凭证", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    first_use = models.ForeignKey(Redemption, verbose_name="先前核销", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    detail = models.CharField("说明", max_length=200, blank=True, default="")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField("处理结果", max_length=16, choices=Resolution.choices, blank=True, default="")
    note = models.CharField("处理说明", max_length=200, blank=True, default="")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="处理人", on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField("处理时间", null=True, blank=True)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "闸机核销异常"
        verbose_name_plural = "闸机核销异常"
        ordering = ["status", "-id"]
        permissions = [("resolve_gateexception", "可处理闸机核销异常")]
        constraints = [models.CheckConstraint(
            condition=Q(status="open", resolved_at__isnull=True, resolution="")
            | Q(status="resolved", resolved_at__isnull=False) & ~Q(resolution="") & ~Q(note=""),
            name="gate_exception_resolution_complete")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class VoucherHold(models.Model):
    """A refund of the voucher in progress (e.g. a ticket bought for points being refunded): gates
    refuse the voucher and list it in their revocations until the hold ends."""

    voucher = models.ForeignKey(Voucher, verbose_name="权益凭证", on_delete=models.PROTECT, related_name="holds")
    reason = models.CharField("原因", max_length=200)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT,
                              null=True, blank=True, related_name="+")
    started_at = models.DateTimeField("开始时间")
    ended_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "凭证退款冻结"
        verbose_name_plural = "凭证退款冻结"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["voucher"], condition=Q(ended_at__isnull=True),
                                               name="voucher_one_open_hold")]
        indexes = [models.Index(fields=["started_at"], name="voucher_hold_started")]

    def __str__(self) -> str:
        return f"{self.voucher_id} {self.reason}"


class PlatformOrder(models.Model):
    """The order an online platform (or any native caller) named when it reported a use through
    ``vouchers/redeem``: the platform's order number and amount beside the write-off."""

    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="+")
    request_no = models.CharField("请求单号", max_length=64)
    order_no = models.CharField("平台订单号", max_length=64, blank=True, default="")
    amount_fen = models.BigIntegerField("订单金额（分）", default=0)
    redemption = models.OneToOneField(Redemption, verbose_name="核销记录", on_delete=models.PROTECT, related_name="order")
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "线上平台订单"
        verbose_name_plural = "线上平台订单"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["merchant", "request_no"], name="platform_order_unique")]

    def __str__(self) -> str:
        return f"{self.order_no or self.request_no}"
