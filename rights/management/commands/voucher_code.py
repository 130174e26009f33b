"""Print a fresh display code (97…) of one of a member's usable vouchers, for vendor developers
trying contract v1.1 in the sandbox: manage.py voucher_code --mobile 13800000001 [--right CODE]

Claims the free voucher right for the member first if they hold no usable voucher (of that
right), as member_code issues a member code."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from hub.errors import DomainError
from members.selectors import find_member
from rights.demo import ensure_usable_voucher
from rights.vouchers import issue_display_code


class Command(BaseCommand):
    help = "Issue a one-use voucher display code (valid about 60 seconds) for a member."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--mobile", help="the member's mobile number")
        who.add_argument("--postal-no", help="the member's postal member number")
        parser.add_argument("--right", help="the right's code (default: any usable voucher, else SBX_M50_10)")

    def handle(self, *args, mobile=None, postal_no=None, right=None, **options):
        try:
            member = find_member(mobile=mobile) if mobile else find_member(postal_no=postal_no)
            if member is None:
                raise CommandError("会员不存在")
            voucher = ensure_usable_voucher(member=member, right_code=right)
            code, expires_at = issue_display_code(voucher=voucher)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        local = timezone.localtime(expires_at)
        self.stdout.write(code)
        self.stderr.write(f"会员 {member.masked_name} {member.masked_mobile} 的“{voucher.right.name}”凭证展示码，"
                          f"{local:%H:%M:%S} 前有效，仅可使用一次")
