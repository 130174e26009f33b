"""The second-factor pages (Chinese): enter a code, enrol an authenticator on first login, new
backup codes. Views translate; hub.staff.services writes."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp.plugins.otp_static.models import StaticDevice

from hub.errors import DomainError
from hub.staff import services, throttle
from hub.staff.forms import CodeForm

logger = logging.getLogger("hub.staff")


def _page(request, template: str, title: str, **context):
    return render(request, template, {"site_header": admin.site.site_header, "site_title": admin.site.site_title,
                                      "title": title, "has_permission": False, **context})


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _finish(request, user, device) -> None:
    """The session now counts: the second factor is recorded in it, under a new session key."""
    request.user = user
    django_otp.login(request, device)
    request.session.cycle_key()
    request.session.set_expiry(settings.SESSION_COOKIE_AGE)
    logger.info("second factor verified for user %s with %s", user.pk, type(device).__name__)


def _match(user, code: str):
    """The user's device that accepts ``code``: the authenticator for 6 digits, else a backup code."""
    if code.isdigit() and len(code) == 6:
        device = services.confirmed_totp(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return None
    return django_otp.verify_token(user, device.persistent_id, code)


@never_cache
@csrf_protect
def verify(request):
    user = getattr(request, "pending_user", None)
    if user is None:  # not signed in, or already verified
        if request.user.is_authenticated:
            return redirect(_next(request))
        return redirect(f"{reverse('admin:login')}?{urlencode({'next': _next(request)})}")
    if not services.has_second_factor(user):
        return redirect(f"{reverse('staff:setup')}?{urlencode({'next': _next(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip = throttle.client_ip(request)
        if throttle.locked(username=user.get_username(), ip=ip):
            form.add_error("code", throttle.locked_message())
        elif (device := _match(user, form.cleaned_data["code"])) is not None:
            _finish(request, user, device)
            return redirect(_next(request))
        else:
            throttle.count_failure(username=user.get_username(), ip=ip)
            logger.info("second factor refused for user %s (ip %s)", user.pk, ip)
            form.add_error("code", "验证码不正确或已使用（连续输错需稍候几秒），请重新输入")
    return _page(request, "staff/verify.html", "双重验证", form=form, next=_next(request), user_name=user.get_username())


@never_cache
@csrf_protect
def setup(request):
    user = getattr(request, "pending_user", None)
    if user is None:
        return redirect(_next(request) if request.user.is_authenticated else reverse("admin:login"))
    if services.has_second_factor(user):  # enrolled already: a new device needs the old one reset
        return redirect(f"{reverse('staff:verify')}?{urlencode({'next': _next(request)})}")
    device = services.pending_totp(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip = throttle.client_ip(request)
        if throttle.locked(username=user.get_username(), ip=ip):
            form.add_error("code", throttle.locked_message())
        else:
            try:
                device, codes = services.confirm_totp(user=user, token=form.cleaned_data["code"])
            except DomainError as exc:
                throttle.count_failure(username=user.get_username(), ip=ip)
                form.add_error("code", exc.message)
            else:
                _finish(request, user, device)
                logger.info("authenticator enrolled for user %s", user.pk)
                return _page(request, "staff/backup_codes.html", "备用验证码", codes=codes, next=_next(request))
    return _page(request, "staff/setup.html", "绑定手机验证器", form=form, next=_next(request),
                 qr=services.qr_data_uri(device.config_url), secret=services.base32_secret(device),
                 user_name=user.get_username())


@never_cache
@csrf_protect
@login_required(login_url="admin:login")  # a verified user: the middleware makes any other anonymous
def backup_codes(request):
    """New backup codes for a verified user (the old ones stop working); shown once."""
    if request.method == "POST":
        codes = services.new_backup_codes(user=request.user)
        logger.info("backup codes replaced for user %s", request.user.pk)
        return _page(request, "staff/backup_codes.html", "备用验证码", codes=codes, next=reverse("admin:index"))
    return _page(request, "staff/backup_codes.html", "备用验证码", codes=None, next=reverse("admin:index"))
