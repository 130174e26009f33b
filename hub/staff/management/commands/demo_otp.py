"""The demo admin's current second-factor code (DEBUG sandbox only), for a person trying `make
run` without an authenticator app at hand."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from hub.management.commands.devrun import ADMIN_USER, ensure_admin_totp


class Command(BaseCommand):
    help = "Print the demo admin's current TOTP code (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("仅限 DEBUG 沙箱环境 / DEBUG sandbox only")
        device = ensure_admin_totp()
        if device is None:
            raise CommandError(f"演示管理员 {ADMIN_USER} 不存在：先运行 make run / run `make run` first")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(f"{code:0{device.digits}d}")
