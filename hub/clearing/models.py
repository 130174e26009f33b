"""Clearing batches and what they produce; reconciliation runs and their differences.

A ``ClearingBatch`` covers one cut-off: the clearing items created before its ``cutoff_at`` that
no earlier batch took. Which items a batch took is recorded in ``ClearingBatchItem`` (one row per
item, written set-based at close; the ledger's own rows are never updated). Closing writes the
batch's ``ClearingLine`` (gross per payer × payee × program × kind), ``ClearingPosition`` (net
per party) and ``SettlementInstruction`` (who pays whom, netted per pair of parties) in a few
``INSERT … SELECT … GROUP BY`` statements, then marks the batch closed.

The database keeps a closed batch as it is (hub/clearing/sql/clearing.sql): its lines,
positions, instructions and item list refuse UPDATE and DELETE, nothing can be added to them,
and the batch row itself only moves forward closed → approved → settled, touching nothing but
the workflow columns. Corrections are clearing items that fall into a later batch.

These models belong to the ``clearing`` app (hub.clearing); their tables keep the ``hub_`` names.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from points.models import ClearingItem

__all__ = [
    "ClearingBatch", "ClearingBatchItem", "ClearingLine", "ClearingPosition", "SettlementInstruction",
    "ClearingDocument", "ReconciliationRun", "ReconciliationRow", "ReconciliationDifference", "LedgerCheckRun",
]


class ClearingBatch(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "未关闭"
        CLOSED = "closed", "已关闭"
        APPROVED = "approved", "已审批"
        SETTLED = "settled", "已结算"

    cutoff_at = models.DateTimeField("截止时间", unique=True, help_text="此时间之前记账的清算明细属于本批次")
    period_start = models.DateTimeField("起始时间", null=True, blank=True, help_text="上一批次的截止时间；首个批次为空")
    clearing_date = models.DateField("清算日")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.OPEN)
    item_count = models.BigIntegerField("明细笔数", default=0)
    late_item_count = models.BigIntegerField(
        "迟到明细笔数", default=0, help_text="记账时间早于起始时间、但在上一批次关闭后才提交的明细"
    )
    gross_fen = models.BigIntegerField("清算金额合计（分）", default=0)
    fee_fen = models.BigIntegerField("手续费合计（分）", default=0)
    transfer_fen = models.BigIntegerField("结算指令金额合计（分）", default=0)
    closed_at = models.DateTimeField("关闭时间", null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="关闭人", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", help_text="为空表示由系统定时任务关闭",
    )
    approved_at = models.DateTimeField("审批时间", null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="审批人", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    settled_at = models.DateTimeField("结算时间", null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="结算登记人", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )
    bank_reference = models.CharField("银行流水号", max_length=64, blank=True, default="")
    names = models.JSONField(
        "名称快照", null=True, blank=True, editable=False,
        help_text="关闭时各参与方的编码与名称、各积分计划的名称；对账单与结算指令只用这里的名称",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        db_table = "hub_clearing_batch"
        verbose_name = "清算批次"
        verbose_name_plural = "清算批次"
        ordering = ["-cutoff_at"]
        permissions = [
            ("close_clearingbatch", "可关闭清算批次"),
            ("approve_clearingbatch", "可审批清算批次"),
            ("settle_clearingbatch", "可登记清算批次已结算"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__isnull=True) | Q(period_start__lt=F("cutoff_at")),
                name="clearing_batch_period_ordered",
            ),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True) | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="clearing_batch_closed_at_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "closed"], approved_at__isnull=True, approved_by__isnull=True)
                | Q(status__in=["approved", "settled"], approved_at__isnull=False, approved_by__isnull=False),
                name="clearing_batch_approval_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | Q(closed_by__isnull=True) | ~Q(approved_by=F("closed_by")),
                name="clearing_batch_approver_is_not_closer",
            ),
            models.CheckConstraint(
                condition=(~Q(status="settled") & Q(settled_at__isnull=True, settled_by__isnull=True, bank_reference=""))
                | (Q(status="settled", settled_at__isnull=False, settled_by__isnull=False) & ~Q(bank_reference="")),
                name="clearing_batch_settlement_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clearing_date:%Y-%m-%d} 清算批次#{self.pk}"


class ClearingBatchItem(models.Model):
    """Which batch took a clearing item (``points_clearing_item.id``). One batch per item, ever."""

    item_id = models.BigIntegerField("清算明细", primary_key=True)
    batch = models.ForeignKey(ClearingBatch, verbose_name="清算批次", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "hub_clearing_batch_item"
        verbose_name = "批次明细归属"
        verbose_name_plural = "批次明细归属"

    def __str__(self) -> str:
        return f"{self.item_id}@{self.batch_id}"


class ClearingLine(models.Model):
    """Gross of one payer → payee × program × kind in a batch. ``net_fen`` = gross − fee is what
    the payer pays the payee: the fee is what the payer keeps."""

    batch = models.ForeignKey(ClearingBatch, verbose_name="清算批次", on_delete=models.PROTECT, related_name="lines")
    payer = models.ForeignKey("hub.Merchant", verbose_name="付款方", on_delete=models.PROTECT, related_name="+")
    payee = models.ForeignKey("hub.Merchant", verbose_name="收款方", on_delete=models.PROTECT, related_name="+")
    program = models.ForeignKey("points.Program", verbose_name="积分计划", on_delete=models.PROTECT, related_name="+",
                                null=True, blank=True, help_text="权益出资（rights_funding）不属于积分计划，为空")
    kind = models.CharField("清算类型", max_length=16, choices=ClearingItem.Kind.choices)
    item_count = models.BigIntegerField("笔数")
    points = models.BigIntegerField("积分")
    gross_fen = models.BigIntegerField("清算金额（分）")
    fee_fen = models.BigIntegerField("手续费（分）")
    net_fen = models.BigIntegerField("应付净额（分）")

    class Meta:
        db_table = "hub_clearing_line"
        verbose_name = "清算汇总"
        verbose_name_plural = "清算汇总"
        ordering = ["batch_id", "payer_id", "payee_id", "program_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "payer", "payee", "program", "kind"], nulls_distinct=False,
                                    name="clearing_line_unique"),
            models.CheckConstraint(condition=Q(net_fen=F("gross_fen") - F("fee_fen")), name="clearing_line_net_is_gross_less_fee"),
        ]

    def __str__(self) -> str:
        return f"{self.payer_id}→{self.payee_id} {self.gross_fen}"


class ClearingPosition(models.Model):
    """One party's position in a batch. ``net_fen`` > 0: the party receives; < 0: it pays.

    net = (receivable − fee_deducted) − (payable − fee_retained); the nets of a batch sum to 0.
    """

    batch = models.ForeignKey(ClearingBatch, verbose_name="清算批次", on_delete=models.PROTECT, related_name="positions")
    party = models.ForeignKey("hub.Merchant", verbose_name="参与方", on_delete=models.PROTECT, related_name="+")
    receivable_fen = models.BigIntegerField("应收金额（分）")
    fee_deducted_fen = models.BigIntegerField("应收中被扣手续费（分）")
    payable_fen = models.BigIntegerField("应付金额（分）")
    fee_retained_fen = models.BigIntegerField("应付中留存手续费（分）")
    net_fen = models.BigIntegerField("净头寸（分）", help_text="正数为应收，负数为应付")

    class Meta:
        db_table = "hub_clearing_position"
        verbose_name = "净头寸"
        verbose_name_plural = "净头寸"
        ordering = ["batch_id", "party_id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "party"], name="clearing_position_unique"),
            models.CheckConstraint(
                condition=Q(net_fen=F("receivable_fen") - F("fee_deducted_fen") - F("payable_fen") + F("fee_retained_fen")),
                name="clearing_position_net_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.net_fen:+d}"


class SettlementInstruction(models.Model):
    """结算指令: ``payer`` pays ``payee`` ``amount_fen``, the net of everything between the two."""

    batch = models.ForeignKey(ClearingBatch, verbose_name="清算批次", on_delete=models.PROTECT, related_name="instructions")
    payer = models.ForeignKey("hub.Merchant", verbose_name="付款方", on_delete=models.PROTECT, related_name="+")
    payee = models.ForeignKey("hub.Merchant", verbose_name="收款方", on_delete=models.PROTECT, related_name="+")
    amount_fen = models.BigIntegerField("金额（分）")

    class Meta:
        db_table = "hub_settlement_instruction"
        verbose_name = "结算指令"
        verbose_name_plural = "结算指令"
        ordering = ["batch_id", "payer_id", "payee_id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "payer", "payee"], name="settlement_instruction_unique_pair"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="settlement_instruction_positive"),
            models.CheckConstraint(condition=~Q(payer=F("payee")), name="settlement_instruction_two_parties"),
        ]

    def __str__(self) -> str:
        return f"{self.payer_id}→{self.payee_id} {self.amount_fen}"


class ClearingDocument(models.Model):
    """A statement (per party) or the settlement-instruction file of a closed batch, with the
    SHA-256 of its bytes. Written once; never changed.

    A file that cannot be written in its encoding (a name GBK cannot show) is recorded as such,
    once: no file, ``error`` says which value could not be shown. Nothing retries it."""

    class Kind(models.TextChoices):
        STATEMENT = "statement", "对账单"
        INSTRUCTIONS = "instructions", "结算指令"

    class Encoding(models.TextChoices):
        UTF8 = "utf-8", "UTF-8"
        GBK = "gbk", "GBK"

    batch = models.ForeignKey(ClearingBatch, verbose_name="清算批次", on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    party = models.ForeignKey("hub.Merchant", verbose_name="参与方", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    encoding = models.CharField("编码", max_length=8, choices=Encoding.choices)
    file = models.FileField("文件", upload_to="clearing/", max_length=255, blank=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    size = models.BigIntegerField("字节数")
    row_count = models.BigIntegerField("明细行数")
    error = models.TextField("未生成原因", blank=True, default="")
    created_at = models.DateTimeField("生成时间", auto_now_add=True)

    class Meta:
        db_table = "hub_clearing_document"
        verbose_name = "清算文件"
        verbose_name_plural = "清算文件"
        ordering = ["batch_id", "kind", "party_id", "encoding"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "kind", "party", "encoding"], nulls_distinct=False,
                                    name="clearing_document_unique"),
            models.CheckConstraint(condition=Q(kind="statement", party__isnull=False) | Q(kind="instructions", party__isnull=True),
                                   name="clearing_document_party_matches_kind"),
            models.CheckConstraint(condition=(Q(error="") & ~Q(file="") & ~Q(sha256=""))
                                   | (~Q(error="") & Q(file="", sha256="", size=0, row_count=0)),
                                   name="clearing_document_written_or_failed"),
        ]

    def __str__(self) -> str:
        return self.file.name or f"{self.get_kind_display()}（{self.encoding}，未生成）"

    @property
    def failed(self) -> bool:
        return bool(self.error)


class ReconciliationRun(models.Model):
    """One reconciliation of a merchant's business day: a till's day-end totals (日结) or an
    uploaded day-end file, matched against the hub's operations."""

    class Source(models.TextChoices):
        DAY_END = "day_end", "收银日结汇总"
        FILE = "file", "日结文件"

    source = models.CharField("来源", max_length=16, choices=Source.choices)
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey("hub.Store", verbose_name="门店", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    terminal = models.ForeignKey("hub.Terminal", verbose_name="终端", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    biz_date = models.DateField("营业日")
    file_name = models.CharField("文件名", max_length=255, blank=True, default="")
    sha256 = models.CharField("内容摘要", max_length=64, help_text="文件字节或日结汇总的 SHA-256")
    row_count = models.BigIntegerField("文件行数", default=0)
    till_totals = models.JSONField("收银汇总", null=True, blank=True)
    hub_totals = models.JSONField("中心汇总", null=True, blank=True)
    matched = models.BooleanField("一致")
    difference_count = models.IntegerField("差异数", default=0)
    created_at = models.DateTimeField("对账时间", auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="上传人", on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+")

    class Meta:
        db_table = "hub_recon_run"
        verbose_name = "对账记录"
        verbose_name_plural = "对账记录"
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "biz_date"], name="recon_run_merchant_day")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.biz_date} #{self.pk}"


class ReconciliationRow(models.Model):
    """One line of an uploaded day-end file, as the till reported it."""

    run = models.ForeignKey(ReconciliationRun, verbose_name="对账记录", on_delete=models.PROTECT, related_name="rows")
    line_no = models.IntegerField("行号")
    request_no = models.CharField("请求单号", max_length=64)
    kind = models.CharField("类型", max_length=16)
    points = models.BigIntegerField("积分")
    amount_fen = models.BigIntegerField("金额（分）")
    occurred_at = models.DateTimeField("交易时间", null=True, blank=True)
    status = models.CharField("状态", max_length=16)

    class Meta:
        db_table = "hub_recon_row"
        verbose_name = "日结文件明细"
        verbose_name_plural = "日结文件明细"
        ordering = ["run_id", "line_no"]
        constraints = [models.UniqueConstraint(fields=["run", "request_no"], name="recon_row_unique_request")]

    def __str__(self) -> str:
        return f"{self.request_no}（第 {self.line_no} 行）"


class ReconciliationDifference(models.Model):
    """A difference between a till's books and the hub's, for a person to resolve. Never
    corrected automatically."""

    class Kind(models.TextChoices):
        MISSING_AT_HUB = "missing_at_hub", "中心无此交易"
        MISSING_AT_TILL = "missing_at_till", "收银无此交易"
        POINTS_DIFFER = "points_differ", "积分不一致"
        AMOUNT_DIFFER = "amount_differ", "金额不一致"
        STATUS_DIFFER = "status_differ", "状态不一致"
        TYPE_DIFFER = "type_differ", "类型不一致"
        DATE_DIFFER = "date_differ", "营业日不一致"
        TOTALS_DIFFER = "totals_differ", "日结汇总不一致"

    run = models.ForeignKey(ReconciliationRun, verbose_name="对账记录", on_delete=models.PROTECT,
                            related_name="differences")
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="+")
    biz_date = models.DateField("营业日")
    kind = models.CharField("差异类型", max_length=16, choices=Kind.choices)
    request_no = models.CharField("请求单号", max_length=64, blank=True, default="")
    field = models.CharField("字段", max_length=32, blank=True, default="")
    till_value = models.CharField("收银方", max_length=64, blank=True, default="")
    hub_value = models.CharField("中心", max_length=64, blank=True, default="")
    operation_id = models.BigIntegerField("中心交易", null=True, blank=True)
    resolved_at = models.DateTimeField("处理时间", null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="处理人", on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    resolution_note = models.TextField("处理说明", blank=True, default="")

    class Meta:
        db_table = "hub_recon_difference"
        verbose_name = "对账差异"
        verbose_name_plural = "对账差异"
        ordering = ["-run_id", "id"]
        permissions = [("resolve_reconciliationdifference", "可处理对账差异")]
        indexes = [models.Index(fields=["resolved_at"], condition=Q(resolved_at__isnull=True), name="recon_diff_open")]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolved_by__isnull=True, resolution_note="")
                | Q(resolved_at__isnull=False, resolved_by__isnull=False) & ~Q(resolution_note=""),
                name="recon_difference_resolution_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.request_no or self.field}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class LedgerCheckRun(models.Model):
    """One run of the ledger and clearing invariant checks (nightly, or by hand)."""

    started_at = models.DateTimeField("开始时间")
    finished_at = models.DateTimeField("结束时间")
    ok = models.BooleanField("通过")
    problems = models.JSONField("问题", default=dict, blank=True, help_text="{不变量: 违反的记录（最多 20 条）}")

    class Meta:
        db_table = "hub_ledger_check_run"
        verbose_name = "账务检查"
        verbose_name_plural = "账务检查"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'通过' if self.ok else '失败'}"
