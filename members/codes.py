"""Dynamic member codes and the opaque, merchant-scoped member ids tills see.

A dynamic member code (动态会员码) is 18 digits starting with ``96``: 16 random digits from the
operating system's CSPRNG, derived from nothing a till can see, valid about 60 seconds and good
for one use. Only a keyed hash of the code is stored.

A member ref is what a till gets back from identify instead of any real identifier: an opaque
id, different at every merchant for the same member, stable there so that earn, redeem and a
refund weeks later can name the member. The stable ref is weak (anyone who once identified the
member, by mobile or card number too, knows it). An identify by dynamic code instead hands out
a fresh *strong ref* (``StrongRef``): it names the same member for good, and for
``STRONG_WINDOW`` at the terminal the code was shown at it also counts as the code itself (may
redeem). Resolving any of these credentials is ``members.credentials``.
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


class StrongRef(models.Model):
    """The ref an identify by dynamic code handed out: strong at that terminal until
    ``strong_until``, a plain (weak) name of the member afterwards."""

    member_ref = models.ForeignKey(MemberRef, verbose_name="商户内会员标识", on_delete=models.PROTECT,
                                   related_name="strong_refs")
    merchant = models.ForeignKey("hub.Merchant", verbose_name="商户", on_delete=models.PROTECT, db_constraint=False,
                                 db_index=False)
    ref = models.CharField("会员码核验标识", max_length=16)
    terminal = models.ForeignKey("hub.Terminal", verbose_name="核验终端", on_delete=models.SET_NULL, null=True,
                                 blank=True, db_constraint=False, db_index=False)
    strong_until = models.DateTimeField("会员码核验有效至")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "会员码核验标识"
        verbose_name_plural = "会员码核验标识"
        constraints = [models.UniqueConstraint(fields=["merchant", "ref"], name="strong_ref_unique_per_merchant")]

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


def issued_code(code: str) -> MemberCode | None:
    """The stored row of a code just issued (the mini-program shows its id and later its "used
    at" status), or None."""
    if not CODE_RE.match(code or ""):
        return None
    return MemberCode.objects.filter(digest=_code_digest(code)).first()


def redeem_member_code(*, code: str, merchant, now: datetime | None = None):
    """Use a code once: the member, or MEMBER_CODE_EXPIRED for an unknown, expired or used code.
    A code of a member who is no longer active (frozen or closed after it was issued) is refused
    ``MEMBER_NOT_FOUND`` and left unused."""
    now = now or timezone.now()
    if not CODE_RE.match(code):
        raise MemberCodeExpired()
    row = (MemberCode.objects.filter(digest=_code_digest(code), used_at__isnull=True, expires_at__gt=now)
           .select_related("member__tier").first())
    if row is None:
        raise MemberCodeExpired()
    if row.member.status != row.member.Status.ACTIVE:
        raise MemberNotFound()
    if not MemberCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now, used_by=merchant):
        raise MemberCodeExpired()
    return row.member


def member_of_code(code: str):
    """The member a code was issued to, whatever its state (used, expired), or None: for
    recognising a retried request, never for naming a member anew."""
    if not CODE_RE.match(code):
        return None
    row = MemberCode.objects.filter(digest=_code_digest(code)).select_related("member__tier").first()
    return row.member if row is not None else None


def _new_ref() -> str:
    return "M" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(11))


def ref_for(*, member, merchant) -> str:
    """The member's stable opaque id at this merchant (created on first use); weak."""
    return _stable_ref(member, merchant).ref


def _stable_ref(member, merchant) -> MemberRef:
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
    return ref


def issue_strong_ref(*, member, merchant, terminal, now: datetime | None = None) -> str:
    """A fresh strong ref for a member who just showed a dynamic code at ``terminal``."""
    now = now or timezone.now()
    stable = _stable_ref(member, merchant)
    for _ in range(5):
        token = _new_ref()
        if MemberRef.objects.filter(merchant=merchant, ref=token).exists():
            continue  # never shadow another member's stable ref
        try:
            with transaction.atomic():
                StrongRef.objects.create(member_ref=stable, merchant=merchant, ref=token, terminal=terminal,
                                         strong_until=now + STRONG_WINDOW)
            return token
        except IntegrityError:
            continue
    raise ParamError("会员标识生成失败，请重试")
