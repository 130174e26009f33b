"""Issue, rotate, revoke and list merchant integration credentials from the shell.

    manage.py credential issue --merchant M0001 --vendor sixun [--app-key KEY] [--sandbox]
    manage.py credential issue --merchant SBX_FX --vendor fangxiang --public-key-file vendor.pem
    manage.py credential rotate APP_KEY [--overlap-hours 24]
    manage.py credential revoke APP_KEY
    manage.py credential list [--merchant CODE]

The same services as the admin (hub.credentials). A new secret is printed once and cannot be
shown again; pass it to the merchant's integrator over a secure channel.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hub import credentials
from hub.errors import ParamError
from hub.models import Credential, Merchant, Vendor


class Command(BaseCommand):
    help = "Issue, rotate, revoke or list integration credentials (secrets are printed once)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue", help="issue a credential for a merchant")
        issue.add_argument("--merchant", required=True, help="merchant code")
        issue.add_argument("--vendor", required=True, choices=[code for code, _ in Vendor.CODE_CHOICES])
        issue.add_argument("--app-key", default=None, help="default: generated")
        issue.add_argument("--public-key-file", default=None, help="vendor RSA public key (PEM), RSA2 vendors")
        issue.add_argument("--sandbox", action="store_true", help="sandbox credential (refused when DEBUG is off)")
        rotate = sub.add_parser("rotate", help="new secret; the old one stays valid for the overlap")
        rotate.add_argument("app_key")
        rotate.add_argument("--overlap-hours", type=int, default=24, help="0 kills the old secret at once")
        revoke = sub.add_parser("revoke", help="refuse every later request with this app key")
        revoke.add_argument("app_key")
        listing = sub.add_parser("list", help="list credentials (never secrets)")
        listing.add_argument("--merchant", default=None, help="merchant code")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ParamError as exc:
            raise CommandError(exc.message) from exc

    def _issue(self, *, merchant, vendor, app_key, public_key_file, sandbox, **_):
        try:
            merchant_obj = Merchant.objects.get(code=merchant)
        except Merchant.DoesNotExist as exc:
            raise CommandError(f"商户不存在：{merchant}") from exc
        try:
            vendor_obj = Vendor.objects.get(code=vendor)
        except Vendor.DoesNotExist as exc:
            raise CommandError(f"接口方言未登记：{vendor}（先运行 seed_demo 或在后台添加）") from exc
        pem = ""
        if public_key_file:
            try:
                pem = Path(public_key_file).read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"无法读取公钥文件：{public_key_file}") from exc
        credential, secret = credentials.issue_credential(
            merchant=merchant_obj, vendor=vendor_obj, app_key=app_key, rsa_public_key=pem, is_sandbox=sandbox
        )
        self.stdout.write(f"已签发凭证 AppKey: {credential.app_key}（商户 {merchant_obj}，{vendor_obj.name}）")
        if secret:
            self.stdout.write(f"密钥（只显示这一次）: {secret}")

    def _get(self, app_key: str) -> Credential:
        try:
            return Credential.objects.select_related("merchant").get(app_key=app_key)
        except Credential.DoesNotExist as exc:
            raise CommandError(f"凭证不存在：{app_key}") from exc

    def _rotate(self, *, app_key, overlap_hours, **_):
        if overlap_hours < 0:
            raise CommandError("--overlap-hours 不能为负数")
        credential = self._get(app_key)
        secret = credentials.rotate_credential(credential=credential, overlap=timedelta(hours=overlap_hours))
        until = credential.previous_valid_until
        self.stdout.write(f"已轮换 {app_key}；旧密钥{'有效至 ' + until.isoformat() if until else '已立即失效'}")
        self.stdout.write(f"新密钥（只显示这一次）: {secret}")

    def _revoke(self, *, app_key, **_):
        credentials.revoke_credential(credential=self._get(app_key))
        self.stdout.write(f"已吊销 {app_key}")

    def _list(self, *, merchant, **_):
        rows = Credential.objects.select_related("merchant", "vendor").order_by("merchant__code", "app_key")
        if merchant:
            rows = rows.filter(merchant__code=merchant)
        for c in rows:
            kind = "RSA公钥" if c.rsa_public_key else "共享密钥"
            sandbox = " 沙箱" if c.is_sandbox else ""
            self.stdout.write(
                f"{c.app_key}\t{c.merchant.code}\t{c.vendor.code}\t{c.get_status_display()}\t{kind}{sandbox}"
            )
