"""Mini-program identities, sessions and first answers (tables of the ``members`` app)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class MpIdentity(models.Model):
    """One user of one mini-program: channel (``wechat``, later ``alipay``) × app id × subject
    (WeChat's openid). The subject is kept only as a keyed digest: the hub never needs it back
    and never shows it. ``member`` is set once the phone is bound (``auth/phone``)."""

    class Channel(models.TextChoices):
        WECHAT = "wechat", "微信小程序"
        ALIPAY = "alipay", "支付宝小程序"

    channel = models.CharField("渠道", max_length=16, choices=Channel.choices)
    app_id = models.CharField("小程序 AppID", max_length=64)
    subject_digest = models.CharField("用户标识摘要", max_length=64)
    has_unionid = models.BooleanField("有 UnionID", default=False)
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="mp_identities")
    consent_version = models.CharField("同意的授权协议版本", max_length=16, blank=True, default="")
    bound_at = models.DateTimeField("绑定时间", null=True, blank=True)
    created_at = models.DateTimeField("首次登录", auto_now_add=True)

    class Meta:
        verbose_name = "小程序用户"
        verbose_name_plural = "小程序用户"
        constraints = [
            models.UniqueConstraint(fields=["channel", "app_id", "subject_digest"], name="mp_identity_unique"),
            # one identity per member per mini-program: a phone bound here is bound nowhere else
            models.UniqueConstraint(fields=["channel", "app_id", "member"], condition=Q(member__isnull=False),
                                    name="mp_identity_one_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.app_id}#{self.pk}"


class MpSession(models.Model):
    """A hub session token (shown once at login; only its keyed digest is stored). Idle expiry
    slides: each use moves ``expires_at`` to 30 days after it (written at most every few minutes)."""

    identity = models.ForeignKey(MpIdentity, verbose_name="小程序用户", on_delete=models.CASCADE,
                                 related_name="sessions")
    digest = models.CharField("令牌摘要", max_length=64, unique=True)
    created_at = models.DateTimeField("登录时间")
    last_used_at = models.DateTimeField("最近使用")
    expires_at = models.DateTimeField("空闲过期时间")
    revoked_at = models.DateTimeField("注销时间", null=True, blank=True)
    revoked_reason = models.CharField("注销原因", max_length=16, blank=True, default="")

    class Meta:
        verbose_name = "小程序会话"
        verbose_name_plural = "小程序会话"
        indexes = [models.Index(fields=["identity", "revoked_at"], name="mp_session_identity")]

    def __str__(self) -> str:
        return f"session#{self.pk}"


class MpRequest(models.Model):
    """The first answer of a mini-program write by its ``request_no`` (unique per member)."""

    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, related_name="+")
    request_no = models.CharField("请求单号", max_length=64)
    op = models.CharField("操作", max_length=32)
    fingerprint = models.CharField("内容摘要", max_length=64)
    status = models.PositiveSmallIntegerField("HTTP 状态", default=200)
    answer = models.JSONField("首次应答", null=True, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "小程序请求"
        verbose_name_plural = "小程序请求"
        constraints = [models.UniqueConstraint(fields=["member", "request_no"], name="mp_request_no_unique")]

    def __str__(self) -> str:
        return f"{self.op} {self.request_no}"
