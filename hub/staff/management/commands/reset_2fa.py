"""Recovery when a staff member lost both phone and backup codes: remove their second-factor
devices; their next sign-in (password) enrols a new authenticator. Check who is asking first."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from hub.staff.services import reset_second_factor


class Command(BaseCommand):
    help = "Remove a user's TOTP and backup-code devices so they enrol again at next login."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"用户 {username} 不存在")
        removed = reset_second_factor(user=user)
        self.stdout.write(f"已重置 {username} 的双重验证（删除 {removed} 个设备），下次登录时重新绑定")
