"""Daily aggregates behind the dashboards, the aggregate job's watermark, and merchant-portal users.

``DailyStat`` holds one row per business day × merchant × store of additive figures (counts,
points, fen) written by ``hub.ops.aggregates`` from the ledger, the till calls, rights,
clearing and reconciliation. A row with ``store`` NULL holds a merchant's figures that belong to
no store (till calls, member links, reconciliation, clearing positions, operations without a
store); the one row with ``merchant`` NULL holds the province-only figure (new members).
``members_active`` is the one figure that is not additive: on a store row it counts that store's
distinct members of the day, on a merchant's NULL-store row the merchant's distinct members
(across its stores). Scenes and the province keep their own rows in ``DailyScopeStat`` (sums of
the ``DailyStat`` rows plus their own distinct member counts), so a province page reads one row
per day.

The tables are derived data: ``hub.ops.aggregates.refresh_day`` rewrites a day whole, and
``check_aggregates`` recomputes days from the sources and reports any difference.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# (field, label, unit) of every additive figure; unit: "count", "points" or "fen". The order is
# the CSV's. The aggregate SQL, the dashboard and the check all read this list.
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("members_new", "新增会员", "count"),
    ("links_new", "新增互认会员", "count"),
    ("earn_count", "积分累计笔数", "count"),
    ("points_earned", "累计积分", "points"),
    ("earn_fen", "累计消费金额（分）", "fen"),
    ("redeem_count", "积分抵扣笔数", "count"),
    ("points_redeemed", "抵扣积分", "points"),
    ("redeem_fen", "抵扣金额（分）", "fen"),
    ("refund_count", "退货笔数", "count"),
    ("points_expired", "过期积分", "points"),
    ("reversal_count", "冲正笔数", "count"),
    ("tombstone_count", "先到冲正（原交易未知）", "count"),
    ("vouchers_claimed", "领取权益券", "count"),
    ("vouchers_used", "核销权益券", "count"),
    ("rights_funding_fen", "权益出资（分）", "fen"),
    ("clearing_net_fen", "清算净头寸（分）", "fen"),
    ("clearing_in_fen", "清算应收（分）", "fen"),
    ("clearing_out_fen", "清算应付（分）", "fen"),
    ("till_calls", "收银调用次数", "count"),
    ("till_errors", "收银调用失败", "count"),
    ("till_unknown", "结果未知调用", "count"),
    ("till_ms_sum", "收银调用总耗时（毫秒）", "count"),
    ("till_timed", "计时调用次数", "count"),
    ("recon_differences", "对账差异", "count"),
    ("recon_open", "未处理对账差异", "count"),
)
MEASURE_NAMES = tuple(name for name, _, _ in MEASURES)


def _measure(label: str):
    return models.BigIntegerField(label, default=0)


class _Figures(models.Model):
    members_new = _measure("新增会员")
    links_new = _measure("新增互认会员")
    members_active = _measure("活跃会员（当日去重）")
    earn_count = _measure("积分累计笔数")
    points_earned = _measure("累计积分")
    earn_fen = _measure("累计消费金额（分）")
    redeem_count = _measure("积分抵扣笔数")
    points_redeemed = _measure("抵扣积分")
    redeem_fen = _measure("抵扣金额（分）")
    refund_count = _measure("退货笔数")
    points_expired = _measure("过期积分")
    reversal_count = _measure("冲正笔数")
    tombstone_count = _measure("先到冲正（原交易未知）")
    vouchers_claimed = _measure("领取权益券")
    vouchers_used = _measure("核销权益券")
    rights_funding_fen = _measure("权益出资（分）")
    clearing_net_fen = _measure("清算净头寸（分）")
    clearing_in_fen = _measure("清算应收（分）")
    clearing_out_fen = _measure("清算应付（分）")
    till_calls = _measure("收银调用次数")
    till_errors = _measure("收银调用失败")
    till_unknown = _measure("结果未知调用")
    till_ms_sum = _measure("收银调用总耗时（毫秒）")
    till_timed = _measure("计时调用次数")
    recon_differences = _measure("对账差异")
    recon_open = _measure("未处理对账差异")

    class Meta:
        abstract = True


class DailyStat(_Figures):
    business_date = models.DateField("营业日")
    # No database foreign keys: derived rows, rewritten whole per day; the check verifies them.
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.DO_NOTHING, null=True,
                                 blank=True, db_constraint=False, db_index=False, related_name="+")
    store = models.ForeignKey("hub.Store", verbose_name="门店", on_delete=models.DO_NOTHING, null=True, blank=True,
                              db_constraint=False, db_index=False, related_name="+")
    scene = models.CharField("场景", max_length=16, blank=True, default="",
                             help_text="汇总时商户的场景；积分发行方与全省行为空")

    class Meta:
        db_table = "ops_daily_stat"
        verbose_name = verbose_name_plural = "看板日汇总"
        ordering = ["-business_date", "merchant_id", "store_id"]
        constraints = [models.UniqueConstraint(fields=["business_date", "merchant", "store"], nulls_distinct=False,
                                               name="ops_daily_stat_unique")]
        indexes = [
            # rankings over the days around whole months read these alone (index-only scans)
            models.Index(fields=["business_date"], name="ops_stat_day_ranked",
                         include=["merchant", "store", "scene", "earn_count", "points_earned", "points_redeemed"]),
            models.Index(fields=["merchant", "business_date"], name="ops_stat_merchant_day"),
            models.Index(fields=["store", "business_date"], name="ops_stat_store_day",
                         condition=Q(store__isnull=False)),
            models.Index(fields=["scene", "business_date"], name="ops_stat_scene_day",
                         include=["merchant", "store", "earn_count", "points_earned", "points_redeemed"]),
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.merchant_id}/{self.store_id}"


class DailyScopeStat(_Figures):
    """A scene's (``scene`` set) or the province's (``scene`` empty) figures of one day."""

    business_date = models.DateField("营业日")
    scene = models.CharField("场景", max_length=16, blank=True, default="", help_text="为空表示全省")

    class Meta:
        db_table = "ops_daily_scope_stat"
        verbose_name = verbose_name_plural = "看板场景与全省日汇总"
        ordering = ["-business_date", "scene"]
        constraints = [models.UniqueConstraint(fields=["scene", "business_date"], name="ops_scope_stat_unique")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.scene or '全省'}"


class MonthlyStat(models.Model):
    """The ranking figures of a store (or a merchant's NULL-store row) summed over a calendar
    month of ``DailyStat`` rows, so a ranking over a year reads 12 rows per store, not 365.
    Rewritten with its month by every ``refresh_day``."""

    month = models.DateField("月份", help_text="当月第一天")
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.DO_NOTHING, null=True,
                                 blank=True, db_constraint=False, db_index=False, related_name="+")
    store = models.ForeignKey("hub.Store", verbose_name="门店", on_delete=models.DO_NOTHING, null=True, blank=True,
                              db_constraint=False, db_index=False, related_name="+")
    scene = models.CharField("场景", max_length=16, blank=True, default="")
    earn_count = models.BigIntegerField("积分累计笔数", default=0)
    points_earned = models.BigIntegerField("累计积分", default=0)
    points_redeemed = models.BigIntegerField("抵扣积分", default=0)

    RANKED = ("earn_count", "points_earned", "points_redeemed")

    class Meta:
        db_table = "ops_monthly_stat"
        verbose_name = verbose_name_plural = "看板月汇总（排行）"
        ordering = ["-month", "merchant_id", "store_id"]
        constraints = [models.UniqueConstraint(fields=["month", "merchant", "store"], nulls_distinct=False,
                                               name="ops_monthly_stat_unique")]
        indexes = [models.Index(fields=["month", "scene"], name="ops_month_scene"),
                   models.Index(fields=["merchant", "month"], name="ops_month_merchant")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.merchant_id}/{self.store_id}"


class AggregateState(models.Model):
    """Where the incremental aggregate job got to: the highest source ids it has seen and when it
    last ran (one row, ``name`` = "daily")."""

    name = models.CharField(max_length=32, primary_key=True)
    marks = models.JSONField(default=dict)
    ran_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ops_aggregate_state"
        verbose_name = verbose_name_plural = "看板汇总进度"

    def __str__(self) -> str:
        return self.name


class MerchantStaff(models.Model):
    """A partner merchant's own staff member: a Django user bound to exactly one merchant, who
    signs in to the merchant portal (/ops/portal/) and sees only that merchant's rows."""

    class Role(models.TextChoices):
        MANAGER = "manager", "商户管理员"
        FINANCE = "finance", "商户财务"
        CLERK = "clerk", "门店店员"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name="用户", on_delete=models.CASCADE,
                                related_name="merchant_staff")
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT,
                                 related_name="portal_staff")
    role = models.CharField("角色", max_length=16, choices=Role.choices, default=Role.CLERK)
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        db_table = "ops_merchant_staff"
        verbose_name = verbose_name_plural = "商户门户用户"
        ordering = ["merchant_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.user_id}（{self.get_role_display()}）"
