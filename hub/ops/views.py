"""The ops site's pages under /ops/: sign-in, the dashboards (staff) and the merchant portal.

Views only translate: they parse the query, build a ``dashboard.Scope`` or take the user's
``PortalScope``, and render what those return. Bad input is answered with a Chinese message and
the default range, never an error page."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from hub.models import Merchant, Store
from hub.ops import dashboard, portal
from hub.ops.models import MEASURES

PER_PAGE = 50


# ---- sign-in ---------------------------------------------------------------------------------------

class OpsLoginView(LoginView):
    """Django's own LoginView (a second factor is layered on it by the 2FA middleware)."""

    template_name = "ops/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        if portal.PortalScope.for_user(self.request.user) is not None:
            return reverse("ops:portal")
        return reverse("ops:dashboard")


class OpsLogoutView(LogoutView):
    next_page = "ops:login"


def _staff(request) -> None:
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff and user.has_perm("ops.view_dailystat")):
        raise PermissionDenied


def _login_first(view):
    """Sign-in first; a refusal or a missing row is answered with a Chinese page (403/404)."""

    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('ops:login')}?{urlencode({'next': request.get_full_path()})}")
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied:
            return render(request, "ops/error.html", {"message": "您没有查看此页面的权限。"}, status=403)
        except Http404:
            return render(request, "ops/error.html", {"message": "页面或记录不存在。"}, status=404)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


# ---- dashboards ------------------------------------------------------------------------------------

def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def scope_from(request, *, scene: str = "", merchant_id: int | None = None, store_id: int | None = None,
               fixed: bool = False) -> tuple[dashboard.Scope, list[str]]:
    """The page's scope from its path and query (``from``, ``to``, ``scene``, ``merchant``,
    ``store``), and the messages for whatever in the query could not be used. ``fixed``: the
    scope is the one given (the portal's own merchant); the query only chooses the dates."""
    errors = []
    default_start, default_end = dashboard.default_range()
    start = _date(request.GET.get("from")) or default_start
    end = _date(request.GET.get("to")) or default_end
    if request.GET.get("from") and _date(request.GET.get("from")) is None:
        errors.append("开始日期格式应为 YYYY-MM-DD")
    if request.GET.get("to") and _date(request.GET.get("to")) is None:
        errors.append("结束日期格式应为 YYYY-MM-DD")
    if end < start:
        errors.append("结束日期早于开始日期，已使用默认区间")
        start, end = default_start, default_end
    if (end - start).days + 1 > dashboard.MAX_DAYS:
        errors.append(f"区间最长 {dashboard.MAX_DAYS} 天，已使用默认区间")
        start, end = default_start, default_end
    query = {} if fixed else request.GET
    scene = scene or query.get("scene", "")
    if scene and scene not in dashboard.SCENES:
        errors.append("未知场景，已显示全省")
        scene = ""
    merchant = store = None
    store_id = store_id or _int(query.get("store"))
    merchant_id = merchant_id or _int(query.get("merchant"))
    if store_id:
        store = Store.objects.select_related("merchant").filter(pk=store_id).first()
        if store is None:
            raise Http404
        merchant = store.merchant
    elif merchant_id:
        merchant = Merchant.objects.filter(pk=merchant_id).first()
        if merchant is None:
            raise Http404
    if merchant is not None:
        scene = merchant.scene if merchant.kind == Merchant.Kind.MERCHANT else ""
    in_scene = ()
    if scene and merchant is None:
        in_scene = tuple(Merchant.objects.filter(scene=scene, kind=Merchant.Kind.MERCHANT)
                         .values_list("pk", flat=True))
    return dashboard.Scope(start=start, end=end, scene=scene, merchant=merchant, store=store,
                           merchants_in_scene=in_scene), errors


def _int(value) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


@_login_first
def dashboard_page(request, scene: str = "", merchant_id: int | None = None, store_id: int | None = None):
    _staff(request)
    scope, errors = scope_from(request, scene=scene, merchant_id=merchant_id, store_id=store_id)
    values = dashboard.figures(scope)
    chart = {"trend": dashboard.trend(scope), "level": scope.level}
    if scope.level == "province":
        chart["scenes"] = dashboard.by_scene(scope)
    stores, merchants = dashboard.rankings(scope) if scope.level != "store" else ([], [])
    if scope.level in ("province", "scene"):
        chart["merchants"] = merchants
    chart["stores"] = stores
    merchants = Merchant.objects.filter(kind=Merchant.Kind.MERCHANT)
    if scope.scene:
        merchants = merchants.filter(scene=scope.scene)
    context = {
        "scope": scope, "errors": errors, "cards": dashboard.cards(scope, values), "chart": chart,
        "stores": stores, "query": scope.query(), "scenes": list(dashboard.SCENES.items()),
        "merchants": list(merchants.order_by("code").values_list("pk", "name")[:500]),
        "merchant_pk": scope.merchant.pk if scope.merchant is not None else None,
        "export_url": f"{reverse('ops:export')}?{urlencode(scope.query())}",
    }
    return render(request, "ops/dashboard.html", context)


@_login_first
def export_csv(request):
    """The scope's figures per day as CSV (UTF-8 with BOM, so spreadsheet software reads Chinese)."""
    _staff(request)
    scope, _ = scope_from(request)
    names = [name for name, _, _ in MEASURES]
    source = dashboard._daily_source(scope)
    if scope.level == "merchant":
        per_day = {row["business_date"]: row for row in source.values("business_date").annotate(
            **{name: Sum(name) for name in names})}
        active = dict(scope.stats().filter(store__isnull=True).values_list("business_date", "members_active"))
    else:
        per_day = {row["business_date"]: row for row in source.values("business_date", *names, "members_active")}
        active = {day: row["members_active"] for day, row in per_day.items()}
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"dashboard-{scope.level}-{scope.start:%Y%m%d}-{scope.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(["营业日", "范围", *[label for _, label, _ in MEASURES], "活跃会员"])
    day = scope.start
    while day <= scope.end:
        row = per_day.get(day, {})
        writer.writerow([day.isoformat(), scope.title, *[int(row.get(name) or 0) for name in names],
                         int(active.get(day) or 0)])
        day += timedelta(days=1)
    return response


# ---- the merchant portal -------------------------------------------------------------------------

def _portal(request) -> portal.PortalScope:
    scope = portal.PortalScope.for_user(request.user)
    if scope is None:
        raise PermissionDenied
    return scope


PORTAL_LINKS = {"earn_count": "operations", "points_earned": "operations", "points_redeemed": "operations",
                "redeem_count": "operations", "reversal_count": "operations", "tombstone_count": "operations",
                "vouchers_used": "writeoffs", "rights_funding_fen": "writeoffs", "recon_open": "differences",
                "recon_differences": "differences", "clearing_in_fen": "instructions",
                "clearing_out_fen": "instructions", "clearing_net_fen": "instructions"}
PORTAL_CARDS = ("points_earned", "points_redeemed", "redemption_rate_bp", "earn_count", "redeem_count",
                "members_active_avg", "links_new", "vouchers_used", "rights_funding_fen", "clearing_net_fen",
                "till_calls", "error_rate_bp", "reversal_count", "recon_open")


@_login_first
def portal_home(request):
    scope = _portal(request)
    dash, errors = scope_from(request, merchant_id=scope.merchant.pk, fixed=True)
    values = dashboard.figures(dash)
    allowed = {section.slug for section in portal.sections_for(scope)}
    cards = []
    for card in dashboard.cards(dash, values):
        if card["name"] not in PORTAL_CARDS:
            continue
        slug = PORTAL_LINKS.get(card["name"])
        card = {**card, "link": reverse("ops:portal-list", args=[slug]) if slug in allowed else None}
        cards.append(card)
    chart = {"trend": dashboard.trend(dash), "level": "merchant", "stores": dashboard.top_stores(dash)}
    return render(request, "ops/portal/home.html", {
        "portal": scope, "sections": portal.sections_for(scope), "cards": cards, "chart": chart, "errors": errors,
        "query": dash.query(), "scope": dash})


def _section(scope: portal.PortalScope, slug: str) -> portal.Section:
    section = portal.SECTION_BY_SLUG.get(slug)
    if section is None or scope.role not in section.roles:
        raise Http404
    return section


@_login_first
def portal_list(request, slug: str):
    scope = _portal(request)
    section = _section(scope, slug)
    queryset = portal.rows(scope, section)
    if request.GET.get("format") == "csv":
        return _portal_csv(scope, section, queryset)
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"obj": row, "cells": portal.cells(scope, section, row)} for row in page.object_list]
    return render(request, "ops/portal/list.html", {
        "portal": scope, "sections": portal.sections_for(scope), "section": section, "page": page, "rows": rows,
        "headers": [header for header, _ in section.columns]})


class _Echo:
    def write(self, value):
        return value


def _portal_csv(scope, section, queryset):
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"
        yield writer.writerow([header for header, _ in section.columns])
        for row in queryset.iterator(chunk_size=2000):
            yield writer.writerow(portal.cells(scope, section, row))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{scope.merchant.code}-{section.slug}.csv"'
    return response


@_login_first
def portal_statement(request, pk: int):
    """One of the merchant's own statements; any other id is 404, never another party's file."""
    scope = _portal(request)
    _section(scope, "statements")
    document = scope.statement(pk)
    if document is None or document.failed:
        raise Http404
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.file.name.rsplit("/", 1)[-1])


# ---- the merchant's own cloud-POS cashiers (managers only) ---------------------------------------

class CashierForm(forms.Form):
    username = forms.CharField(label="登录名", max_length=150)
    display_name = forms.CharField(label="姓名", max_length=32, required=False)
    password = forms.CharField(label="初始密码", widget=forms.PasswordInput(render_value=False), strip=False)
    stores = forms.ModelMultipleChoiceField(label="可操作门店", queryset=Store.objects.none(),
                                            widget=forms.CheckboxSelectMultiple)

    def __init__(self, scope: portal.PortalScope, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores"].queryset = scope.stores().filter(active=True)  # only this merchant's stores


@_login_first
def portal_cashier_new(request):
    """A manager adds a cashier of their own merchant (through the cloud POS's service)."""
    from hub.errors import DomainError
    from hub.vendors.cloudpos.services import add_cashier

    scope = _portal(request)
    section = _section(scope, "cashiers")
    form = CashierForm(scope, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            add_cashier(merchant=scope.merchant, username=form.cleaned_data["username"],
                        password=form.cleaned_data["password"], stores=list(form.cleaned_data["stores"]),
                        display_name=form.cleaned_data["display_name"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("ops:portal-list", slug="cashiers")
    return render(request, "ops/portal/cashier_form.html", {
        "portal": scope, "sections": portal.sections_for(scope), "section": section, "form": form},
        status=400 if request.method == "POST" else 200)


@_login_first
def portal_cashier_active(request, pk: int):
    """A manager stops (or restarts) one of their own merchant's cashiers; another merchant's is 404."""
    from django.shortcuts import get_object_or_404

    from hub.vendors.cloudpos.services import update_cashier

    if request.method != "POST":
        raise Http404
    scope = _portal(request)
    _section(scope, "cashiers")
    cashier = get_object_or_404(scope.cashiers(), pk=pk)
    update_cashier(cashier=cashier, stores=list(cashier.stores.all()), display_name=cashier.display_name,
                   active=not cashier.active)
    return redirect("ops:portal-list", slug="cashiers")
