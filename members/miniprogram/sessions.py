"""Sign-in, phone binding and the hub's own session tokens for the mini-program.

A token is ``lbq_`` + 43 url-safe characters (256 random bits from ``secrets``), shown once in
the login answer and stored only as a keyed digest (HMAC-SHA256, key derived from
``SECRET_KEY``): a copy of the database lets nobody sign in. Sessions expire after
``MINIPROGRAM_SESSION_IDLE_DAYS`` (30) days without use; each use slides the expiry (written at
most every ``TOUCH_EVERY``, so browsing does not write on every call). Logout revokes the session,
logout-all every session of the member; a revoked or unknown token is ``NO_AUTH`` (401), an
expired one ``TOKEN_EXPIRED`` (401). Members are not Django users: a session names an identity,
and the identity its member once the phone is bound.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.errors import (
    ConsentRequired,
    DomainError,
    MemberNotBound,
    PhoneBoundOther,
    PhoneNotMember,
    TokenExpired,
)
from members.miniprogram import clients
from members.miniprogram.models import MpIdentity, MpSession
from members.models import Member
from members.selectors import find_member

logger = logging.getLogger("members.miniprogram")

TOKEN_PREFIX = "lbq_"
TOUCH_EVERY = timedelta(minutes=5)
# What the page shows a phone that is not a postal member (PHONE_NOT_MEMBER).
JOIN_TEXT = ("该手机号尚未注册邮政会员。请携带本人身份证到任一邮政网点，或在“中国邮政”App / 邮储银行 App "
             "中开通邮政会员，开通后使用同一手机号重新绑定即可。")


class Unauthenticated(DomainError):
    """A missing, forged or revoked token: ``NO_AUTH`` answered 401 (the contract), not 403."""

    code = "NO_AUTH"
    http_status = 401

    def __init__(self, message: str = "请先登录"):
        super().__init__(message)


def idle_lifetime() -> timedelta:
    return timedelta(days=int(getattr(settings, "MINIPROGRAM_SESSION_IDLE_DAYS", 30)))


def consent_version() -> str:
    return settings.MINIPROGRAM_CONSENT_VERSION


def _key(purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()


def token_digest(token: str) -> str:
    return hmac.new(_key("mp-session-token"), token.encode(), hashlib.sha256).hexdigest()


def subject_digest(channel: str, app_id: str, subject: str) -> str:
    return hmac.new(_key("mp-identity-subject"), f"{channel}\n{app_id}\n{subject}".encode(),
                    hashlib.sha256).hexdigest()


@dataclass
class Auth:
    """The caller of an authenticated request."""

    session: MpSession
    identity: MpIdentity

    @property
    def member(self) -> Member | None:
        member = self.identity.member
        return member if member is not None and member.status == Member.Status.ACTIVE else None

    def require_member(self) -> Member:
        member = self.member
        if member is None:
            raise MemberNotBound()
        return member


def _new_session(identity: MpIdentity, now: datetime) -> tuple[str, MpSession]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = MpSession.objects.create(identity=identity, digest=token_digest(token), created_at=now,
                                       last_used_at=now, expires_at=now + idle_lifetime())
    return token, session


@transaction.atomic
def login(*, js_code: str, channel: str = "wechat", now: datetime | None = None) -> tuple[str, MpSession]:
    """Exchange a mini-program login code for a hub session: (token, session)."""
    now = now or timezone.now()
    client = clients.client(channel)
    who = client.code2session(js_code)
    digest = subject_digest(client.channel, client.app_id, who.subject)
    identity = MpIdentity.objects.filter(channel=client.channel, app_id=client.app_id, subject_digest=digest).first()
    if identity is None:
        try:
            with transaction.atomic():
                identity = MpIdentity.objects.create(channel=client.channel, app_id=client.app_id,
                                                     subject_digest=digest, has_unionid=bool(who.unionid))
        except IntegrityError:  # the same user's first two logins raced
            identity = MpIdentity.objects.get(channel=client.channel, app_id=client.app_id, subject_digest=digest)
    token, session = _new_session(identity, now)
    logger.info("mp login: identity=%s session=%s", identity.pk, session.pk)
    return token, session


def authenticate(header: str | None, *, now: datetime | None = None) -> Auth:
    """The session of ``Authorization: Bearer <token>``, its expiry slid forward."""
    now = now or timezone.now()
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise Unauthenticated()
    session = (MpSession.objects.select_related("identity__member__tier")
               .filter(digest=token_digest(token)).first())
    if session is None or session.revoked_at is not None:
        raise Unauthenticated("登录已失效，请重新登录")
    if session.expires_at <= now:
        raise TokenExpired()
    if now - session.last_used_at >= TOUCH_EVERY:
        MpSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
            last_used_at=now, expires_at=now + idle_lifetime())
        session.last_used_at, session.expires_at = now, now + idle_lifetime()
    return Auth(session, session.identity)


def revoke(*, session: MpSession, reason: str = "logout", now: datetime | None = None) -> None:
    MpSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now(), revoked_reason=reason)


def revoke_all(*, identity: MpIdentity, reason: str = "logout_all", now: datetime | None = None) -> int:
    """Every live session of the member (all its identities), or of the identity when unbound."""
    now = now or timezone.now()
    if identity.member_id is not None:
        sessions = MpSession.objects.filter(identity__member_id=identity.member_id)
    else:
        sessions = MpSession.objects.filter(identity=identity)
    return sessions.filter(revoked_at__isnull=True).update(revoked_at=now, revoked_reason=reason)


@transaction.atomic
def bind_phone(*, auth: Auth, phone_code: str, version: str, now: datetime | None = None) -> Member:
    """Bind the signed-in identity to the postal member with the mobile WeChat vouches for."""
    now = now or timezone.now()
    if not isinstance(version, str) or version != consent_version():
        raise ConsentRequired(detail={"consent_version": consent_version()})
    client = clients.client(auth.identity.channel)
    country, mobile = client.phone_number(phone_code)
    if country not in ("86", "+86") or len(mobile) != 11 or not mobile.isdigit():
        raise PhoneNotMember("暂只支持中国大陆手机号绑定邮政会员", detail={"join_text": JOIN_TEXT})
    member = find_member(mobile=mobile)
    if member is None or member.status != Member.Status.ACTIVE:
        raise PhoneNotMember(detail={"join_text": JOIN_TEXT})
    identity = MpIdentity.objects.select_for_update().get(pk=auth.identity.pk)
    if identity.member_id is not None and identity.member_id != member.pk:
        raise PhoneBoundOther("该微信账号已绑定其他会员，请先注销后再绑定")
    other = (MpIdentity.objects.filter(channel=identity.channel, app_id=identity.app_id, member=member)
             .exclude(pk=identity.pk).exists())
    if other:
        raise PhoneBoundOther()
    identity.member, identity.consent_version = member, version
    identity.bound_at = identity.bound_at or now
    try:
        with transaction.atomic():
            identity.save(update_fields=["member", "consent_version", "bound_at"])
    except IntegrityError:  # another identity bound the same member at the same moment
        raise PhoneBoundOther() from None
    auth.identity = identity
    logger.info("mp phone bound: identity=%s member=%s", identity.pk, member.pk)
    return member
