"""The merchant portal's one way to the data: ``PortalScope(merchant)``.

Every portal page and export reads through a ``PortalScope``; each of its methods returns a
queryset already restricted to the merchant (its own stores, terminals, operations, the
statements addressed to it, the settlement instructions it pays or receives, its reconciliation
differences, the rights it provides or funds and its write-offs). Views never build a queryset
of their own, so a page cannot forget the merchant.

``SECTIONS`` lists the portal's lists: (slug, title, scope method, columns, roles). Adding a list
— as the cloud-POS cashiers were — is one line here; the pages, the CSV export, the
navigation and the isolation test (tests/hub/ops/test_portal.py) all walk ``SECTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from hub.clearing.models import ClearingDocument, ReconciliationDifference, SettlementInstruction
from hub.models import Cashier, Merchant, Store, Terminal
from hub.ops.models import MerchantStaff
from points.models import Operation
from rights.models import Redemption, Right


@dataclass(frozen=True)
class PortalScope:
    merchant: Merchant
    role: str = "clerk"

    @classmethod
    def for_user(cls, user) -> PortalScope | None:
        """The scope of a signed-in portal user (an active MerchantStaff of an active user), else None."""
        if not (user and user.is_authenticated and user.is_active):
            return None
        staff = MerchantStaff.objects.select_related("merchant").filter(user=user, active=True).first()
        return cls(staff.merchant, staff.role) if staff else None

    def stores(self) -> QuerySet:
        return Store.objects.filter(merchant=self.merchant).order_by("code")

    def terminals(self) -> QuerySet:
        return Terminal.objects.filter(store__merchant=self.merchant).select_related("store").order_by(
            "store__code", "code")

    def cashiers(self) -> QuerySet:
        return (Cashier.objects.filter(merchant=self.merchant).select_related("user")
                .prefetch_related("stores").order_by("user__username"))

    def operations(self) -> QuerySet:
        return (Operation.objects.filter(merchant=self.merchant).select_related("store", "terminal")
                .order_by("-id"))

    def statements(self) -> QuerySet:
        return (ClearingDocument.objects.filter(kind=ClearingDocument.Kind.STATEMENT, party=self.merchant)
                .select_related("batch").order_by("-batch__cutoff_at", "encoding"))

    def instructions(self) -> QuerySet:
        return (SettlementInstruction.objects.filter(Q(payer=self.merchant) | Q(payee=self.merchant))
                .select_related("batch", "payer", "payee").order_by("-batch__cutoff_at", "id"))

    def differences(self) -> QuerySet:
        return ReconciliationDifference.objects.filter(merchant=self.merchant).order_by("-biz_date", "-id")

    def rights(self) -> QuerySet:
        return (Right.objects.filter(Q(providers=self.merchant) | Q(funder=self.merchant)).distinct()
                .select_related("funder").order_by("code"))

    def writeoffs(self) -> QuerySet:
        return (Redemption.objects.filter(merchant=self.merchant).select_related("right", "store")
                .order_by("-id"))

    def statement(self, pk: int) -> ClearingDocument | None:
        return self.statements().filter(pk=pk).first()


def _fen(value) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100:,}.{value % 100:02d}"


def _other(merchant):
    return lambda row: row.payee.name if row.payer_id == merchant.pk else row.payer.name


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    method: str
    columns: tuple[tuple[str, object], ...]  # (header, attribute name or callable(row, scope))
    roles: tuple[str, ...] = ("manager", "finance", "clerk")


def _attr(name):
    def get(row, scope):
        value = row
        for part in name.split("."):
            value = getattr(value, part) if value is not None else None
        display = getattr(row, f"get_{name}_display", None)
        if display and "." not in name:
            return display()
        return "" if value is None else value
    return get


MANAGER, FINANCE, CLERK = (role for role, _ in MerchantStaff.Role.choices)

SECTIONS: tuple[Section, ...] = (
    Section("stores", "门店", "stores", (("门店编码", _attr("code")), ("名称", _attr("name")),
                                         ("启用", lambda r, s: "是" if r.active else "否"))),
    Section("terminals", "终端", "terminals", (("门店", _attr("store.name")), ("终端编码", _attr("code")),
                                              ("类型", _attr("kind")),
                                              ("启用", lambda r, s: "是" if r.active else "否"))),
    Section("cashiers", "云POS收银员", "cashiers", (
        ("账号", _attr("user.username")), ("姓名", _attr("display_name")),
        ("可操作门店", lambda r, s: "、".join(st.name for st in r.stores.all())),
        ("主管", lambda r, s: "是" if r.is_supervisor else "否"), ("启用", lambda r, s: "是" if r.active else "否")),
        roles=(MANAGER,)),
    Section("operations", "交易", "operations", (
        ("请求单号", _attr("request_no")), ("类型", _attr("kind")), ("状态", _attr("status")),
        ("门店", lambda r, s: r.store.name if r.store else ""), ("积分", _attr("points")),
        ("金额（元）", lambda r, s: _fen(r.amount_fen)), ("营业日", _attr("business_date")))),
    Section("statements", "对账单", "statements", (
        ("清算日", _attr("batch.clearing_date")), ("编码", _attr("encoding")), ("行数", _attr("row_count")),
        ("SHA-256", _attr("sha256")), ("文件", lambda r, s: "" if r.failed else "下载")),
        roles=(MANAGER, FINANCE)),
    Section("instructions", "结算指令", "instructions", (
        ("清算日", _attr("batch.clearing_date")),
        ("方向", lambda r, s: "付款" if r.payer_id == s.merchant.pk else "收款"),
        ("对方", lambda r, s: _other(s.merchant)(r)), ("金额（元）", lambda r, s: _fen(r.amount_fen)),
        ("批次状态", lambda r, s: r.batch.get_status_display())), roles=(MANAGER, FINANCE)),
    Section("differences", "对账差异", "differences", (
        ("营业日", _attr("biz_date")), ("差异类型", _attr("kind")), ("请求单号", _attr("request_no")),
        ("字段", _attr("field")), ("收银方", _attr("till_value")), ("中心", _attr("hub_value")),
        ("处理状态", lambda r, s: "已处理" if r.is_resolved else "未处理"))),
    Section("rights", "权益", "rights", (
        ("权益编码", _attr("code")), ("名称", _attr("name")), ("类型", _attr("kind")), ("状态", _attr("status")),
        ("本商户角色", lambda r, s: "出资方" if r.funder_id == s.merchant.pk else "提供方"))),
    Section("writeoffs", "权益核销", "writeoffs", (
        ("请求单号", _attr("request_no")), ("类型", _attr("kind")), ("状态", _attr("status")),
        ("权益", lambda r, s: r.right.name if r.right else ""),
        ("门店", lambda r, s: r.store.name if r.store else ""),
        ("优惠（元）", lambda r, s: _fen(r.discount_fen)), ("结算（元）", lambda r, s: _fen(r.settlement_fen)),
        ("营业日", _attr("business_date")))),
)
SECTION_BY_SLUG = {section.slug: section for section in SECTIONS}


def sections_for(scope: PortalScope) -> list[Section]:
    return [section for section in SECTIONS if scope.role in section.roles]


def rows(scope: PortalScope, section: Section) -> QuerySet:
    return getattr(scope, section.method)()


def cells(scope: PortalScope, section: Section, row) -> list:
    return [get(row, scope) for _, get in section.columns]
