"""Issue a dynamic member code for support staff and demos: manage.py member_code --mobile 13800000001"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from hub.errors import DomainError
from members.codes import issue_member_code
from members.selectors import find_member


class Command(BaseCommand):
    help = "Issue a one-use dynamic member code (valid about 60 seconds) for a member."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--mobile", help="the member's mobile number")
        who.add_argument("--postal-no", help="the member's postal member number")

    def handle(self, *args, mobile=None, postal_no=None, **options):
        try:
            member = find_member(mobile=mobile) if mobile else find_member(postal_no=postal_no)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if member is None:
            raise CommandError("会员不存在")
        try:
            code, expires_at = issue_member_code(member=member)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        local = timezone.localtime(expires_at)
        self.stdout.write(f"{code}")
        self.stderr.write(f"会员 {member.masked_name} {member.masked_mobile} 的动态会员码，{local:%H:%M:%S} 前有效，仅可使用一次")
