"""The dashboards' reads: only the aggregate tables (``DailyStat``, ``DailyScopeStat``), never
the ledger. A ``Scope`` is what a page shows (the province, a scene, a merchant or a store, over
a date range); ``figures`` / ``trend`` / ``by_scene`` / ``top_stores`` read it; ``rows_link``
says where the rows behind a figure are listed (the admin's change lists with filters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from hub.models import Merchant, Store
from hub.ops.aggregates import day_bounds
from hub.ops.models import MEASURE_NAMES, MEASURES, DailyScopeStat, DailyStat, MonthlyStat
from hub.timezone import SHANGHAI

SCENES = dict(Merchant.Scene.choices)
LABELS = {name: label for name, label, _ in MEASURES}
MAX_DAYS = 366


@dataclass(frozen=True)
class Scope:
    start: date
    end: date  # inclusive
    scene: str = ""
    merchant: Merchant | None = None
    store: Store | None = None
    merchants_in_scene: tuple[int, ...] = field(default=(), compare=False)

    @property
    def level(self) -> str:
        if self.store is not None:
            return "store"
        if self.merchant is not None:
            return "merchant"
        return "scene" if self.scene else "province"

    @property
    def title(self) -> str:
        if self.store is not None:
            return f"门店看板 · {self.store.merchant.name} {self.store.name}"
        if self.merchant is not None:
            return f"商户看板 · {self.merchant.name}"
        if self.scene:
            return f"场景看板 · 智慧{SCENES[self.scene]}" if self.scene != "other" else "场景看板 · N（其他）"
        return "全省看板"

    def stats(self):
        """The DailyStat rows of the scope and range (merchant and store scopes)."""
        rows = DailyStat.objects.filter(business_date__gte=self.start, business_date__lte=self.end)
        if self.store is not None:
            return rows.filter(store=self.store)
        if self.merchant is not None:
            return rows.filter(merchant=self.merchant)
        if self.scene:
            return rows.filter(scene=self.scene)
        return rows

    def scope_stats(self):
        return DailyScopeStat.objects.filter(business_date__gte=self.start, business_date__lte=self.end,
                                             scene=self.scene)

    def query(self) -> dict[str, str]:
        q = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.scene and self.merchant is None:
            q["scene"] = self.scene
        if self.merchant is not None:
            q["merchant"] = str(self.merchant.pk)
        if self.store is not None:
            q["store"] = str(self.store.pk)
        return q


def default_range(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.now().astimezone(SHANGHAI).date()
    return today - timedelta(days=29), today


def _daily_source(scope: Scope):
    """Rows with one value per day for the scope (scope rows for scene/province)."""
    return scope.scope_stats() if scope.level in ("province", "scene") else scope.stats()


def figures(scope: Scope) -> dict[str, int]:
    """Sums of every additive figure, the average daily distinct members, and the derived rates
    (basis points) and mean latency (ms), all integers."""
    source = _daily_source(scope)
    sums = source.aggregate(**{name: Sum(name) for name in MEASURE_NAMES})
    out = {name: int(sums[name] or 0) for name in MEASURE_NAMES}
    if scope.level in ("province", "scene"):
        active = scope.scope_stats()
    elif scope.level == "merchant":
        active = scope.stats().filter(store__isnull=True)
    else:
        active = scope.stats()
    days = (scope.end - scope.start).days + 1
    total_active = active.aggregate(s=Sum("members_active"))["s"] or 0
    out["members_active_avg"] = int(total_active) // days
    out["redemption_rate_bp"] = out["points_redeemed"] * 10000 // out["points_earned"] if out["points_earned"] else 0
    out["error_rate_bp"] = out["till_errors"] * 10000 // out["till_calls"] if out["till_calls"] else 0
    out["latency_ms"] = out["till_ms_sum"] // out["till_timed"] if out["till_timed"] else 0
    return out


TREND_MEASURES = ("points_earned", "points_redeemed", "points_expired", "till_calls", "till_errors",
                  "vouchers_used", "members_new", "links_new")


def trend(scope: Scope) -> dict:
    """Per day of the range: the trend measures and the day's distinct members (zeros filled)."""
    source = _daily_source(scope)
    if scope.level == "merchant":
        per_day = {row["business_date"]: row for row in source.values("business_date").annotate(
            **{name: Sum(name) for name in TREND_MEASURES})}
        active = dict(scope.stats().filter(store__isnull=True).values_list("business_date", "members_active"))
    else:
        per_day = {row["business_date"]: row for row in source.values("business_date", *TREND_MEASURES,
                                                                      "members_active")}
        active = {day: row["members_active"] for day, row in per_day.items()}
    days = [scope.start + timedelta(days=n) for n in range((scope.end - scope.start).days + 1)]
    series = {name: [int(per_day.get(day, {}).get(name) or 0) for day in days] for name in TREND_MEASURES}
    series["members_active"] = [int(active.get(day) or 0) for day in days]
    return {"days": [day.isoformat() for day in days], "series": series,
            "labels": {**{name: LABELS[name] for name in TREND_MEASURES}, "members_active": "活跃会员"}}


def by_scene(scope: Scope) -> list[dict]:
    rows = (DailyScopeStat.objects.filter(business_date__gte=scope.start, business_date__lte=scope.end)
            .exclude(scene="").values("scene")
            .annotate(points_earned=Sum("points_earned"), points_redeemed=Sum("points_redeemed"),
                      till_calls=Sum("till_calls")))
    found = {row["scene"]: row for row in rows}
    return [{"scene": code, "name": name, "points_earned": int(found.get(code, {}).get("points_earned") or 0),
             "points_redeemed": int(found.get(code, {}).get("points_redeemed") or 0),
             "till_calls": int(found.get(code, {}).get("till_calls") or 0)}
            for code, name in Merchant.Scene.choices]


def _months(scope: Scope) -> tuple[list[date], list[tuple[date, date]]]:
    """The calendar months wholly inside the range, and the day spans outside them."""
    months, spans = [], []
    day = scope.start
    while day <= scope.end:
        month = day.replace(day=1)
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        last = min(scope.end, following - timedelta(days=1))
        if day == month and last == following - timedelta(days=1):
            months.append(month)
        else:
            spans.append((day, last))
        day = last + timedelta(days=1)
    return months, spans


def _scope_where(scope: Scope) -> tuple[str, list]:
    """The scope's condition on a ``DailyStat`` / ``MonthlyStat`` row, as SQL and parameters."""
    if scope.store is not None:
        return "store_id = %s", [scope.store.pk]
    if scope.merchant is not None:
        return "merchant_id = %s", [scope.merchant.pk]
    if scope.scene:
        return "scene = %s", [scope.scene]
    return "TRUE", []


RANKING_SQL = """
WITH parts AS ({parts}),
grouped AS (
    SELECT merchant_id, store_id, grouping(store_id) AS per_merchant,
           sum(earn_count) AS earn_count, sum(points_earned) AS points_earned,
           sum(points_redeemed) AS points_redeemed
      FROM parts
     GROUP BY GROUPING SETS ((merchant_id, store_id), (merchant_id))
),
ranked AS (
    SELECT grouped.*, row_number() OVER (
               PARTITION BY per_merchant
               ORDER BY points_earned DESC, CASE WHEN per_merchant = 1 THEN merchant_id ELSE store_id END) AS place
      FROM grouped
     WHERE per_merchant = 1 OR store_id IS NOT NULL
)
SELECT per_merchant, merchant_id, store_id, earn_count, points_earned, points_redeemed
  FROM ranked WHERE place <= %s ORDER BY per_merchant, place
"""


def rankings(scope: Scope, limit: int = 10) -> tuple[list[dict], list[dict]]:
    """(top stores, top merchants) of the scope by points earned over the range; a merchant's
    figures include what belongs to none of its stores. Issuers (no scene) are not ranked.

    One query: whole calendar months read ``MonthlyStat`` (12 rows per store for a year), the days
    around them ``DailyStat`` (through its covering indexes); PostgreSQL sums them per store and
    per merchant (grouping sets) and keeps the first ``limit`` of each, so a year of 1,000 stores
    sends back 20 rows, not 1,000s to sum in Python."""
    months, spans = _months(scope)
    where, where_params = _scope_where(scope)
    selects, params = [], []
    columns = "merchant_id, store_id, earn_count, points_earned, points_redeemed"
    if months:
        selects.append(f"SELECT {columns} FROM ops_monthly_stat WHERE month = ANY(%s) AND merchant_id IS NOT NULL "
                       f"AND scene <> '' AND {where}")
        params += [months, *where_params]
    for first, last in spans:
        selects.append(f"SELECT {columns} FROM ops_daily_stat WHERE business_date BETWEEN %s AND %s "
                       f"AND merchant_id IS NOT NULL AND scene <> '' AND {where}")
        params += [first, last, *where_params]
    with connection.cursor() as cursor:
        cursor.execute(RANKING_SQL.format(parts=" UNION ALL ".join(selects)), [*params, limit])
        found = cursor.fetchall()
    stores, merchants = [], []
    for per_merchant, merchant_id, store_id, *values in found:
        figures = {name: int(value or 0) for name, value in zip(MonthlyStat.RANKED, values, strict=True)}
        if per_merchant:
            merchants.append({"merchant_id": merchant_id, **figures})
        else:
            stores.append({"store_id": store_id, **figures})
    named = Store.objects.select_related("merchant").in_bulk([row["store_id"] for row in stores])
    for row in stores:
        store = named.get(row["store_id"])
        row["name"] = f"{store.merchant.name} {store.name}" if store else "（已删除）"
    names = dict(Merchant.objects.filter(pk__in=[row["merchant_id"] for row in merchants]).values_list("pk", "name"))
    for row in merchants:
        row["name"] = names.get(row["merchant_id"], "（已删除）")
    return stores, merchants


def top_stores(scope: Scope, limit: int = 10) -> list[dict]:
    return rankings(scope, limit)[0]


def top_merchants(scope: Scope, limit: int = 10) -> list[dict]:
    return rankings(scope, limit)[1]


# ---- the rows behind a figure -------------------------------------------------------------------

def _admin(model: str, params: dict) -> str:
    return f"{reverse(f'admin:{model}_changelist')}?{urlencode(params)}"


def _scope_filter(scope: Scope, merchant_field: str = "merchant", store_field: str | None = "store") -> dict | None:
    """The admin filter of the scope on a model's merchant/store fields; None if it cannot say."""
    if scope.store is not None:
        return {f"{store_field}__id__exact": scope.store.pk} if store_field else None
    if scope.merchant is not None:
        return {f"{merchant_field}__id__exact": scope.merchant.pk}
    if scope.scene:
        return {f"{merchant_field}__in": ",".join(str(pk) for pk in scope.merchants_in_scene) or "0"}
    return {}


def rows_link(scope: Scope, figure: str) -> str | None:
    """The admin change list of the rows a figure counts, filtered to the scope and range."""
    days = {"business_date__gte": scope.start.isoformat(), "business_date__lte": scope.end.isoformat()}
    start, _ = day_bounds(scope.start)
    _, end = day_bounds(scope.end)
    times = lambda name: {f"{name}__gte": start.isoformat(), f"{name}__lt": end.isoformat()}  # noqa: E731
    ops = _scope_filter(scope)
    by_merchant = _scope_filter(scope, store_field=None)
    spec: dict[str, tuple[str, dict | None]] = {
        "earn_count": ("points_operation", {"kind__exact": "earn", "status__exact": "success"}),
        "points_earned": ("points_operation", {"kind__exact": "earn", "status__exact": "success"}),
        "members_active": ("points_operation", {"status__in": "success,confirmed"}),
        "redeem_count": ("points_operation", {"kind__in": "redeem,freeze", "status__in": "success,confirmed"}),
        "points_redeemed": ("points_operation", {"kind__in": "redeem,freeze", "status__in": "success,confirmed"}),
        "redemption_rate_bp": ("points_operation", {"kind__in": "earn,redeem,freeze",
                                                    "status__in": "success,confirmed"}),
        "refund_count": ("points_operation", {"kind__exact": "refund", "status__exact": "success"}),
        "reversal_count": ("points_operation", {"status__exact": "reversed",
                                                "kind__in": "earn,redeem,freeze,refund,convert,grant"}),
        "tombstone_count": ("points_operation", {"kind__exact": "tombstone"}),
    }
    if figure in spec:
        model, extra = spec[figure]
        return None if ops is None else _admin(model, {**extra, **days, **ops})
    if figure in ("till_calls", "till_errors", "till_unknown", "latency_ms", "error_rate_bp"):
        if by_merchant is None:
            return None
        extra = {}
        if figure in ("till_errors", "error_rate_bp"):
            from hub.errors import CODES

            extra = {"code__in": ",".join(["", *sorted(CODES)])}
        elif figure == "till_unknown":
            extra = {"code__in": ",SYSTEM_ERROR"}
        return _admin("hub_tillcall", {**times("received_at"), **extra, **by_merchant})
    if figure in ("recon_differences", "recon_open"):
        if by_merchant is None:
            return None
        extra = {"resolved_at__isnull": "True"} if figure == "recon_open" else {}
        return _admin("clearing_reconciliationdifference", {"biz_date__gte": scope.start.isoformat(),
                                                            "biz_date__lte": scope.end.isoformat(), **extra,
                                                            **by_merchant})
    if figure == "vouchers_used":
        return None if ops is None else _admin("rights_redemption", {"kind__exact": "use", "status__exact": "success",
                                                                     **days, **ops})
    if figure == "rights_funding_fen":
        provider = _scope_filter(scope, merchant_field="provider", store_field=None)
        return None if provider is None else _admin("rights_rightsfunding", {**times("created_at"), **provider})
    if figure in ("clearing_net_fen", "clearing_in_fen", "clearing_out_fen"):
        return _admin("clearing_clearingbatch", {"clearing_date__gte": scope.start.isoformat(),
                                                 "clearing_date__lte": scope.end.isoformat()})
    if figure == "links_new":
        return None if by_merchant is None else _admin("members_vendormemberlink", {**times("linked_at"),
                                                                                     **by_merchant})
    if scope.level != "province":
        return None
    if figure == "members_new":
        return _admin("members_member", times("created_at"))
    if figure == "vouchers_claimed":
        return _admin("rights_voucher", times("claimed_at"))
    if figure == "points_expired":
        return _admin("points_ledgertransaction", {"kind__exact": "expire", **times("created_at")})
    return None


def percent(bp: int) -> str:
    """Basis points as a percentage with two decimals, by integer arithmetic: 1234 → "12.34%"."""
    sign = "-" if bp < 0 else ""
    bp = abs(bp)
    return f"{sign}{bp // 100}.{bp % 100:02d}%"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


# (figure, label, format, group) shown as cards, in order
CARDS: tuple[tuple[str, str, str, str], ...] = (
    ("members_new", "新增会员", "count", "会员"),
    ("links_new", "新增互认会员", "count", "会员"),
    ("members_active_avg", "日均活跃会员", "count", "会员"),
    ("points_earned", "累计积分", "count", "积分"),
    ("points_redeemed", "抵扣积分", "count", "积分"),
    ("points_expired", "过期积分", "count", "积分"),
    ("redemption_rate_bp", "积分抵扣率", "bp", "积分"),
    ("earn_count", "累计笔数", "count", "积分"),
    ("redeem_count", "抵扣笔数", "count", "积分"),
    ("vouchers_claimed", "领取权益券", "count", "权益"),
    ("vouchers_used", "核销权益券", "count", "权益"),
    ("rights_funding_fen", "权益出资（元）", "fen", "权益"),
    ("clearing_in_fen", "清算应收（元）", "fen", "清算"),
    ("clearing_out_fen", "清算应付（元）", "fen", "清算"),
    ("clearing_net_fen", "清算净头寸（元）", "fen", "清算"),
    ("till_calls", "收银调用", "count", "收银"),
    ("error_rate_bp", "调用失败率", "bp", "收银"),
    ("latency_ms", "平均耗时（毫秒）", "count", "收银"),
    ("reversal_count", "冲正笔数", "count", "收银"),
    ("tombstone_count", "先到冲正", "count", "收银"),
    ("till_unknown", "结果未知调用", "count", "收银"),
    ("recon_open", "未处理对账差异", "count", "对账"),
    ("recon_differences", "对账差异", "count", "对账"),
)

_ACTIVE_LINK = {"members_active_avg": "members_active"}


def cards(scope: Scope, values: dict[str, int]) -> list[dict]:
    out = []
    for name, label, fmt, group in CARDS:
        value = values[name]
        shown = percent(value) if fmt == "bp" else yuan(value) if fmt == "fen" else f"{value:,}"
        out.append({"name": name, "label": label, "value": value, "shown": shown, "group": group,
                    "link": rows_link(scope, _ACTIVE_LINK.get(name, name))})
    return out
