"""Who may act at a cloud-POS till: the enrolled device and the signed-in cashier.

The device factor is a credential of the cloud-POS dialect (``hub.models.Credential``, app key
and secret, issued at enrolment by ``hub.vendors.cloudpos.services.enrol_device``) held by the
browser in an HttpOnly cookie; the gateway checks it like any dialect's secret (unknown, revoked
or wrong: the one ``SIGN_ERROR``). The person factor is the cashier's Django session (password
log-in, idle timeout) plus CSRF; the place is the device's terminal, which must be in one of the
cashier's stores of the same merchant. A reverse also needs a supervisor's PIN.

Reads only (the idle stamp of the session excepted): writes are in ``services``.
"""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.middleware.csrf import CsrfViewMiddleware

from hub.db import load_joined
from hub.errors import NoAuth, RateLimited
from hub.gateway import throttle
from hub.models import Cashier, Credential, Merchant, PosDevice, Store, Terminal

DEVICE_COOKIE = "hub_pos_device"
SEEN_KEY = "pos_seen"  # session key: when the cashier last did something (epoch seconds)
PIN_FAILURES_PER_10MIN = 5


def idle_seconds() -> int:
    return int(getattr(settings, "POS_IDLE_SECONDS", 900))


def device_cookie(app_key: str, secret: str) -> str:
    return f"{app_key}.{secret}"


def read_device_cookie(request) -> tuple[str, str]:
    """(app key, secret) from the device cookie; ("", "") when absent or malformed."""
    value = request.COOKIES.get(DEVICE_COOKIE, "")
    app_key, dot, secret = value.partition(".")
    if not dot or not app_key or not secret or len(value) > 256:
        return "", ""
    return app_key, secret


def matching_secret(secret: str, secrets) -> str | None:
    return next((s for s in secrets if s and hmac.compare_digest(s.encode(), secret.encode())), None)


def _csrf_probe(request):  # a view that is not csrf_exempt, for the middleware's check
    return None


def csrf_ok(request) -> bool:
    middleware = CsrfViewMiddleware(lambda r: None)
    if "CSRF_COOKIE" not in request.META:
        middleware.process_request(request)
    return middleware.process_view(request, _csrf_probe, (), {}) is None


def cashier_of(user) -> Cashier | None:
    """The active cashier of this user at an active merchant, or None (one prepared statement:
    every cloud-POS call asks; ``cashier.merchant`` loads on first use)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    found = load_joined(((Cashier, "c"),), "FROM hub_cashier c JOIN hub_merchant m ON m.id = c.merchant_id "
                                            "WHERE c.user_id = %s AND c.active AND m.status = %s",
                        [user.pk, Merchant.Status.ACTIVE])
    return found[0][0] if found else None


def session_cashier(request, *, touch: bool = True) -> Cashier:
    """The signed-in, active cashier of this session, or NO_AUTH (also after the idle timeout,
    which ends the session)."""
    cashier = cashier_of(getattr(request, "user", None))
    if cashier is None:
        raise NoAuth("请先登录收银员账号")
    now = int(time.time())
    seen = request.session.get(SEEN_KEY)
    if not isinstance(seen, int) or now - seen > idle_seconds():
        from django.contrib.auth import logout

        logout(request)
        raise NoAuth("长时间未操作，已自动退出，请重新登录")
    if touch and now - seen >= 30:  # one session write per half minute at most
        request.session[SEEN_KEY] = now
    return cashier


_DEVICE = """FROM hub_posdevice d
                JOIN hub_credential k ON k.id = d.credential_id
                JOIN hub_terminal t ON t.id = d.terminal_id
                JOIN hub_store s ON s.id = t.store_id
               WHERE k.app_key = %s AND k.status = %s AND t.active AND s.active"""
# Whether a cashier may act at the device's store (0: no cashier asked about).
_MAY_ACT = "EXISTS (SELECT 1 FROM hub_cashier_stores cs WHERE cs.cashier_id = %s AND cs.store_id = s.id)"


def _device(app_key: str, cashier_id: int = 0) -> tuple[PosDevice, bool] | None:
    """The usable device of this app key with its terminal and store (one prepared statement,
    every cloud-POS call asks), and whether that cashier may act at its store."""
    found = load_joined(((PosDevice, "d"), (Terminal, "t"), (Store, "s")), _DEVICE,
                        [cashier_id, app_key, Credential.Status.ACTIVE], extra=_MAY_ACT)
    if not found:
        return None
    device, terminal, store, may_act = found[0]
    terminal.store = store
    device.terminal = terminal
    return device, may_act


def device_for(app_key: str) -> PosDevice | None:
    found = _device(app_key)
    return found[0] if found else None


def check_place(*, cashier: Cashier, app_key: str, store_code: str, terminal_code: str) -> PosDevice:
    """The device of this app key is the terminal the call names, and the cashier may act there:
    same merchant, one of the cashier's stores. NO_AUTH otherwise."""
    found = _device(app_key, cashier.pk)
    if found is None:
        raise NoAuth("设备未登记或已停用，请重新登记")
    device, may_act = found
    terminal = device.terminal
    store = terminal.store
    if store.merchant_id != cashier.merchant_id:
        raise NoAuth("收银员不属于该设备的商户")
    if (store_code and store_code != store.code) or (terminal_code and terminal_code != terminal.code):
        raise NoAuth("门店或终端与本设备登记的不符")
    if not may_act:
        raise NoAuth("该收银员无权在本门店操作")
    return device


def check_pin(*, cashier: Cashier, device: PosDevice, pin: str) -> Cashier:
    """A supervisor of the device's merchant and store whose PIN this is; failures are counted
    per terminal (RATE_LIMITED after five in ten minutes)."""
    key = f"pos-pin:{device.terminal_id}"
    if throttle.count(key) >= PIN_FAILURES_PER_10MIN:
        raise RateLimited("主管密码错误次数过多，请十分钟后再试")
    if pin and pin.isascii() and pin.isdigit():
        supervisors = Cashier.objects.filter(merchant_id=cashier.merchant_id, is_supervisor=True, active=True,
                                             stores=device.terminal.store_id).exclude(pin_hash="")
        for supervisor in supervisors:
            if check_password(pin, supervisor.pin_hash):
                return supervisor
    if throttle.hit(key, window=600) > PIN_FAILURES_PER_10MIN:
        raise RateLimited("主管密码错误次数过多，请十分钟后再试")
    raise NoAuth("主管密码错误")


def request_device(request) -> PosDevice | None:
    """The enrolled device this browser's cookie proves (checked as the gateway checks a
    credential: usable, of the cloud-POS dialect, a current secret), or None."""
    from hub import credentials

    app_key, secret = read_device_cookie(request)
    if not app_key:
        return None
    try:
        credential = credentials.credential_for_app_key(app_key)
    except NoAuth:
        return None
    if credential.vendor.code != "cloudpos" or matching_secret(secret, credentials.active_secrets(credential)) is None:
        return None
    device = device_for(app_key)
    if device is not None:
        device.credential = credential
    return device
