"""Second factor in tests: a real TOTP device, real codes, a session marked as verified the way
django_otp.login marks it."""

from __future__ import annotations

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def device_for(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="测试验证器", confirmed=True)


def code(device: TOTPDevice, *, offset: int = 0) -> str:
    """The device's current code (``offset`` steps of 30 s away), as an authenticator shows it."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + offset):06d}"


def verify_session(client, user) -> TOTPDevice:
    device = device_for(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
