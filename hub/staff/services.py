"""Second-factor writes: enrolment, backup codes, reset. Keyword-only, atomic; the devices'
history (who, when) is kept by the database triggers of hub.history."""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.errors import ParamError

BACKUP_CODES = 10
TOTP_NAME = "手机验证器"
BACKUP_NAME = "备用验证码"


def confirmed_totp(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_totp(*, user) -> TOTPDevice:
    """The unconfirmed authenticator being enrolled (made once; the same secret is shown again
    until it is confirmed)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def base32_secret(device: TOTPDevice) -> str:
    """The secret as an authenticator app's manual entry wants it (grouped base32)."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def qr_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a data: URI (the CSP allows images from data:)."""
    buffer = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2).save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@transaction.atomic
def confirm_totp(*, user, token: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending authenticator with a code from it; returns it with fresh backup codes
    (shown once: only the device rows keep them)."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise ParamError("没有待绑定的验证器，请刷新页面重新开始")
    if not device.verify_is_allowed()[0] or not device.verify_token(token):
        raise ParamError("验证码不正确，请核对手机验证器上的 6 位数字（注意时间同步）")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return device, new_backup_codes(user=user)


@transaction.atomic
def new_backup_codes(*, user) -> list[str]:
    """Replace the user's backup codes with ``BACKUP_CODES`` new single-use ones."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def reset_second_factor(*, user) -> int:
    """Remove every second-factor device of ``user`` (lost phone and codes): the next sign-in
    enrols anew. Returns how many devices went."""
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    return removed


def has_second_factor(user) -> bool:
    return confirmed_totp(user) is not None
