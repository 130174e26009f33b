from django.apps import AppConfig


class StaffConfig(AppConfig):
    """Staff sign-in: password, then a second factor (TOTP or a backup code), throttled."""

    name = "hub.staff"
    label = "staff"
    verbose_name = "登录与双重验证"

    def ready(self):
        from django.contrib import admin

        from hub.staff import i18n
        from hub.staff.forms import StaffAuthenticationForm

        # The admin's own sign-in form, with the lockout said in Chinese (hub.staff.throttle).
        admin.site.login_form = StaffAuthenticationForm
        i18n.apply()  # third-party apps' names and labels in Chinese
