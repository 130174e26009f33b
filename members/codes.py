"""Dynamic member codes and the opaque, merchant-scoped member ids tills see.

A dynamic member code (动态会员码) is 18 digits starting with ``96``: 16 random digits from the
operating system's CSPRNG, derived from nothing a till can see, valid about 60 seconds and good
for one use. Only a keyed hash of the code is stored.

A member ref is what a till gets back from identify instead of any real identifier: an opaque
id, different at every merchant for the same member, stable there so that earn, redeem and a
refund weeks later can name the member.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from hub.errors import MemberCodeExpired, MemberNotFound, ParamError

CODE_TTL = timedelta(seconds=60)
STRONG_WINDOW = timedelta(minutes=15)
CODE_RE = re.compile(r"^96\d{16}$")
MOBILE_RE = re.compile(r"^1\d{10}$")
REF_RE = re.compile(r"^M[0-9A-HJKMNP-TV-Z]{11}$")
_REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _code_digest(code: str) -> str:
    key = hashlib.sha256(f"member-code:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


class MemberCode(models.Model):
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField("会员码摘要", max_length=64, unique=True)
    issued_at = models.DateTimeField("生成时间")
    expires_at = models.DateTimeField("过期时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    used_by = models.ForeignKey("hub.Merchant", verbose_name="使用商户", on_delete=models.SET_NULL, null=True, blank=True,
                                db_constraint=False)

    class Meta:
        verbose_name = "动态会员码"
        verbose_name_plural = "动态会员码"
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["expires_at"], name="member_code_expiry")]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.issued_at:%H:%M:%S}"


class MemberRef(models.Model):
    member = models.ForeignKey("members.Member", verbose_name="会员", on_delete=models.PROTECT, related_name="refs")
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, db_constraint=False,
                                 db_index=False)
    ref = models.CharField("商户内会员标识", max_length=16)
    strong_until = models.DateTimeField("会员码核验有效至", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "商户内会员标识"
        verbose_name_plural = "商户内会员标识"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "ref"], name="member_ref_unique_per_merchant"),
            models.UniqueConstraint(fields=["member", "merchant"], name="member_ref_one_per_merchant"),
        ]

    def __str__(self) -> str:
        return self.ref


def issue_member_code(*, member, now: datetime | None = None) -> tuple[str, datetime]:
    """A fresh dynamic code for the mini-program or support staff: (code, expires_at)."""
    now = now or timezone.now()
    if member.status != member.Status.ACTIVE:
        raise ParamError("会员状态异常，不能生成会员码")
    for _ in range(5):
        code = "96" + "".join(str(secrets.randbelow(10)) for _ in range(16))
        try:
            with transaction.atomic():
                MemberCode.objects.create(member=member, digest=_code_digest(code), issued_at=now,
                                          expires_at=now + CODE_TTL)
            return code, now + CODE_TTL
        except IntegrityError:  # astronomically unlikely collision with a stored code
            continue
    raise ParamError("会员码生成失败，请重试")


def redeem_member_code(*, code: str, merchant, now: datetime | None = None):
    """Use a code once: the member, or MEMBER_CODE_EXPIRED for an unknown, expired or used code."""
    now = now or timezone.now()
    if not CODE_RE.match(code):
        raise MemberCodeExpired()
    updated = (MemberCode.objects.filter(digest=_code_digest(code), used_at__isnull=True, expires_at__gt=now)
               .select_related("member__tier"))
    row = updated.first()
    if row is None or not MemberCode.objects.filter(pk=row.pk, used_at__isnull=True).update(
            used_at=now, used_by=merchant):
        raise MemberCodeExpired()
    return row.member


def _new_ref() -> str:
    return "M" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(11))


def ref_for(*, member, merchant, strong: bool = False, now: datetime | None = None) -> str:
    """The member's opaque id at this merchant (created on first use). ``strong`` records that
    the member just showed a dynamic code here, which lets the ref redeem for a while."""
    now = now or timezone.now()
    ref = MemberRef.objects.filter(member=member, merchant=merchant).first()
    if ref is None:
        for _ in range(5):
            try:
                with transaction.atomic():
                    ref = MemberRef.objects.create(member=member, merchant=merchant, ref=_new_ref())
                break
            except IntegrityError:  # created concurrently, or a ref collision: look again
                ref = MemberRef.objects.filter(member=member, merchant=merchant).first()
                if ref is not None:
                    break
    if strong:
        MemberRef.objects.filter(pk=ref.pk).update(strong_until=now + STRONG_WINDOW)
    return ref.ref


def member_for_ref(*, ref: str, merchant, now: datetime | None = None, with_pii: bool = False):
    """(member, strong) for an opaque id issued at this merchant: one query on the till's hot
    path (member and tier loaded together; the encrypted name and mobile only when asked)."""
    now = now or timezone.now()
    from members.selectors import load_members

    found = load_members(
        "JOIN members_memberref r ON r.member_id = m.id WHERE r.merchant_id = %s AND r.ref = %s",
        [merchant.pk, ref], extra="r.strong_until", with_pii=with_pii)
    if not found:
        raise MemberNotFound()
    member, strong_until = found[0]
    return member, bool(strong_until and strong_until > now)
