"""Cloud-POS demo and sandbox data (part of hub.demo.seed, idempotent).

- the demo cashier ``cashier`` / ``cashier-hub-2026`` of the demo fresh market (DEMO_MKT, all its
  stores, a supervisor with PIN ``DEMO_PIN``) and the device row of its terminal A01/CP01; `make
  run` issues that terminal a fresh enrolment code and prints it (``demo_enrolment_code``);
- the sandbox: the registry's cloud-POS sandbox merchant gets a device bound to its sandbox
  credential and a sandbox cashier that cannot sign in with a password; ``sandbox_session`` makes
  a signed-in session for it (the contract suite and the bench build requests with it). The
  sandbox credential is refused whenever DEBUG is off, like every sandbox credential.
"""

from __future__ import annotations

import time
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from hub.models import Cashier, Credential, Merchant, PosDevice, Store, Terminal

DEMO_MERCHANT = "DEMO_MKT"
DEMO_USER, DEMO_PASSWORD, DEMO_PIN = "cashier", "cashier-hub-2026", "2468"
DEMO_STORE, DEMO_TERMINAL = "A01", "CP01"
SANDBOX_USER = "sandbox_pos_cashier"


def _cashier(username: str, merchant: Merchant, stores, *, password: str | None, pin: str, name: str) -> bool:
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": False})
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    cashier, made = Cashier.objects.get_or_create(
        user=user, defaults={"merchant": merchant, "display_name": name, "is_supervisor": True,
                             "pin_hash": make_password(pin)})
    if made:
        cashier.stores.set(stores)
    return made


@transaction.atomic
def seed_cloudpos() -> dict[str, int]:
    from hub.vendors.cloudpos.adapter import SANDBOX_PIN, CloudPosAdapter

    created = {"cashiers": 0, "pos_devices": 0}
    box = CloudPosAdapter.sandbox
    credential = Credential.objects.filter(app_key=box.app_key).first()
    terminal = Terminal.objects.filter(store__merchant__code=box.merchant, store__code=box.store, code=box.till).first()
    if credential is not None and terminal is not None:
        _, made = PosDevice.objects.get_or_create(terminal=terminal,
                                                  defaults={"credential": credential, "enrolled_at": timezone.now()})
        created["pos_devices"] += int(made)
        created["cashiers"] += int(_cashier(SANDBOX_USER, terminal.store.merchant, [terminal.store], password=None,
                                            pin=SANDBOX_PIN, name="沙箱收银员"))
    merchant = Merchant.objects.filter(code=DEMO_MERCHANT).first()
    if merchant is not None:
        created["cashiers"] += int(_cashier(DEMO_USER, merchant, Store.objects.filter(merchant=merchant),
                                            password=DEMO_PASSWORD, pin=DEMO_PIN, name="演示收银员"))
        terminal = Terminal.objects.filter(store__merchant=merchant, store__code=DEMO_STORE, code=DEMO_TERMINAL).first()
        if terminal is not None:
            _, made = PosDevice.objects.get_or_create(terminal=terminal)
            created["pos_devices"] += int(made)
    return created


def demo_enrolment_code() -> tuple[Terminal, str] | None:
    """A fresh enrolment code (24 hours) for the demo terminal, for `make run` to print."""
    from hub.vendors.cloudpos.services import issue_enrolment_code

    device = PosDevice.objects.filter(terminal__store__merchant__code=DEMO_MERCHANT, terminal__store__code=DEMO_STORE,
                                      terminal__code=DEMO_TERMINAL).select_related("terminal__store").first()
    if device is None:
        return None
    _, code = issue_enrolment_code(terminal=device.terminal, ttl=timedelta(hours=24))
    return device.terminal, code


def sandbox_session(sandbox, *, app_key: str = "") -> str:
    """The key of a new signed-in session of the sandbox cashier ("" if it was not seeded), for a
    test or benchmark till. A usable cloud-POS credential of the sandbox merchant other than the
    seeded one (the benchmark issues its own) becomes the sandbox terminal's device, as an
    enrolment would make it."""
    cashier = Cashier.objects.filter(user__username=SANDBOX_USER, merchant__code=sandbox.merchant).select_related(
        "user").first()
    if cashier is None:
        return ""
    credential = Credential.objects.filter(app_key=app_key, merchant=cashier.merchant, vendor__code="cloudpos",
                                           status=Credential.Status.ACTIVE).first()
    if credential is not None and not PosDevice.objects.filter(credential=credential).exists():
        PosDevice.objects.filter(terminal__store__merchant=cashier.merchant, terminal__store__code=sandbox.store,
                                 terminal__code=sandbox.till).update(credential=credential, enrolled_at=timezone.now())
    from hub.vendors.cloudpos.auth import SEEN_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(cashier.user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]  # as login() would record it
    session[HASH_SESSION_KEY] = cashier.user.get_session_auth_hash()
    session[SEEN_KEY] = int(time.time())
    session.create()
    return session.session_key
