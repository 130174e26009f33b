from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from hub.staff import throttle


class StaffAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form: a locked-out user or address is told so, in Chinese, instead of
    the generic wrong-password message (the check itself is the backend's)."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "login_locked", False):
                raise ValidationError(throttle.locked_message(), code="locked") from None
            raise


class CodeForm(forms.Form):
    code = forms.CharField(label="验证码", max_length=16, strip=True,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True,
                                                         "inputmode": "text", "size": 12}))

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split()).lower()
        if not code.isalnum():
            raise ValidationError("验证码只能包含数字或字母")
        return code
