"""Programs and agreements, and the book of record for points.

The ledger is double-entry and append-only:

- ``Account``: one per owner × program × kind. Member accounts (available, pending, held) keep a
  running ``balance`` that the database keeps non-negative. Counter-party accounts (an issuer's
  liability, a merchant's redemptions, an issuer's breakage) are shared by every till request, so
  their side is only *appended* as postings — never a row every till waits on — and summed per
  day into ``CounterpartyRollup`` by a sweep.
- ``LedgerTransaction`` + ``Posting``: every movement; the postings of a transaction sum to zero
  (a deferred constraint trigger) and postings can be neither updated nor deleted (a trigger).
- ``Lot``: earned points with an expiry; spending takes lots that expire first and records
  ``LotUsage`` rows so a refund or release restores exactly those lots.
- ``Operation``: one till request (unique per merchant × request number) with its first answer,
  the unit of idempotency.
- ``ClearingItem``: what one party owes another in fen because of a posting.

Columns that point at rows every till request shares (a merchant, store, terminal, program, a
counter-party account) carry no database foreign-key constraint: checking one takes a
``FOR KEY SHARE`` lock on the shared row on every insert, the hot row the ledger must not have.
The ledger functions only write ids they resolved themselves, and ``check_ledger`` verifies
every reference.

The atomic writes live in PL/pgSQL (``points/sql/ledger.sql``), called once per operation by
``points.ledger``; every rule that decides *what* to write lives in Python (``points.rules`` and
``points.services``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from points.contract import AccountKind


class Program(models.Model):
    class Expiry(models.TextChoices):
        NEVER = "never", "永不过期"
        DAYS = "days", "获得后 N 天"
        YEAR_END_NEXT = "year_end_next", "获得次年年底"

    class Rounding(models.TextChoices):
        FLOOR = "floor", "向下取整"
        HALF_UP = "half_up", "四舍五入"

    issuer = models.ForeignKey("hub.Merchant", verbose_name="发行方", on_delete=models.PROTECT, related_name="programs")
    code = models.CharField("代码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    value_fen = models.PositiveIntegerField("现金价值（分）", default=100, help_text="value_points 积分对应的现金价值（分）")
    value_points = models.PositiveIntegerField("对应积分数", default=100)
    expiry_policy = models.CharField("有效期规则", max_length=16, choices=Expiry.choices, default=Expiry.YEAR_END_NEXT)
    expiry_days = models.PositiveIntegerField("有效天数", null=True, blank=True)
    rounding = models.CharField("取整规则", max_length=16, choices=Rounding.choices, default=Rounding.FLOOR)
    restore_grace_days = models.PositiveIntegerField(
        "退回过期积分宽限天数",
        default=30,
        help_text="退货或解冻退回的积分若原批次已过期，以新批次重新入账，有效期为退回日起该天数",
    )
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "积分计划"
        verbose_name_plural = "积分计划"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(value_points__gt=0), name="program_value_points_positive"),
            models.CheckConstraint(
                condition=~Q(expiry_policy="days") | Q(expiry_days__gt=0), name="program_days_policy_has_days"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Agreement(models.Model):
    """受理协议: may this merchant award and/or accept this program's points, and on what terms."""

    class Funding(models.TextChoices):
        MERCHANT = "merchant", "商户按发行价出资"
        ISSUER = "issuer", "发行方出资"

    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="agreements")
    program = models.ForeignKey(Program, verbose_name="积分计划", on_delete=models.PROTECT, related_name="agreements")
    is_default = models.BooleanField("商户默认积分计划", default=False)
    can_award = models.BooleanField("可发放（累计）", default=True)
    can_accept = models.BooleanField("可受理（抵扣）", default=True)
    earn_points = models.PositiveIntegerField("累计：每单位积分", default=1)
    earn_per_fen = models.PositiveIntegerField("累计：每多少分（金额）", default=100, help_text="默认每 1 元积 1 分")
    tier_multipliers = models.JSONField(
        "等级倍率（%）", default=dict, blank=True, help_text='如 {"gold": 150, "diamond": 200}，键为等级代码，100 表示 1 倍'
    )
    maturation_days = models.PositiveIntegerField("积分冻结期（天）", default=0, help_text="退货期内积分为待生效状态")
    redeem_min_points = models.PositiveIntegerField("最低抵扣积分", default=0)
    redeem_step_points = models.PositiveIntegerField("抵扣步长", default=1)
    redeem_max_share_bp = models.PositiveIntegerField(
        "积分最高抵扣比例（万分比）", default=10000, help_text="积分抵扣金额占订单金额的最高比例，10000 为 100%"
    )
    daily_cap_points = models.PositiveIntegerField("每会员每日抵扣上限", null=True, blank=True)
    acceptance_fee_bp = models.PositiveIntegerField("受理手续费（万分比）", default=0)
    funding = models.CharField("累计积分出资方", max_length=16, choices=Funding.choices, default=Funding.MERCHANT)
    issue_value_fen = models.PositiveIntegerField("发行价（分）", default=100, help_text="商户出资时每 issue_value_points 积分的价格")
    issue_value_points = models.PositiveIntegerField("发行价对应积分数", default=100)
    phone_may_redeem = models.BooleanField("允许仅凭手机号抵扣", default=False)
    allow_mobile_lookup = models.BooleanField(
        "允许按手机号识别会员", default=False,
        help_text="允许收银机凭手机号查询会员、累计积分（仍须会员已授权该商户）；关闭时只能凭动态会员码、会员标识或商户会员卡号")
    active = models.BooleanField("生效", default=True)

    class Meta:
        verbose_name = "受理协议"
        verbose_name_plural = "受理协议"
        ordering = ["merchant_id", "program_id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "program"], name="agreement_unique_merchant_program"),
            models.UniqueConstraint(
                fields=["merchant"], condition=Q(is_default=True), name="agreement_one_default_per_merchant"
            ),
            models.CheckConstraint(condition=Q(earn_per_fen__gt=0), name="agreement_earn_per_fen_positive"),
            models.CheckConstraint(condition=Q(redeem_step_points__gt=0), name="agreement_step_positive"),
            models.CheckConstraint(condition=Q(redeem_max_share_bp__lte=10000), name="agreement_share_at_most_all"),
            models.CheckConstraint(condition=Q(acceptance_fee_bp__lte=10000), name="agreement_fee_at_most_all"),
            models.CheckConstraint(condition=Q(issue_value_points__gt=0), name="agreement_issue_points_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} × {self.program}"


class Campaign(models.Model):
    """A dated earn multiplier on an agreement (e.g. double points on the weekend). Its bonus points
    (above what the agreement awards without it) are funded by ``funder``: the issuer (its own
    promotion: the merchant owes nothing for them) or the merchant (charged at the issue price)."""

    agreement = models.ForeignKey(Agreement, verbose_name="受理协议", on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField("名称", max_length=64)
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    multiplier_pct = models.PositiveIntegerField("倍率（%）", default=200)
    funder = models.CharField("活动加赠出资方", max_length=16, choices=Agreement.Funding.choices,
                              default=Agreement.Funding.ISSUER,
                              help_text="活动多送的积分由谁出资：发行方出资时商户不为加赠部分付费")

    class Meta:
        verbose_name = "积分活动"
        verbose_name_plural = "积分活动"
        ordering = ["-starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_ends_after_start")]

    def __str__(self) -> str:
        return self.name


class ConversionRate(models.Model):
    """Rate at which a member converts points of one program into another, set by both issuers."""

    from_program = models.ForeignKey(Program, verbose_name="转出计划", on_delete=models.PROTECT, related_name="+")
    to_program = models.ForeignKey(Program, verbose_name="转入计划", on_delete=models.PROTECT, related_name="+")
    from_points = models.PositiveIntegerField("转出积分数")
    to_points = models.PositiveIntegerField("转入积分数")
    min_points = models.PositiveIntegerField("最低转出积分", default=1)
    active = models.BooleanField("生效", default=True)

    class Meta:
        verbose_name = "积分转换比例"
        verbose_name_plural = "积分转换比例"
        constraints = [
            models.UniqueConstraint(fields=["from_program", "to_program"], name="conversion_rate_unique_pair"),
            models.CheckConstraint(condition=Q(from_points__gt=0) & Q(to_points__gt=0), name="conversion_rate_positive"),
            models.CheckConstraint(condition=~Q(from_program=models.F("to_program")), name="conversion_rate_two_programs"),
        ]

    def __str__(self) -> str:
        return f"{self.from_program} → {self.to_program}"


class Account(models.Model):
    class Kind(models.IntegerChoices):  # the values are points.contract.AccountKind (SQL is rendered from it)
        AVAILABLE = AccountKind.AVAILABLE.value, "会员可用"
        PENDING = AccountKind.PENDING.value, "会员待生效"
        HELD = AccountKind.HELD.value, "会员冻结"
        ISSUER_LIABILITY = AccountKind.ISSUER_LIABILITY.value, "发行方负债"
        MERCHANT_REDEEMED = AccountKind.MERCHANT_REDEEMED.value, "商户受理"
        BREAKAGE = AccountKind.BREAKAGE.value, "过期沉淀"

    MEMBER_KINDS = (Kind.AVAILABLE, Kind.PENDING, Kind.HELD)  # = contract.MEMBER_KINDS (a test asserts it)
    SHARED_KINDS = (Kind.ISSUER_LIABILITY, Kind.MERCHANT_REDEEMED, Kind.BREAKAGE)

    program = models.ForeignKey(Program, verbose_name="积分计划", on_delete=models.PROTECT)
    kind = models.PositiveSmallIntegerField("类型", choices=Kind.choices)
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, null=True, blank=True)
    party = models.ForeignKey("hub.Merchant", verbose_name="参与方", on_delete=models.PROTECT, null=True, blank=True)
    balance = models.BigIntegerField("余额", default=0, help_text="会员账户为实时余额；共享账户（发行方、商户、沉淀）不在此更新，按日汇总见共享账户日汇总")

    class Meta:
        db_table = "points_account"
        verbose_name = "积分账户"
        verbose_name_plural = "积分账户"
        constraints = [
            models.CheckConstraint(condition=Q(kind__gte=10) | Q(balance__gte=0), name="member_balance_never_negative"),
            models.CheckConstraint(
                condition=(Q(kind__lt=10) & Q(member__isnull=False) & Q(party__isnull=True))
                | (Q(kind__gte=10) & Q(member__isnull=True) & Q(party__isnull=False)),
                name="account_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["member", "program", "kind"], condition=Q(member__isnull=False), name="account_unique_member"
            ),
            models.UniqueConstraint(
                fields=["party", "program", "kind"], condition=Q(party__isnull=False), name="account_unique_party"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}#{self.pk}"


class Operation(models.Model):
    """One till request (or a mini-program conversion): unique per merchant × request number."""

    class Kind(models.TextChoices):
        EARN = "earn", "积分累计"
        REDEEM = "redeem", "积分抵扣"
        FREEZE = "freeze", "积分冻结"
        REFUND = "refund", "退货"
        CONVERT = "convert", "积分转换"
        GRANT = "grant", "发行方赠送"
        RIGHT_CLAIM = "right_claim", "积分兑换权益"
        TOMBSTONE = "tombstone", "冲正占位"

    class Status(models.TextChoices):
        SUCCESS = "success", "成功"
        REFUSED = "refused", "拒绝"
        FROZEN = "frozen", "已冻结"
        CONFIRMED = "confirmed", "已确认"
        RELEASED = "released", "已解冻"
        REVERSED = "reversed", "已冲正"

    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="operations",
                                 db_constraint=False, db_index=False)
    request_no = models.CharField("请求单号", max_length=64)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    status = models.CharField("状态", max_length=16, choices=Status.choices)
    fingerprint = models.CharField("内容摘要", max_length=64)
    store = models.ForeignKey("hub.Store", verbose_name="门店", on_delete=models.PROTECT, null=True, blank=True,
                              db_constraint=False, db_index=False)
    terminal = models.ForeignKey("hub.Terminal", verbose_name="终端", on_delete=models.PROTECT, null=True, blank=True,
                                 db_constraint=False, db_index=False)
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, null=True, blank=True,
                               db_index=False)
    program = models.ForeignKey(Program, verbose_name="积分计划", on_delete=models.PROTECT, null=True, blank=True,
                                db_constraint=False, db_index=False)
    original = models.ForeignKey(
        "self", verbose_name="原交易", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    points = models.BigIntegerField("积分", default=0)
    amount_fen = models.BigIntegerField("金额（分）", default=0, help_text="累计：非积分支付金额；抵扣：积分抵扣金额；退货：退货金额")
    refunded_fen = models.BigIntegerField("已退金额（分）", default=0)
    refunded_points = models.BigIntegerField("已退积分", default=0)
    hold_expires_at = models.DateTimeField("冻结到期", null=True, blank=True)
    error_code = models.CharField("错误码", max_length=32, blank=True, default="")
    result = models.JSONField("首次应答", null=True, blank=True)
    business_time = models.DateTimeField("业务时间", null=True, blank=True)
    business_date = models.DateField("营业日")
    created_at = models.DateTimeField("记录时间")
    reversed_at = models.DateTimeField("冲正时间", null=True, blank=True)

    class Meta:
        db_table = "points_operation"
        verbose_name = "交易请求"
        verbose_name_plural = "交易请求"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "request_no"], name="operation_request_no_unique_per_merchant"),
            models.CheckConstraint(condition=Q(refunded_fen__lte=models.F("amount_fen")), name="operation_refund_within_amount"),
            models.CheckConstraint(condition=Q(refunded_points__lte=models.F("points")), name="operation_refund_within_points"),
        ]
        indexes = [
            models.Index(fields=["member", "business_date"], name="operation_member_day"),
            models.Index(fields=["status", "hold_expires_at"], condition=Q(status="frozen"), name="operation_open_holds"),
            models.Index(fields=["merchant", "business_date"], name="operation_merchant_day"),
        ]

    def __str__(self) -> str:
        return f"{self.request_no}（{self.get_kind_display()}）"


class LedgerTransaction(models.Model):
    class Kind(models.TextChoices):
        EARN = "earn", "累计"
        REDEEM = "redeem", "抵扣"
        FREEZE = "freeze", "冻结"
        CONFIRM = "confirm", "确认"
        RELEASE = "release", "解冻"
        REFUND = "refund", "退货"
        REVERSE = "reverse", "冲正"
        CONVERT = "convert", "转换"
        EXPIRE = "expire", "过期"
        MATURE = "mature", "生效"
        ADJUST = "adjust", "调整"
        RIGHT_CLAIM = "right_claim", "积分兑换权益"

    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    operation = models.ForeignKey(
        Operation, verbose_name="交易请求", on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    created_at = models.DateTimeField("时间")

    class Meta:
        db_table = "points_txn"
        verbose_name = "记账凭证"
        verbose_name_plural = "记账凭证"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}#{self.pk}"


class Posting(models.Model):
    txn = models.ForeignKey(LedgerTransaction, verbose_name="凭证", on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, verbose_name="账户", on_delete=models.PROTECT, related_name="postings",
                                db_constraint=False, db_index=False)
    amount = models.BigIntegerField("积分（借负贷正）")
    created_at = models.DateTimeField("时间")

    class Meta:
        db_table = "points_posting"
        verbose_name = "分录"
        verbose_name_plural = "分录"
        indexes = [models.Index(fields=["account", "id"], name="posting_account_id")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d}"


class Lot(models.Model):
    """A batch of earned points. ``account`` is where it lives now (pending, then available)."""

    account = models.ForeignKey(Account, verbose_name="所在账户", on_delete=models.PROTECT, related_name="lots",
                                db_index=False)
    source_operation = models.ForeignKey(
        Operation, verbose_name="来源交易", on_delete=models.PROTECT, null=True, blank=True, related_name="lots"
    )
    restored_from = models.ForeignKey(
        "self", verbose_name="由过期批次退回", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        db_index=False,
    )
    original = models.BigIntegerField("原始积分")
    remaining = models.BigIntegerField("剩余积分")
    expired = models.BigIntegerField("已过期积分", default=0)
    expires_at = models.DateTimeField("到期时间", null=True, blank=True)
    matures_at = models.DateTimeField("生效时间", null=True, blank=True)
    created_at = models.DateTimeField("时间")

    class Meta:
        db_table = "points_lot"
        verbose_name = "积分批次"
        verbose_name_plural = "积分批次"
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="lot_remaining_never_negative"),
            models.CheckConstraint(condition=Q(original__gt=0), name="lot_original_positive"),
        ]
        indexes = [
            models.Index(fields=["account", "expires_at", "id"], condition=Q(remaining__gt=0), name="lot_open_by_expiry"),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_expiring"),
            models.Index(fields=["matures_at"], condition=Q(matures_at__isnull=False), name="lot_maturing"),
            # The clawback follows an earned lot's re-credits (restored_from chain) under the locks;
            # without this it scanned every lot. Partial: only re-credited lots, which are few.
            models.Index(fields=["restored_from"], condition=Q(restored_from__isnull=False), name="lot_restored_from"),
        ]

    def __str__(self) -> str:
        return f"批次#{self.pk} {self.remaining}/{self.original}"


class LotUsage(models.Model):
    """Points taken from (positive) or given back to (negative) a lot on behalf of an operation."""

    txn = models.ForeignKey(LedgerTransaction, verbose_name="凭证", on_delete=models.PROTECT, related_name="lot_usages")
    operation = models.ForeignKey(Operation, verbose_name="交易请求", on_delete=models.PROTECT, related_name="lot_usages",
                                  db_index=False)
    lot = models.ForeignKey(Lot, verbose_name="批次", on_delete=models.PROTECT, related_name="usages")
    amount = models.BigIntegerField("积分")
    restored_to = models.ForeignKey(Lot, verbose_name="退回至新批次", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", db_index=False)

    class Meta:
        db_table = "points_lot_usage"
        verbose_name = "批次使用"
        verbose_name_plural = "批次使用"
        indexes = [models.Index(fields=["operation", "lot"], name="lot_usage_operation")]

    def __str__(self) -> str:
        return f"{self.lot_id} {self.amount:+d}"


class ClearingItem(models.Model):
    """What ``payer`` owes ``payee`` in fen because of a posting. Negative amounts undo earlier
    items (refunds, reversals). The clearing batch that settles it is assigned at cut-off.

    A ``rights_funding`` item comes from a voucher's write-off (rights.redemption), not from a
    ledger posting: it has no ledger transaction, no points program and no points (its
    ``rights_rightsfunding`` row names the write-off). Every other kind has both."""

    class Kind(models.TextChoices):
        REDEMPTION = "redemption", "抵扣结算"
        EARN_FUNDING = "earn_funding", "积分发放出资"
        RIGHTS_FUNDING = "rights_funding", "权益出资"
        CONVERSION = "conversion", "积分转换"

    txn = models.ForeignKey(LedgerTransaction, verbose_name="凭证", on_delete=models.PROTECT, related_name="clearing_items",
                            db_index=False, null=True, blank=True)
    operation = models.ForeignKey(Operation, verbose_name="交易请求", on_delete=models.PROTECT, null=True, blank=True)
    payer = models.ForeignKey("hub.Merchant", verbose_name="付款方", on_delete=models.PROTECT, related_name="+",
                              db_constraint=False, db_index=False)
    payee = models.ForeignKey("hub.Merchant", verbose_name="收款方", on_delete=models.PROTECT, related_name="+",
                              db_constraint=False, db_index=False)
    program = models.ForeignKey(Program, verbose_name="积分计划", on_delete=models.PROTECT, db_constraint=False,
                                db_index=False, null=True, blank=True)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    points = models.BigIntegerField("积分")
    amount_fen = models.BigIntegerField("金额（分）")
    fee_fen = models.BigIntegerField("手续费（分）", default=0)
    created_at = models.DateTimeField("时间")

    class Meta:
        db_table = "points_clearing_item"
        verbose_name = "清算明细"
        verbose_name_plural = "清算明细"
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at", "id"], name="clearing_item_created")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="rights_funding") & Q(txn__isnull=True, program__isnull=True, points=0))
                | (~Q(kind="rights_funding") & Q(txn__isnull=False, program__isnull=False)),
                name="clearing_item_posting_or_rights_funding"),
        ]

    def __str__(self) -> str:
        return f"{self.payer_id}→{self.payee_id} {self.amount_fen}"


class CounterpartyRollup(models.Model):
    """Sum of a shared account's postings for one business day (rolled up after the day ends)."""

    account = models.ForeignKey(Account, verbose_name="账户", on_delete=models.PROTECT, related_name="rollups")
    business_date = models.DateField("营业日")
    amount = models.BigIntegerField("合计")
    postings = models.BigIntegerField("分录数")

    class Meta:
        db_table = "points_counterparty_rollup"
        verbose_name = "共享账户日汇总"
        verbose_name_plural = "共享账户日汇总"
        constraints = [models.UniqueConstraint(fields=["account", "business_date"], name="rollup_unique_day")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.business_date}"
