"""Forms of the members admin. They only check input; the admin saves through the services."""

from __future__ import annotations

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from hub.errors import ParamError
from members import vault
from members.models import Consent, Member, VendorMemberLink
from members.selectors import link_conflict
from members.services import REVEAL_REASON_MIN, REVEALABLE_FIELDS
from members.validation import (
    DUPLICATE_MOBILE,
    clean_external_id,
    clean_id_number,
    clean_mobile,
    clean_name,
    clean_postal_no,
    clean_reason,
)


def _checked(check, value):
    try:
        return check(value)
    except ParamError as exc:
        raise ValidationError(exc.message) from None


def _write_only(label: str, max_length: int, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "vTextField"}),
    )


class MemberAdminForm(forms.ModelForm):
    """Name, mobile and ID number are write-only: the form never carries the stored values."""

    new_name = _write_only("姓名", 64, "只写字段：填写即替换；留空表示不修改。")
    new_mobile = _write_only("手机号", 11, "只写字段：1开头的11位数字；留空表示不修改。")
    new_id_number = _write_only("身份证号", 18, "只写字段：18位，校验位须正确；留空表示不修改。")

    class Meta:
        model = Member
        fields = ["postal_no", "tier", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adding = self.instance.pk is None
        if self.adding:
            self.fields["new_name"].required = True
            self.fields["new_mobile"].required = True
            self.fields["new_name"].help_text = self.fields["new_mobile"].help_text = ""

    def clean_postal_no(self):
        return _checked(clean_postal_no, self.cleaned_data.get("postal_no"))

    def clean_new_name(self):
        value = self.cleaned_data.get("new_name", "")
        return _checked(clean_name, value) if value.strip() else ""

    def clean_new_mobile(self):
        value = self.cleaned_data.get("new_mobile", "")
        if not value.strip():
            return ""
        mobile = _checked(clean_mobile, value)
        owners = Member.objects.filter(mobile_index__in=vault.blind_indexes(mobile, purpose="mobile"))
        if self.instance.pk:
            owners = owners.exclude(pk=self.instance.pk)
        if owners.exists():
            raise ValidationError(DUPLICATE_MOBILE)
        return mobile

    def clean_new_id_number(self):
        value = self.cleaned_data.get("new_id_number", "")
        return _checked(clean_id_number, value) if value.strip() else ""


class RevealForm(forms.Form):
    field = forms.ChoiceField(label="查看内容", choices=list(REVEALABLE_FIELDS.items()))
    reason = forms.CharField(
        label="查看原因",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="如：会员来电核实身份（工单号 …）。原因、操作人和时间将被记录。",
    )

    def clean_reason(self):
        return _checked(
            lambda v: clean_reason(v, what="查看原因", min_length=REVEAL_REASON_MIN), self.cleaned_data.get("reason")
        )


class PiiSearchForm(forms.Form):
    """An exact search by full mobile or ID number: the value goes in the POST body only."""

    term = forms.CharField(
        label="手机号或身份证号",
        max_length=40,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="完整的11位手机号或18位身份证号（可含空格、+86）。",
    )
    reason = forms.CharField(
        label="查找原因",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="如：会员来电核实身份（工单号 …）。原因、操作人、时间和查到的会员将被记录。",
    )

    def clean_reason(self):
        return _checked(
            lambda v: clean_reason(v, what="查找原因", min_length=REVEAL_REASON_MIN), self.cleaned_data.get("reason")
        )


class ReasonActionForm(ActionForm):
    """The changelist action bar with a reason, for actions that must record why."""

    reason = forms.CharField(label="原因", required=False, max_length=200)


class LinkAdminForm(forms.ModelForm):
    class Meta:
        model = VendorMemberLink
        fields = ["member", "merchant", "external_id", "verified_method", "verified_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "verified_at" in self.fields:
            self.fields["verified_at"].required = False
            self.fields["verified_at"].help_text = "留空为当前时间"

    def clean_external_id(self):
        return _checked(clean_external_id, self.cleaned_data.get("external_id"))

    def clean_verified_at(self):
        return self.cleaned_data.get("verified_at") or timezone.now()

    def clean(self):
        data = super().clean()
        member, merchant, external_id = data.get("member"), data.get("merchant"), data.get("external_id")
        if member and merchant and external_id:
            message = link_conflict(member=member, merchant=merchant, external_id=external_id)
            if message:
                raise ValidationError(message)
        return data


class ConsentAdminForm(forms.ModelForm):
    class Meta:
        model = Consent
        fields = ["member", "merchant", "scope", "source"]
