"""Writes of the cloud POS: cashier accounts, supervisor PINs, device enrolment (one-time codes).

Keyword-only and atomic, like every service of the hub. An enrolment code is shown once, to the
person who issued it; only its keyed digest is stored (``salted_hmac`` under the hub's secret
key), with an expiry, and it is used up by the enrolment that consumes it. Enrolling issues the
device a credential of the cloud-POS dialect (``hub.credentials.issue_credential``; a device
enrolled again gets a new one and the old one is revoked, so the old browser stops at once).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from hub.credentials import issue_credential, revoke_credential
from hub.errors import NoAuth, ParamError, RateLimited
from hub.gateway import throttle
from hub.models import Cashier, Merchant, PosDevice, Store, Terminal, Vendor

logger = logging.getLogger("hub.cloudpos")

CODE_DIGITS = 10
CODE_TTL = timedelta(minutes=30)
MAX_CODE_TTL = timedelta(days=1)
ENROL_FAILURES_PER_10MIN = 10
PIN_DIGITS = (4, 8)


def code_digest(code: str) -> str:
    return salted_hmac("hub.cloudpos.enrolment-code", code).hexdigest()


def _stores_of(merchant: Merchant, stores) -> list[Store]:
    stores = list(stores)
    if not stores:
        raise ParamError("请至少选择一个门店")
    for store in stores:
        if not isinstance(store, Store) or store.merchant_id != merchant.pk:
            raise ParamError("门店必须属于该收银员的商户")
    return stores


def _check_pin(pin: str) -> str:
    low, high = PIN_DIGITS
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() or not low <= len(pin) <= high:
        raise ParamError(f"主管密码须为 {low} 到 {high} 位数字")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise ParamError("主管密码过于简单（不能为相同或连续数字）")
    return make_password(pin)


def check_cashier(*, merchant: Merchant, username: str, password: str, stores, is_supervisor: bool = False,
                  pin: str | None = None) -> list[Store]:
    """Validate the inputs of ``add_cashier`` without writing (the admin form shows the errors)."""
    if not isinstance(merchant, Merchant) or merchant.pk is None or merchant.kind != Merchant.Kind.MERCHANT:
        raise ParamError("请选择商户")
    stores = _stores_of(merchant, stores)
    username = (username or "").strip()
    User = get_user_model()
    if not username or len(username) > 150 or User.objects.filter(username=username).exists():
        raise ParamError("登录名为空或已被使用")
    try:
        validate_password(password, User(username=username))
    except ValidationError as exc:
        raise ParamError("密码不符合要求：" + "；".join(exc.messages)) from None
    if is_supervisor:
        if not pin:
            raise ParamError("主管须设置主管密码")
        _check_pin(pin)
    return stores


@transaction.atomic
def add_cashier(*, merchant: Merchant, username: str, password: str, stores, display_name: str = "",
                is_supervisor: bool = False, pin: str | None = None) -> Cashier:
    """A new cashier account of ``merchant`` at ``stores`` (a Django user that is not staff: it
    signs in at /pos/ only); a supervisor needs a PIN."""
    stores = check_cashier(merchant=merchant, username=username, password=password, stores=stores,
                           is_supervisor=is_supervisor, pin=pin)
    user = get_user_model()(username=username.strip(), is_staff=False, is_superuser=False)
    user.set_password(password)
    user.save()
    cashier = Cashier.objects.create(user=user, merchant=merchant, display_name=(display_name or "")[:32],
                                     is_supervisor=bool(is_supervisor),
                                     pin_hash=_check_pin(pin) if is_supervisor else "")
    cashier.stores.set(stores)
    logger.info("cloudpos: cashier %s added to merchant %s", user.username, merchant.code)
    return cashier


@transaction.atomic
def set_supervisor_pin(*, cashier: Cashier, pin: str) -> None:
    """Make ``cashier`` a supervisor with this PIN (stored hashed)."""
    cashier = Cashier.objects.select_for_update().get(pk=cashier.pk)
    cashier.pin_hash = _check_pin(pin)
    cashier.is_supervisor = True
    cashier.save(update_fields=["pin_hash", "is_supervisor"])
    logger.info("cloudpos: supervisor PIN set for cashier %s", cashier.pk)


@transaction.atomic
def issue_enrolment_code(*, terminal: Terminal, ttl: timedelta = CODE_TTL, now=None) -> tuple[PosDevice, str]:
    """A one-time enrolment code for a cloud-POS terminal: (device, code). Shown once; a new code
    replaces an unused older one. The device already enrolled keeps working until the code is
    used (then the new browser takes the terminal over)."""
    now = now or timezone.now()
    if not isinstance(terminal, Terminal) or terminal.pk is None:
        raise ParamError("请选择终端")
    terminal = Terminal.objects.select_related("store__merchant").get(pk=terminal.pk)
    if terminal.kind != Terminal.Kind.CLOUD_POS or not terminal.active or not terminal.store.active:
        raise ParamError("只能为启用的智慧云POS终端发放登记码")
    if not timedelta(minutes=1) <= ttl <= MAX_CODE_TTL:
        raise ParamError("登记码有效期须在 1 分钟到 24 小时之间")
    device, _ = PosDevice.objects.select_for_update().get_or_create(terminal=terminal)
    code = "".join(str(secrets.randbelow(10)) for _ in range(CODE_DIGITS))
    device.code_digest, device.code_expires_at = code_digest(code), now + ttl
    device.save(update_fields=["code_digest", "code_expires_at"])
    logger.info("cloudpos: enrolment code issued for terminal %s", terminal)
    return device, code


def enrol_device(*, code: str, cashier: Cashier, client_key: str = "", now=None) -> tuple[PosDevice, str, str]:
    """Use an enrolment code: the browser becomes that terminal. Returns (device, app key, secret);
    the secret goes into the browser's HttpOnly cookie and is never shown. The cashier must be of
    the terminal's merchant and store. Wrong codes count per ``client_key`` (the caller's address),
    outside the transaction so that the refusal's rollback keeps the count."""
    now = now or timezone.now()
    key = f"pos-enrol:{client_key[:64]}"
    if throttle.count(key) >= ENROL_FAILURES_PER_10MIN:
        raise RateLimited("登记码错误次数过多，请十分钟后再试")
    code = (code or "").strip().replace(" ", "")
    if code.isascii() and code.isdigit() and len(code) == CODE_DIGITS:
        with transaction.atomic():
            device = (PosDevice.objects.select_for_update(of=("self",)).filter(code_digest=code_digest(code))
                      .select_related("terminal__store__merchant", "credential").first())
            if device is not None and device.code_expires_at is not None and device.code_expires_at > now:
                return _enrol(device, cashier, now)
    throttle.hit(key, window=600)
    raise ParamError("登记码无效或已过期，请向店长重新获取")


def _enrol(device: PosDevice, cashier: Cashier, now) -> tuple[PosDevice, str, str]:
    store = device.terminal.store
    if cashier.merchant_id != store.merchant_id or not cashier.stores.filter(pk=store.pk).exists():
        raise NoAuth("该登记码不属于您所在的门店")
    if device.credential is not None and device.credential.is_active:
        revoke_credential(credential=device.credential)
    credential, secret = issue_credential(merchant=store.merchant, vendor=Vendor.objects.get(code="cloudpos"),
                                          app_key=f"pos_{secrets.token_hex(10)}")
    device.credential = credential
    device.code_digest, device.code_expires_at = "", None
    device.enrolled_at, device.enrolled_by = now, cashier
    device.save(update_fields=["credential", "code_digest", "code_expires_at", "enrolled_at", "enrolled_by"])
    logger.info("cloudpos: terminal %s enrolled by cashier %s", device.terminal, cashier.pk)
    return device, credential.app_key, secret


@transaction.atomic
def revoke_device(*, device: PosDevice) -> None:
    """The device stops at once (its credential is revoked); enrol again with a new code."""
    device = PosDevice.objects.select_for_update(of=("self",)).select_related("credential").get(pk=device.pk)
    if device.credential is not None and device.credential.is_active:
        revoke_credential(credential=device.credential)
    device.code_digest, device.code_expires_at = "", None
    device.save(update_fields=["code_digest", "code_expires_at"])


@transaction.atomic
def update_cashier(*, cashier: Cashier, stores, display_name: str = "", active: bool = True) -> Cashier:
    """Change a cashier's stores (of the same merchant), name or whether the account is usable;
    a cashier made inactive is refused at the next call."""
    cashier = Cashier.objects.select_for_update().get(pk=cashier.pk)
    stores = _stores_of(cashier.merchant, stores)
    cashier.display_name, cashier.active = (display_name or "")[:32], bool(active)
    cashier.save(update_fields=["display_name", "active"])
    cashier.stores.set(stores)
    return cashier


def check_update(*, cashier: Cashier, stores, pin: str | None = None) -> None:
    """Validate the inputs of ``update_cashier`` / ``set_supervisor_pin`` without writing."""
    _stores_of(cashier.merchant, stores)
    if pin:
        _check_pin(pin)
