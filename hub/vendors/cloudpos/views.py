"""The cloud-POS pages (/pos/): log-in, enrolment, the till page and its reads. Thin: the till's
operations themselves go through the gateway (``/pos/api/<op>``, hub.vendors.cloudpos.adapter);
these views only sign people in and out, enrol the device (a service) and serve reads
(selectors), each scoped to the cashier's merchant and the device's store and terminal."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from hub.errors import DomainError, NoAuth
from hub.gateway.base import parse_int
from hub.vendors.cloudpos import auth, selectors, services

# The till page may run the barcode polyfill (ZXing in WebAssembly): only here is WebAssembly
# compilation allowed; everything else is the hub's usual policy.
POS_POLICY = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
              "media-src 'self' blob:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
              "form-action 'self'; frame-ancestors 'none'")
DEVICE_COOKIE_AGE = 3 * 365 * 24 * 3600


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Content-Security-Policy"] = POS_POLICY
    response["Cache-Control"] = "no-store"
    response["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    return response


class CashierLoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "用户名或密码错误",
        "inactive": "该账号已停用",
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if auth.cashier_of(user) is None:
            raise forms.ValidationError("该账号不是收银员账号", code="not_cashier")


class EnrolForm(forms.Form):
    code = forms.CharField(label="设备登记码", max_length=20, widget=forms.TextInput(attrs={
        "inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}))


@never_cache
def login_view(request):
    form = CashierLoginForm(request, data=request.POST or None)
    form.fields["username"].label = "收银员账号"
    form.fields["password"].label = "密码"
    if request.method == "POST" and form.is_valid():
        login(request, form.get_user())
        request.session[auth.SEEN_KEY] = int(time.time())
        return redirect("cloudpos-till")
    return _page(request, "pos/login.html", {"form": form}, status=200 if request.method == "GET" or form.is_valid() else 400)


@require_POST
def logout_view(request):
    logout(request)
    return redirect("cloudpos-login")


def _cashier_or_none(request):
    try:
        return auth.session_cashier(request)
    except NoAuth:
        return None


@never_cache
def enrol_view(request):
    cashier = _cashier_or_none(request)
    if cashier is None:
        return redirect("cloudpos-login")
    form = EnrolForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            device, app_key, secret = services.enrol_device(code=form.cleaned_data["code"], cashier=cashier,
                                                            client_key=request.META.get("REMOTE_ADDR", ""))
        except DomainError as exc:
            error = exc.message
        else:
            response = redirect("cloudpos-till")
            response.set_cookie(auth.DEVICE_COOKIE, auth.device_cookie(app_key, secret), max_age=DEVICE_COOKIE_AGE,
                                httponly=True, samesite="Strict", secure=request.is_secure(), path="/pos/")
            return response
    return _page(request, "pos/enrol.html", {"form": form, "error": error, "cashier": cashier},
                 status=400 if error else 200)


@never_cache
@require_GET
def till_view(request):
    cashier = _cashier_or_none(request)
    if cashier is None:
        return redirect("cloudpos-login")
    device = auth.request_device(request)
    if device is None:
        return redirect("cloudpos-enrol")
    terminal = device.terminal
    try:
        auth.check_place(cashier=cashier, app_key=device.credential.app_key, store_code=terminal.store.code,
                         terminal_code=terminal.code)
    except NoAuth as exc:
        return _page(request, "pos/refused.html", {"message": exc.message, "cashier": cashier}, status=403)
    config = {"store": terminal.store.code, "terminal": terminal.code, "serverTime": int(time.time() * 1000),
              "idleSeconds": auth.idle_seconds(), "bizDate": selectors.business_day().isoformat(),
              "supervisor": cashier.is_supervisor, "cashier": cashier.user.get_username()}
    return _page(request, "pos/till.html", {
        "cashier": cashier, "merchant": terminal.store.merchant, "store": terminal.store, "terminal": terminal,
        "config": config, "debug": settings.DEBUG})


def _read(handler):
    """A JSON read for the till page: the signed-in cashier at their enrolled device, else NO_AUTH."""

    @never_cache
    @require_GET
    def view(request):
        try:
            cashier = auth.session_cashier(request)
            device = auth.request_device(request)
            if device is None:
                raise NoAuth("设备未登记或登记已失效")
            terminal = device.terminal
            auth.check_place(cashier=cashier, app_key=device.credential.app_key, store_code=terminal.store.code,
                             terminal_code=terminal.code)
            data = handler(request, cashier=cashier, terminal=terminal)
        except DomainError as exc:
            return JsonResponse({"ok": False, "code": exc.code, "message": exc.message, "data": {}},
                                json_dumps_params={"ensure_ascii": False})
        return JsonResponse({"ok": True, "code": "SUCCESS", "message": "成功", "data": data},
                            json_dumps_params={"ensure_ascii": False})

    return view


@_read
def today_view(request, *, cashier, terminal):
    return {"operations": selectors.today_operations(terminal=terminal),
            "hub_totals": selectors.day_totals(terminal=terminal), "biz_date": selectors.business_day().isoformat()}


@_read
def quote_view(request, *, cashier, terminal):
    points = parse_int(request.GET.get("points", ""), field_name="抵扣积分", minimum=1)
    return selectors.points_quote(merchant=terminal.store.merchant, points=points)
