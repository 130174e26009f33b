"""Members, tiers, their links to merchants' cashier software, consents and PII audit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from members import vault
from members.fields import EncryptedTextField


class Tier(models.Model):
    """会员等级, ordered by ``rank`` (普卡 lowest)."""

    code = models.CharField("代码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=32, unique=True)
    rank = models.PositiveSmallIntegerField("级别", unique=True, help_text="数字越大等级越高")

    class Meta:
        verbose_name = "会员等级"
        verbose_name_plural = "会员等级"
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "正常"
        FROZEN = "frozen", "冻结"
        CLOSED = "closed", "注销"

    postal_no = models.CharField("邮政会员号", max_length=32, unique=True)
    name = EncryptedTextField("姓名（加密）", blank=True, default="")
    mobile = EncryptedTextField("手机号（加密）", blank=True, default="")
    mobile_index = models.CharField("手机号盲索引", max_length=64, null=True, blank=True, unique=True, editable=False)
    id_number = EncryptedTextField("身份证号（加密）", blank=True, default="")
    id_number_index = models.CharField("身份证号盲索引", max_length=64, null=True, blank=True, editable=False, db_index=True)
    tier = models.ForeignKey(Tier, verbose_name="等级", on_delete=models.PROTECT, related_name="members")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField("注册时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "会员"
        verbose_name_plural = "会员"
        ordering = ["-id"]
        permissions = [("reveal_pii", "可查看会员完整手机号与身份证号（留审计记录）")]

    def __str__(self) -> str:
        # Shown on ops pages and kept in the admin's change log: the short masks.
        return f"{self.masked_name} {self.short_masked_mobile}"

    @property
    def masked_mobile(self) -> str:
        """``139****5678``: what a till shows the cashier of a member it already identified."""
        return vault.mask_mobile(self.mobile)

    @property
    def short_masked_mobile(self) -> str:
        """``*******5678``: what the ops site shows (see docs/members.md, search as a reveal)."""
        return vault.mask_mobile_short(self.mobile)

    @property
    def short_masked_id_number(self) -> str:
        return vault.mask_id_number_short(self.id_number)

    @property
    def masked_name(self) -> str:
        return vault.mask_name(self.name)

    @property
    def masked_id_number(self) -> str:
        return vault.mask_id_number(self.id_number)


class VendorMemberLink(models.Model):
    """会员互认: this member is that merchant's customer ``external_id`` in its cashier software.

    Unlinking sets ``unlinked_at``; the row stays as history. Only one active link per
    (merchant, external id) and per (member, merchant).
    """

    class Method(models.TextChoices):
        SMS = "sms", "短信验证码"
        MEMBER_CODE = "member_code", "会员码核验"
        MOBILE_MATCH = "mobile_match", "手机号一致"
        OPERATOR = "operator", "运营人工核验"
        IMPORT = "import", "批量导入"

    member = models.ForeignKey(Member, verbose_name="会员", on_delete=models.PROTECT, related_name="links")
    merchant = models.ForeignKey(
        "hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="member_links"
    )
    external_id = models.CharField("商户会员卡号", max_length=64)
    verified_method = models.CharField("核验方式", max_length=16, choices=Method.choices)
    verified_at = models.DateTimeField("核验时间")
    linked_at = models.DateTimeField("绑定时间", auto_now_add=True)
    unlinked_at = models.DateTimeField("解绑时间", null=True, blank=True)
    unlink_reason = models.CharField("解绑原因", max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "会员互认关系"
        verbose_name_plural = "会员互认关系"
        ordering = ["-linked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "external_id"],
                condition=Q(unlinked_at__isnull=True),
                name="link_external_id_unique_per_merchant",
                violation_error_message="该会员卡号已绑定其他会员",
            ),
            models.UniqueConstraint(
                fields=["member", "merchant"],
                condition=Q(unlinked_at__isnull=True),
                name="link_one_active_per_member_merchant",
                violation_error_message="该会员已绑定此商户的其他会员卡号",
            ),
        ]

    def __str__(self) -> str:
        # The card number is often the member's mobile: never shown (nor logged) in full.
        return f"{self.merchant_id}:{self.masked_external_id}"

    @property
    def masked_external_id(self) -> str:
        return vault.mask_external_id(self.external_id)

    @property
    def active(self) -> bool:
        return self.unlinked_at is None


class Consent(models.Model):
    """PIPL consent of a member to share data with a merchant; withdrawing keeps the record."""

    class Scope(models.TextChoices):
        MEMBER_RECOGNITION = "recognition", "会员互认与积分互通"
        MARKETING = "marketing", "营销信息"

    member = models.ForeignKey(Member, verbose_name="会员", on_delete=models.PROTECT, related_name="consents")
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, related_name="consents")
    scope = models.CharField("授权范围", max_length=16, choices=Scope.choices, default=Scope.MEMBER_RECOGNITION)
    granted_at = models.DateTimeField("授权时间")
    withdrawn_at = models.DateTimeField("撤回时间", null=True, blank=True)
    source = models.CharField("来源", max_length=32, default="mini_program")
    version = models.CharField("授权协议版本", max_length=16, blank=True, default="",
                               help_text="会员同意的授权协议版本（小程序授权时记录）")

    class Meta:
        verbose_name = "数据共享授权"
        verbose_name_plural = "数据共享授权"
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "merchant", "scope"],
                condition=Q(withdrawn_at__isnull=True),
                name="consent_one_active_per_scope",
                violation_error_message="该会员对此商户已有同一范围的有效授权",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}→{self.merchant_id} {self.get_scope_display()}"


class PiiRevealAudit(models.Model):
    """Who saw a member's full mobile or ID number, or looked a member up by one, when, and why.

    An exact search by a full mobile or ID number is a reveal too (it confirms whose the value
    is): it is recorded with ``kind=search``, the member found (none if nobody matched) and
    never the value searched.
    """

    class Kind(models.TextChoices):
        REVEAL = "reveal", "查看完整信息"
        SEARCH = "search", "精确查找"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT)
    kind = models.CharField("类型", max_length=8, choices=Kind.choices, default=Kind.REVEAL)
    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.PROTECT, related_name="reveals", null=True, blank=True
    )
    field = models.CharField("字段", max_length=16, choices=[("mobile", "手机号"), ("id_number", "身份证号")])
    reason = models.CharField("原因", max_length=200)
    at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "敏感信息查看记录"
        verbose_name_plural = "敏感信息查看记录"
        ordering = ["-at"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["user", "kind", "at"], name="pii_audit_user_kind_at")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.field} {self.member_id} {self.at:%Y-%m-%d %H:%M}"


from members.codes import MemberCode, MemberRef  # noqa: E402  (dynamic codes and opaque ids)
from members.miniprogram.models import MpIdentity, MpRequest, MpSession  # noqa: E402  (mini-program sign-in)

__all__ = ["Tier", "Member", "VendorMemberLink", "Consent", "PiiRevealAudit", "MemberCode", "MemberRef",
           "MpIdentity", "MpSession", "MpRequest"]
