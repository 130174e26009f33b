"""A staff member signs in as a person would: password, then on first login enrols an
authenticator from the QR page (the code computed from the secret shown, as an authenticator
app would), keeps the backup codes, lands on the admin index; the next sign-in asks for a code
and takes a backup code. Screenshots at 1280 px."""

from __future__ import annotations

import base64
import re
from importlib import import_module
from types import SimpleNamespace

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django_otp.oath import totp

PASSWORD = "browser-staff-2026"
DESKTOP = {"width": 1280, "height": 800}


def code_from_secret(secret: str) -> str:
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    return f"{totp(key):06d}"


def sign_in(page, username: str) -> None:
    page.goto("/admin/")
    assert "/admin/login/" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")


def test_staff_login_with_totp_enrolment_then_backup_code(new_page, shot):
    from hub.demo import seed

    # the member tiers a migration made, which an earlier transactional test's flush may have removed
    import_module("members.migrations.0002_tiers").create_tiers(apps, SimpleNamespace(connection=connection))
    seed()  # the demo network, so the 1280 px change lists have rows
    get_user_model().objects.create_user("ops_browser", "", PASSWORD, is_staff=True, is_superuser=True)

    page = new_page(viewport=DESKTOP)
    sign_in(page, "ops_browser")
    page.wait_for_url(re.compile(r"/staff/2fa/setup/"))
    assert "绑定手机验证器" in page.content()
    assert page.locator("img.staff-2fa-qr").evaluate("img => img.naturalWidth") > 0  # the QR code rendered
    shot(page, "enrol-qr")
    secret = page.locator(".staff-2fa-secret").inner_text()
    page.fill("input[name=code]", code_from_secret(secret))
    page.click("button[type=submit].default")
    page.wait_for_selector(".staff-2fa-codes")
    codes = page.locator(".staff-2fa-codes code").all_inner_texts()
    assert len(codes) == 10
    shot(page, "backup-codes")
    page.click("text=我已保存，进入运营后台")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert "运营管理" in page.content() and "站点管理" not in page.title()
    shot(page, "admin-index")
    page.goto("/admin/points/agreement/")
    assert "受理协议" in page.title()
    shot(page, "agreements-1280")

    # the next sign-in, elsewhere: the code page, a backup code, the index
    other = new_page(viewport=DESKTOP)
    sign_in(other, "ops_browser")
    other.wait_for_url(re.compile(r"/staff/2fa/\?"))
    assert "双重验证" in other.content()
    other.fill("input[name=code]", "000000")
    other.click("button[type=submit].default")
    assert "验证码不正确" in other.content()
    other.wait_for_timeout(1100)  # django-otp waits a second after a wrong code
    other.fill("input[name=code]", codes[0])
    other.click("button[type=submit].default")
    other.wait_for_url(re.compile(r"/admin/$"))
    assert "运营管理" in other.content()
    shot(other, "admin-index-after-backup-code")
